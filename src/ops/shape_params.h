// shape_params.h — parameter resolution shared by the shape/indexing op inference (src/ops/shape.cc,
// src/ops/indexing.cc) and their CPU kernels, so both compute exactly the same output geometry.
//
// Every function takes plain values (dims, attribute/input integer lists) and returns Expected<...> with a
// message that does not name the node (callers add it with ctx.error(status.message())).
//
//   FERRY_ASSIGN_OR_RETURN(auto axes, resolve_slice(dims, starts, ends, axes, steps));
//   for (auto& a : axes) out.push_back(a.len);
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "ferry/status.h"
#include "ferry/tensor.h"
#include "ir/graph.h"

namespace ferry {

// One axis of a Slice: output element o reads input index start + o * step. len < 0: unknown (dim unknown).
struct SliceAxis {
  int64_t start = 0;
  int64_t step = 1;
  int64_t len = -1;
};

// dims: input dims (-1 = unknown). starts/ends (same length), optional axes and steps (empty = defaults).
// Returns one SliceAxis per input dim (untouched axes: start 0, step 1, len = dim).
Expected<std::vector<SliceAxis>> resolve_slice(const std::vector<int64_t>& dims, const std::vector<int64_t>& starts,
                                               const std::vector<int64_t>& ends, const std::vector<int64_t>& axes,
                                               const std::vector<int64_t>& steps);

// Pads of length 2*len(axes) (begins then ends) for the given axes (empty axes = all `rank` axes), resolved to
// 2*rank values [b0..b(r-1), e0..e(r-1)].
Expected<std::vector<int64_t>> resolve_pads(int rank, const std::vector<int64_t>& pads,
                                            const std::vector<int64_t>& axes);

// Sizes of the Split outputs along an axis of size `dim`. `split`: explicit sizes (nullopt if absent);
// num_outputs_attr: the opset-18 attribute (0 if absent); num_outputs: node outputs.
Expected<std::vector<int64_t>> resolve_split(int64_t dim, int num_outputs, const std::optional<std::vector<int64_t>>& split,
                                             int64_t num_outputs_attr);

// Normalizes a list of axes against rank, rejecting out-of-range and duplicate axes.
Expected<std::vector<int>> normalize_axes(const std::vector<int64_t>& axes, int rank);

// Number of elements of Range(start, limit, delta): all three scalars of one numeric dtype.
Expected<int64_t> range_count(const Tensor& start, const Tensor& limit, const Tensor& delta);

// Output dims of Reshape for input dims `in` (-1 unknown) and a target shape; unknown dims stay -1.
Expected<std::vector<int64_t>> resolve_reshape(const std::vector<int64_t>& in, const std::vector<int64_t>& target,
                                               bool allowzero);

}  // namespace ferry
