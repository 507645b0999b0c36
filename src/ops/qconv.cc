// qconv.cc — ferry.QConv, the integer convolution the kAll pass fuse_qdq_conv.cc makes from a QDQ pattern:
//
//   DequantizeLinear(X) ─┐
//   DequantizeLinear(W) ─┴─ Conv(+B) [+ Add(Z)] [+ Relu | Clip] [-> QuantizeLinear(y_scale, y_zp)]
//
//   ferry.QConv(X, x_scale, x_zp?, W, w_scale, B?, y_scale?, y_zp?, Z?) -> Y
//     X: int8/uint8 activations, x_scale/x_zp scalars (per tensor).  W: int8 constant [M, C/group, kH, kW],
//     w_scale: scalar or [M] (per output channel; weight zero points are 0).  B: float [M].
//     y_scale + y_zp present: Y is quantized (y_zp's type) = saturate(round_half_even(v / y_scale) + y_zp);
//     else Y is float32 = v, where v = act(Conv(dequant(X), dequant(W)) + B + Z) exactly as the QDQ graph computes.
//     Z: float residual with Y's shape (in Y's layout), added before the activation and the requantization.
//   Attributes: every Conv attribute (2-D only) plus
//     activation: "none" | "relu" | "clip";  activation_params: clip: [min, max]
//     channels_last: 0 (X, Z, Y are NCHW) or 1 (X, Z, Y are NHWC; W stays OIHW). fuse_qdq_layout.cc moves
//       chains of QConvs to 1 so int8 activations flow between them without reorders.
//     x_nchw: 0, or 1 with channels_last 1: X alone is NCHW (a QConv region's entry; the kernel reorders it
//       itself, in place of a separate Transpose node).
//   Never present in exported files; its CPU kernel is oneDNN's u8/s8 x s8 convolution (kernels/qconv.cc).
#include "ops/conv_geometry.h"
#include "ops/op_registry.h"

namespace ferry {

namespace {

bool is_8bit(DType t) { return t == DType::kInt8 || t == DType::kUInt8; }

Status check_qconv_inputs(InferContext& c) {
  if (!is_8bit(c.input_dtype(0)) && c.input_dtype(0) != DType::kUndefined)
    return c.error(std::string("X must be int8 or uint8, got ") + dtype_name(c.input_dtype(0)));
  if (c.input_dtype(3) != DType::kInt8 && c.input_dtype(3) != DType::kUndefined)
    return c.error(std::string("W must be int8, got ") + dtype_name(c.input_dtype(3)));
  if (c.has_input(6) != c.has_input(7)) return c.error("y_scale and y_zero_point go together");
  if (c.has_input(7) && !is_8bit(c.input_dtype(7)) && c.input_dtype(7) != DType::kUndefined)
    return c.error("y_zero_point must be int8 or uint8");
  const std::string act = c.node().attr_string("activation", "none");
  const size_t params = c.node().attr_floats("activation_params").size();
  if (!((act == "none" && params == 0) || (act == "relu" && params == 0) || (act == "clip" && params == 2)))
    return c.error("bad activation '" + act + "' or activation_params");
  const int64_t cl = c.node().attr_int("channels_last", 0);
  if (cl != 0 && cl != 1) return c.error("channels_last must be 0 or 1");
  const int64_t xn = c.node().attr_int("x_nchw", 0);
  if ((xn != 0 && xn != 1) || (xn == 1 && cl != 1)) return c.error("x_nchw must be 0, or 1 with channels_last 1");
  return Status::ok();
}

Status infer_qconv(InferContext& c) {
  FERRY_RETURN_IF_ERROR(check_qconv_inputs(c));
  const Node& n = c.node();
  const bool cl = n.attr_int("channels_last", 0) == 1;
  const bool xcl = cl && n.attr_int("x_nchw", 0) == 0;  // X's own layout
  const DType out = c.has_input(7) ? c.input_dtype(7) : DType::kFloat;
  const SymShape& x = c.input_shape(0);
  const SymShape& w = c.input_shape(3);
  if (!w.rank_known || w.rank() != 4 || !w.is_concrete()) return c.error("W must be a static 4-D tensor");
  const int64_t group = n.attr_int("group", 1);
  const int64_t m = w.dims[0].value;
  if (group <= 0 || m % group != 0) return c.error("bad group");
  if (!x.rank_known) {
    c.set_output(0, out, SymShape::unknown());
    return Status::ok();
  }
  if (x.rank() != 4) return c.error("X must be 4-D, got " + x.to_string());
  const Dim& ch = x.dims[xcl ? 3 : 1];
  if (ch.known() && ch.value != w.dims[1].value * group)
    return c.error("X has " + std::to_string(ch.value) + " channels, W expects " +
                   std::to_string(w.dims[1].value * group));
  auto wa = WindowAttrs::parse(n, 2, {w.dims[2].value, w.dims[3].value});
  if (!wa) return c.error(wa.status().message());
  std::vector<Dim> in_sp = xcl ? std::vector<Dim>{x.dims[1], x.dims[2]} : std::vector<Dim>{x.dims[2], x.dims[3]};
  auto sp = window_output_dims(*wa, in_sp);
  if (!sp) return c.error(sp.status().message());
  std::vector<Dim> d = cl ? std::vector<Dim>{x.dims[0], (*sp)[0], (*sp)[1], Dim(m)}
                          : std::vector<Dim>{x.dims[0], Dim(m), (*sp)[0], (*sp)[1]};
  c.set_output(0, out, SymShape::from_dims(d));
  return Status::ok();
}

}  // namespace

void register_qconv(OpRegistry& r) { r.add({"ferry", "QConv", 5, 9, 1, 1, infer_qconv}); }

}  // namespace ferry
