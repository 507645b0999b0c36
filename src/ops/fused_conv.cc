// fused_conv.cc — the ferry-domain fused convolution that the kAll passes create for CNNs.
//
//   ferry.FusedConv(X, W, B?, Z?) -> Y
//       Y = act(Conv(X, W) + B + Z), float32, 2-D or 1-D/3-D (channels_last: 2-D only).
//   Attributes: every Conv attribute (kernel_shape, strides, pads, dilations, group, auto_pad) plus
//     activation: "none" | "relu" | "leaky_relu" | "clip" | "sigmoid" | "silu" | "hardswish" | "tanh"
//     activation_params: floats — leaky_relu: [alpha]; clip: [min, max]; others: none
//     channels_last: 0 (default, X/Z/Y are NCHW) or 1 (X is [N, H, W, C], Z/Y are [N, OH, OW, M]; W stays
//       [M, C/group, kH, kW] as in ONNX) or 2 (X is NCHW, Z/Y are NHWC: a region's first conv reads the image)
//       or 3 (X is NHWC, Z/Y are NCHW: a region's last conv, e.g. a detection head before its Reshape).
//       Passes keep whole conv chains channels-last (the layout oneDNN's fast kernels use natively), so only
//       region borders change layout, and there the conv itself does it (modes 2 and 3) where it can.
//     z_after_activation: 0 (default, Y = act(conv + B + Z)) or 1 (Y = act(conv + B) + Z: the residual Add after
//       an activated conv, as in YOLO's SiLU bottlenecks; fuse_conv_act_add.cc).
//   Z (the residual of an Add) must have Y's exact shape. Produced by fuse_conv_add.cc, fuse_conv_activation.cc
//   and conv_channels_last.cc; never present in exported files.
#include "ops/conv_geometry.h"
#include "ops/op_registry.h"

namespace ferry {

namespace {

bool known_activation(const std::string& a) {
  return a == "none" || a == "relu" || a == "leaky_relu" || a == "clip" || a == "sigmoid" || a == "silu" ||
         a == "hardswish" || a == "tanh";
}

Status infer_fused_conv(InferContext& c) {
  const Node& n = c.node();
  for (int i = 0; i < c.num_inputs(); ++i)
    if (c.has_input(i) && c.input_dtype(i) != DType::kFloat && c.input_dtype(i) != DType::kUndefined)
      return c.error(std::string("inputs must be float32, got ") + dtype_name(c.input_dtype(i)));
  const std::string act = n.attr_string("activation", "none");
  if (!known_activation(act)) return c.error("unknown activation '" + act + "'");
  const size_t want_params = act == "leaky_relu" ? 1 : act == "clip" ? 2 : 0;
  if (n.attr_floats("activation_params").size() != want_params)
    return c.error("activation '" + act + "' takes " + std::to_string(want_params) + " activation_params");
  const int64_t mode = n.attr_int("channels_last", 0);
  if (mode < 0 || mode > 3) return c.error("channels_last must be 0, 1, 2 or 3");
  const int64_t z_after = n.attr_int("z_after_activation", 0);
  if (z_after != 0 && z_after != 1) return c.error("z_after_activation must be 0 or 1");
  const bool cl = mode != 0;
  const int64_t group = n.attr_int("group", 1);
  if (group <= 0) return c.error("group must be positive");
  const SymShape& x = c.input_shape(0);
  const SymShape& w = c.input_shape(1);
  if (!w.rank_known || w.rank() < 3) return c.error("W must have a known rank >= 3");
  for (const Dim& d : w.dims)
    if (!d.known()) return c.error("W must have a static shape");
  const int nsp = w.rank() - 2;
  if (cl && nsp != 2) return c.error("channels_last needs a 2-D convolution");
  if (x.rank_known && x.rank() != w.rank()) return c.error("X rank differs from W rank");
  const int64_t m = w.dims[0].value;
  if (m % group != 0) return c.error("W output channels not divisible by group");
  if (c.has_input(2)) {
    const SymShape& b = c.input_shape(2);
    if (b.rank_known && (b.rank() != 1 || (b.dims[0].known() && b.dims[0].value != m)))
      return c.error("bias shape " + b.to_string() + " must be [M]");
  }
  if (!x.rank_known) {
    c.set_output(0, DType::kFloat, SymShape::unknown());
    return Status::ok();
  }
  const bool x_cl = mode == 1 || mode == 3, y_cl = mode == 1 || mode == 2;
  const size_t cax = x_cl ? 3 : 1;
  if (x.dims[cax].known() && x.dims[cax].value != w.dims[1].value * group)
    return c.error("X has " + std::to_string(x.dims[cax].value) + " channels, W expects " +
                   std::to_string(w.dims[1].value) + " x group " + std::to_string(group));
  std::vector<int64_t> k;
  for (int i = 0; i < nsp; ++i) k.push_back(w.dims[static_cast<size_t>(i + 2)].value);
  auto wa = WindowAttrs::parse(n, nsp, k);
  if (!wa) return c.error(wa.status().message());
  std::vector<Dim> in_sp = x_cl ? std::vector<Dim>{x.dims[1], x.dims[2]}
                              : std::vector<Dim>(x.dims.begin() + 2, x.dims.end());
  auto sp = window_output_dims(*wa, in_sp);
  if (!sp) return c.error(sp.status().message());
  std::vector<Dim> d{x.dims[0]};
  if (!y_cl) d.push_back(Dim(m));
  d.insert(d.end(), sp->begin(), sp->end());
  if (y_cl) d.push_back(Dim(m));
  SymShape y = SymShape::from_dims(d);
  if (c.has_input(3)) {
    const SymShape& z = c.input_shape(3);
    if (z.rank_known && z.rank() != y.rank()) return c.error("Z shape " + z.to_string() + " must equal Y's");
    for (int i = 0; z.rank_known && i < y.rank(); ++i) {
      const Dim& a = z.dims[static_cast<size_t>(i)];
      const Dim& b = y.dims[static_cast<size_t>(i)];
      if (a.known() && b.known() && a.value != b.value)
        return c.error("Z shape " + z.to_string() + " must equal Y shape " + y.to_string());
    }
  }
  c.set_output(0, DType::kFloat, y);
  return Status::ok();
}

}  // namespace

void register_fused_conv(OpRegistry& r) { r.add({"ferry", "FusedConv", 2, 4, 1, 1, infer_fused_conv}); }

}  // namespace ferry
