// shape_util.h — helpers shared by the data-movement kernels of the shape and indexing families.
//
// Data movement does not care what an element means, only how it is stored, so most kernels dispatch with
// visit_storage(): one instantiation per element size (1/2/4/8/16 bytes) plus std::string. That covers every
// ONNX type (float8, int4, complex...) with five copies of each loop.
//
//   FERRY_RETURN_IF_ERROR(visit_storage(x.dtype(), [&](auto tag) {
//     using T = typename decltype(tag)::type;
//     ...
//   }));
//
// copy_by_axis_maps() is the one strided gather behind Transpose, Slice, Pad, Tile, Expand, CenterCropPad
// and DepthToSpace: each output axis d has a table maps[d][o] giving the input element offset contributed by
// output index o on that axis (already multiplied by the input stride), or -1 meaning "use the fill value".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "backends/cpu/kernel.h"
#include "core/dtype_dispatch.h"
#include "ops/op_registry.h"

namespace ferry {

struct Bytes16 {
  uint64_t lo = 0, hi = 0;
};

template <typename F>
Status visit_storage(DType t, F&& f) {
  if (t == DType::kString) {
    f(TypeTag<std::string>{});
    return Status::ok();
  }
  switch (dtype_size(t)) {
    case 1: f(TypeTag<uint8_t>{}); return Status::ok();
    case 2: f(TypeTag<uint16_t>{}); return Status::ok();
    case 4: f(TypeTag<uint32_t>{}); return Status::ok();
    case 8: f(TypeTag<uint64_t>{}); return Status::ok();
    case 16: f(TypeTag<Bytes16>{}); return Status::ok();
    default: return unsupported(std::string("element type ") + dtype_name(t) + " not supported here");
  }
}

// Row-major strides (in elements) of a shape.
Shape contiguous_strides(const Shape& s);

// An int list from input `idx` when the node has it, else attribute `attr` (nullptr: input only).
std::optional<std::vector<int64_t>> input_or_attr_ints(const KernelContext& ctx, int idx, const char* attr);

// The output shape inference computed for output i of this run (error if not concrete).
Expected<Shape> inferred_shape(const KernelContext& ctx, int i);

// out[o] = in[sum_d maps[d][o_d]], or *fill (a one-element tensor of out's dtype; nullptr = zero/empty) when
// any maps[d][o_d] < 0. in and out have the same dtype; maps[d].size() == out.dim(d). Offsets are trusted.
Status copy_by_axis_maps(KernelContext& ctx, const Tensor& in, Tensor& out,
                         const std::vector<std::vector<int64_t>>& maps, const Tensor* fill);

// Copies `in` into `out` through a permutation (out dim d = in dim perm[d]).
Status transpose_into(KernelContext& ctx, const Tensor& in, Tensor& out, const std::vector<int64_t>& perm);

// normalize_axis with an error that names the node.
inline Expected<int> node_axis(const KernelContext& ctx, int64_t axis, int rank) {
  auto r = normalize_axis(axis, rank);
  if (!r) return ctx.error(r.status().message());
  return r;
}

// Normalized index: idx in [-dim, dim) -> [0, dim); -1 when out of range.
inline int64_t wrap_index(int64_t idx, int64_t dim) {
  if (idx < -dim || idx >= dim) return -1;
  return idx < 0 ? idx + dim : idx;
}

}  // namespace ferry
