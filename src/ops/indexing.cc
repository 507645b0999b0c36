// indexing.cc — op semantics (schemas + shape/dtype inference) of the indexing family: Gather, GatherElements,
// GatherND, Scatter, ScatterElements, ScatterND, TensorScatter, OneHot, NonZero, Compress, Unique, TopK.
// NonZero, Compress and Unique have data-dependent output shapes (left unknown; the kernels set them).
#include <algorithm>
#include <string>

#include "core/dtype_dispatch.h"
#include "ops/op_registry.h"
#include "ops/shape_params.h"

namespace ferry {
namespace {

using Dims = std::vector<Dim>;

SymShape unknown_of_rank(int64_t rank) {
  return rank >= 0 ? SymShape::from_dims(Dims(static_cast<size_t>(rank))) : SymShape::unknown();
}

Status check_index_type(InferContext& c, int i) {
  DType t = c.input_dtype(i);
  if (t != DType::kUndefined && t != DType::kInt32 && t != DType::kInt64)
    return c.error(std::string("indices must be int32 or int64, got ") + dtype_name(t));
  return Status::ok();
}

Status infer_gather(InferContext& c) {
  FERRY_RETURN_IF_ERROR(check_index_type(c, 1));
  const SymShape &data = c.input_shape(0), &idx = c.input_shape(1);
  DType dt = c.input_dtype(0);
  if (!data.rank_known || !idx.rank_known) {
    c.set_output(0, dt, SymShape::unknown());
    return Status::ok();
  }
  if (data.rank() < 1) return c.error("data must have rank >= 1");
  auto ax = normalize_axis(c.node().attr_int("axis", 0), data.rank());
  if (!ax) return c.error(ax.status().message());
  Dims out(data.dims.begin(), data.dims.begin() + *ax);
  out.insert(out.end(), idx.dims.begin(), idx.dims.end());
  out.insert(out.end(), data.dims.begin() + *ax + 1, data.dims.end());
  c.set_output(0, dt, SymShape::from_dims(out));
  return Status::ok();
}

Status infer_gather_elements(InferContext& c) {
  FERRY_RETURN_IF_ERROR(check_index_type(c, 1));
  const SymShape &data = c.input_shape(0), &idx = c.input_shape(1);
  if (data.rank_known && idx.rank_known) {
    if (data.rank() != idx.rank()) return c.error("data and indices must have the same rank");
    if (data.rank() < 1) return c.error("data must have rank >= 1");
    auto ax = normalize_axis(c.node().attr_int("axis", 0), data.rank());
    if (!ax) return c.error(ax.status().message());
  }
  c.set_output(0, c.input_dtype(0), idx);
  return Status::ok();
}

Status infer_gather_nd(InferContext& c) {
  if (c.input_dtype(1) != DType::kUndefined && c.input_dtype(1) != DType::kInt64)
    return c.error("indices must be int64");
  const SymShape &data = c.input_shape(0), &idx = c.input_shape(1);
  DType dt = c.input_dtype(0);
  int64_t b = c.node().attr_int("batch_dims", 0);
  if (!data.rank_known || !idx.rank_known || idx.rank() < 1 || !idx.dims.back().known()) {
    c.set_output(0, dt, SymShape::unknown());
    return Status::ok();
  }
  int64_t k = idx.dims.back().value;
  if (b < 0 || b >= std::min(data.rank(), idx.rank())) return c.error("batch_dims out of range");
  if (k < 1 || b + k > data.rank()) return c.error("indices last dim " + std::to_string(k) + " too large for data rank");
  Dims out(idx.dims.begin(), idx.dims.end() - 1);
  out.insert(out.end(), data.dims.begin() + b + k, data.dims.end());
  c.set_output(0, dt, SymShape::from_dims(out));
  return Status::ok();
}

Status infer_scatter(InferContext& c) {
  std::string red = c.node().attr_string("reduction", "none");
  if (red != "none" && red != "add" && red != "mul" && red != "max" && red != "min")
    return c.error("unknown reduction '" + red + "'");
  if (c.node().op_type != "ScatterND") FERRY_RETURN_IF_ERROR(check_index_type(c, 1));
  if (c.input_dtype(2) != DType::kUndefined && c.input_dtype(0) != DType::kUndefined &&
      c.input_dtype(2) != c.input_dtype(0))
    return c.error("updates and data have different element types");
  c.set_output(0, c.input_dtype(0), c.input_shape(0));
  return Status::ok();
}

Status infer_tensor_scatter(InferContext& c) {
  std::string mode = c.node().attr_string("mode", "linear");
  if (mode != "linear" && mode != "circular") return c.error("unknown mode '" + mode + "'");
  c.set_output(0, c.input_dtype(0), c.input_shape(0));
  return Status::ok();
}

Status infer_one_hot(InferContext& c) {
  const SymShape& idx = c.input_shape(0);
  DType dt = c.input_dtype(2);
  if (!idx.rank_known) {
    c.set_output(0, dt, SymShape::unknown());
    return Status::ok();
  }
  int out_rank = idx.rank() + 1;
  int64_t axis = c.node().attr_int("axis", -1);
  if (axis < -out_rank || axis >= out_rank) return c.error("axis " + std::to_string(axis) + " out of range");
  if (axis < 0) axis += out_rank;
  Dim depth;
  if (const Tensor* d = c.input_value(1)) {
    if (d->numel() != 1) return c.error("depth must have one element");
    if (d->dtype() == DType::kString) return c.error("depth must be numeric");
    double v = load_double(*d, 0);
    if (!(v >= 1)) return c.error("depth must be positive");
    depth = Dim(static_cast<int64_t>(v));
  }
  Dims out = idx.dims;
  out.insert(out.begin() + axis, depth);
  c.set_output(0, dt, SymShape::from_dims(out));
  return Status::ok();
}

Status infer_compress(InferContext& c) {
  const SymShape& in = c.input_shape(0);
  DType dt = c.input_dtype(0);
  if (c.input_dtype(1) != DType::kUndefined && c.input_dtype(1) != DType::kBool) return c.error("condition must be bool");
  const Attr* a = c.node().attr("axis");
  if (a == nullptr || !in.rank_known) {
    c.set_output(0, dt, unknown_of_rank(a == nullptr ? 1 : -1));
    return Status::ok();
  }
  auto ax = normalize_axis(a->i, in.rank());
  if (!ax) return c.error(ax.status().message());
  Dims out = in.dims;
  out[static_cast<size_t>(*ax)] = Dim();
  c.set_output(0, dt, SymShape::from_dims(out));
  return Status::ok();
}

Status infer_unique(InferContext& c) {
  const SymShape& in = c.input_shape(0);
  const Attr* a = c.node().attr("axis");
  SymShape y = unknown_of_rank(1);
  if (a != nullptr && in.rank_known) {
    auto ax = normalize_axis(a->i, in.rank());
    if (!ax) return c.error(ax.status().message());
    y = in;
    y.dims[static_cast<size_t>(*ax)] = Dim();
  } else if (a != nullptr) {
    y = SymShape::unknown();
  }
  c.set_output(0, c.input_dtype(0), y);
  for (int i = 1; i < c.num_outputs(); ++i) c.set_output(i, DType::kInt64, unknown_of_rank(1));
  return Status::ok();
}

Status infer_topk(InferContext& c) {
  const SymShape& in = c.input_shape(0);
  DType dt = c.input_dtype(0);
  Dim k;
  if (c.opset() < 10) {
    int64_t kv = c.node().attr_int("k", -1);
    if (kv < 0) return c.error("missing or negative attribute k");
    k = Dim(kv);
  } else if (const Tensor* kt = c.input_value(1)) {
    if (kt->numel() != 1) return c.error("K must have one element");
    int64_t kv = tensor_to_int64s(*kt)[0];
    if (kv < 0) return c.error("K is negative");
    k = Dim(kv);
  } else if (!c.has_input(1)) {
    return c.error("missing input K");
  }
  if (!in.rank_known) {
    c.set_output(0, dt, SymShape::unknown());
    c.set_output(1, DType::kInt64, SymShape::unknown());
    return Status::ok();
  }
  if (in.rank() < 1) return c.error("input must have rank >= 1");
  auto ax = normalize_axis(c.node().attr_int("axis", -1), in.rank());
  if (!ax) return c.error(ax.status().message());
  const Dim& d = in.dims[static_cast<size_t>(*ax)];
  if (k.known() && d.known() && k.value > d.value)
    return c.error("K=" + std::to_string(k.value) + " exceeds axis size " + std::to_string(d.value));
  Dims out = in.dims;
  out[static_cast<size_t>(*ax)] = k;
  c.set_output(0, dt, SymShape::from_dims(out));
  c.set_output(1, DType::kInt64, SymShape::from_dims(out));
  return Status::ok();
}

}  // namespace

void register_indexing(OpRegistry& r) {
  r.add({"", "Gather", 2, 2, 1, 1, infer_gather});
  r.add({"", "GatherElements", 2, 2, 1, 1, infer_gather_elements});
  r.add({"", "GatherND", 2, 2, 1, 1, infer_gather_nd});
  r.add({"", "Scatter", 3, 3, 1, 1, infer_scatter});
  r.add({"", "ScatterElements", 3, 3, 1, 1, infer_scatter});
  r.add({"", "ScatterND", 3, 3, 1, 1, infer_scatter});
  r.add({"", "TensorScatter", 2, 3, 1, 1, infer_tensor_scatter});
  r.add({"", "OneHot", 3, 3, 1, 1, infer_one_hot});
  r.add({"", "NonZero", 1, 1, 1, 1, [](InferContext& c) {
           const SymShape& in = c.input_shape(0);
           c.set_output(0, DType::kInt64,
                        in.rank_known ? SymShape::from_dims({Dim(in.rank()), Dim()}) : unknown_of_rank(2));
           return Status::ok();
         }});
  r.add({"", "Compress", 2, 2, 1, 1, infer_compress});
  r.add({"", "Unique", 1, 1, 1, 4, infer_unique});
  r.add({"", "TopK", 1, 2, 2, 2, infer_topk});
}

}  // namespace ferry
