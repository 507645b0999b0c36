// reduce_util.h — helpers shared by the reduce family's inference (src/ops/reduce.cc) and its CPU kernels.
//
// The axes of ReduceX moved from an attribute to an optional second input (ReduceSum at opset 13, the others
// at 18). resolve_reduce_axes() accepts both forms: the input (when given) wins, else the `axes` attribute.
// An empty axes list reduces every axis, unless noop_with_empty_axes=1 (input form), which makes the op an
// identity.
#pragma once

#include <vector>

#include "ferry/status.h"
#include "ir/graph.h"

namespace ferry {

struct ReduceAxes {
  bool noop = false;          // output == input
  std::vector<bool> reduce;   // per input axis: reduced?
};

// `axes_input`: value of input 1 when present, nullptr to use the attribute. Errors: axis out of range or
// repeated (message without the node name; callers add it).
Expected<ReduceAxes> resolve_reduce_axes(const Node& node, const Tensor* axes_input, int rank);

// Output shape of a reduction over `axes` of `in` (keepdims: reduced dims become 1, else they are dropped).
Shape reduced_shape(const Shape& in, const ReduceAxes& axes, bool keepdims);

}  // namespace ferry
