// resize_util.h — the geometry of Resize/Upsample shared by shape inference (src/ops/resize.cc) and the CPU
// kernel (src/backends/cpu/kernels/resize.cc): output shape, the per-axis scale factors the coordinate
// transformation uses, and the per-axis roi, following the ONNX reference implementation:
//  - scales given:  out[d] = floor(in[d] * scale[d]);
//  - sizes given:   scale[d] = sizes[d] / in[d] (stretch), or one common scale min/max over `axes`
//                   (keep_aspect_ratio_policy not_larger / not_smaller) with out[d] = round_half_up(scale * in[d]).
// Empty `scales`/`sizes`/`roi` tensors count as absent. Opset 10 Resize and Upsample take scales as input 1
// (Upsample-7: the `scales` attribute).
#pragma once

#include <string>
#include <vector>

#include "ferry/status.h"
#include "ferry/tensor.h"
#include "ir/graph.h"

namespace ferry {

struct ResizeGeometry {
  Shape out;
  std::vector<double> scales;  // per dim of X
  std::vector<double> roi;     // 2 * rank: starts then ends (defaults 0 and 1)
};

// Input tensors are those of the node (nullptr when absent). Errors are plain messages (the caller names
// the node).
Expected<ResizeGeometry> resize_geometry(const Node& node, int opset, const Shape& in, const Tensor* roi,
                                         const Tensor* scales, const Tensor* sizes);

}  // namespace ferry
