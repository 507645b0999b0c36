// pool.cc — op semantics (schemas + shape/dtype inference) of the pool family:
// AveragePool, MaxPool, LpPool, GlobalAveragePool, GlobalMaxPool, GlobalLpPool, MaxUnpool, and ferry.MaxPoolNhwc.
#include "ops/conv_geometry.h"
#include "ops/op_registry.h"

namespace ferry {
namespace {

bool is_pool_float(DType t) {
  return t == DType::kFloat || t == DType::kDouble || t == DType::kFloat16 || t == DType::kBFloat16;
}

// Windowed pools: Y (and MaxPool's Indices) = [N, C, out...].
Status infer_window_pool(InferContext& c, bool allow_int8) {
  DType t = c.input_dtype(0);
  bool ok = is_pool_float(t) || (allow_int8 && (t == DType::kInt8 || t == DType::kUInt8));
  if (!ok) return c.error(std::string("unsupported element type ") + dtype_name(t));
  const SymShape& x = c.input_shape(0);
  if (!c.node().attr("kernel_shape")) return c.error("missing required attribute kernel_shape");
  int nsp = static_cast<int>(c.node().attr_ints("kernel_shape").size());
  if (x.rank_known && x.rank() != nsp + 2)
    return c.error("X rank " + std::to_string(x.rank()) + " does not match kernel_shape length " + std::to_string(nsp));
  auto wa = WindowAttrs::parse(c.node(), nsp, {});
  if (!wa) return c.error(wa.status().message());
  if (c.node().attr_int("storage_order", 0) != 0 && c.node().attr_int("storage_order", 0) != 1)
    return c.error("storage_order must be 0 or 1");
  SymShape out = SymShape::unknown();
  if (x.rank_known) {
    auto sp = window_output_dims(*wa, std::vector<Dim>(x.dims.begin() + 2, x.dims.end()));
    if (!sp) return c.error(sp.status().message());
    std::vector<Dim> d{x.dims[0], x.dims[1]};
    d.insert(d.end(), sp->begin(), sp->end());
    out = SymShape::from_dims(d);
  }
  c.set_output(0, t, out);
  if (c.num_outputs() > 1) c.set_output(1, DType::kInt64, out);
  return Status::ok();
}

Status infer_global_pool(InferContext& c, bool allow_int8) {
  DType t = c.input_dtype(0);
  bool ok = is_pool_float(t) || (allow_int8 && (t == DType::kInt8 || t == DType::kUInt8));
  if (!ok) return c.error(std::string("unsupported element type ") + dtype_name(t));
  const SymShape& x = c.input_shape(0);
  if (!x.rank_known) {
    c.set_output(0, t, SymShape::unknown());
    return Status::ok();
  }
  if (x.rank() < 3) return c.error("X must have rank >= 3, got " + x.to_string());
  std::vector<Dim> d{x.dims[0], x.dims[1]};
  d.resize(x.dims.size(), Dim(1));
  c.set_output(0, t, SymShape::from_dims(d));
  return Status::ok();
}

Status infer_max_unpool(InferContext& c) {
  DType t = c.input_dtype(0);
  if (!is_pool_float(t)) return c.error(std::string("unsupported element type ") + dtype_name(t));
  if (c.input_dtype(1) != DType::kInt64) return c.error("indices must be int64");
  const SymShape& x = c.input_shape(0);
  const SymShape& ind = c.input_shape(1);
  if (x.rank_known && ind.rank_known && x.rank() != ind.rank()) return c.error("X and I ranks differ");
  if (!c.node().attr("kernel_shape")) return c.error("missing required attribute kernel_shape");
  int nsp = static_cast<int>(c.node().attr_ints("kernel_shape").size());
  if (x.rank_known && x.rank() != nsp + 2) return c.error("X rank does not match kernel_shape length");
  auto wa = WindowAttrs::parse(c.node(), nsp, {});
  if (!wa) return c.error(wa.status().message());
  if (c.has_input(2)) {
    const Tensor* os = c.input_value(2);
    if (!os) {
      std::vector<Dim> d(static_cast<size_t>(nsp + 2));
      c.set_output(0, t, SymShape::from_dims(d));
      return Status::ok();
    }
    std::vector<int64_t> shape = tensor_to_int64s(*os);
    if (static_cast<int>(shape.size()) != nsp + 2) return c.error("output_shape must have rank(X) values");
    for (int64_t v : shape)
      if (v < 0) return c.error("output_shape values must be non-negative");
    c.set_output(0, t, shape);
    return Status::ok();
  }
  if (!x.rank_known) {
    c.set_output(0, t, SymShape::unknown());
    return Status::ok();
  }
  std::vector<Dim> d{x.dims[0], x.dims[1]};
  for (int i = 0; i < nsp; ++i) {
    const Dim& in = x.dims[static_cast<size_t>(i + 2)];
    const size_t u = static_cast<size_t>(i);
    if (!in.known()) {
      d.push_back(Dim());
      continue;
    }
    int64_t v = (in.value - 1) * wa->strides[u] + wa->kernel[u] - wa->pads[u] - wa->pads[u + static_cast<size_t>(nsp)];
    if (v <= 0) return c.error("MaxUnpool output size is not positive");
    d.push_back(Dim(v));
  }
  c.set_output(0, t, SymShape::from_dims(d));
  return Status::ok();
}

// ferry.MaxPoolNhwc(X) -> Y: ONNX MaxPool over 2-D windows of a channels-last tensor, X [N, H, W, C] float32 ->
// Y [N, OH, OW, C] (pool_channels_last.cc puts it inside NHWC conv regions; never in exported files). Attributes:
// those of MaxPool (kernel_shape, strides, pads, dilations, ceil_mode, auto_pad); no Indices, no storage_order.
Status infer_max_pool_nhwc(InferContext& c) {
  if (c.input_dtype(0) != DType::kFloat && c.input_dtype(0) != DType::kUndefined)
    return c.error(std::string("X must be float32, got ") + dtype_name(c.input_dtype(0)));
  if (c.node().attr_ints("kernel_shape").size() != 2) return c.error("kernel_shape must have 2 entries");
  if (c.node().attr("storage_order")) return c.error("storage_order is not an attribute of MaxPoolNhwc");
  auto wa = WindowAttrs::parse(c.node(), 2, {});
  if (!wa) return c.error(wa.status().message());
  const SymShape& x = c.input_shape(0);
  if (!x.rank_known) {
    c.set_output(0, DType::kFloat, SymShape::unknown());
    return Status::ok();
  }
  if (x.rank() != 4) return c.error("X must be [N, H, W, C], got " + x.to_string());
  auto sp = window_output_dims(*wa, {x.dims[1], x.dims[2]});
  if (!sp) return c.error(sp.status().message());
  c.set_output(0, DType::kFloat, SymShape::from_dims({x.dims[0], (*sp)[0], (*sp)[1], x.dims[3]}));
  return Status::ok();
}

}  // namespace

void register_pool(OpRegistry& r) {
  r.add({"", "AveragePool", 1, 1, 1, 1, [](InferContext& c) { return infer_window_pool(c, false); }});
  r.add({"", "MaxPool", 1, 1, 1, 2, [](InferContext& c) { return infer_window_pool(c, true); }});
  r.add({"", "LpPool", 1, 1, 1, 1, [](InferContext& c) { return infer_window_pool(c, false); }});
  r.add({"", "GlobalAveragePool", 1, 1, 1, 1, [](InferContext& c) { return infer_global_pool(c, false); }});
  r.add({"", "GlobalMaxPool", 1, 1, 1, 1, [](InferContext& c) { return infer_global_pool(c, false); }});
  r.add({"", "GlobalLpPool", 1, 1, 1, 1, [](InferContext& c) { return infer_global_pool(c, false); }});
  r.add({"", "MaxUnpool", 2, 3, 1, 1, infer_max_unpool});
  r.add({"ferry", "MaxPoolNhwc", 1, 1, 1, 1, infer_max_pool_nhwc});
}

}  // namespace ferry
