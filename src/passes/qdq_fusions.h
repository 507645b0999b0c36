// qdq_fusions.h — the kAll passes that run QDQ (quantized) models on integer kernels.
//
// fuse_qdq_conv (fuse_qdq_conv.cc) folds DequantizeLinear -> Conv (+Add, +Relu/Clip) -> QuantizeLinear into a
// ferry.QConv; it must run before fold_constants, which would otherwise fold the weights' DequantizeLinear into
// float weights. fuse_qdq_layout (fuse_qdq_layout.cc) then moves QConvs to NHWC and cancels the Transposes
// between them, so int8 activations flow from one QConv to the next without reorders or Q/DQ round trips.
//
//   pm.add(make_fuse_qdq_conv());   // first in the list
//   ...
//   pm.add(make_fuse_qdq_layout());
#pragma once

#include <memory>

#include "passes/pass.h"

namespace ferry {

std::unique_ptr<Pass> make_fuse_qdq_conv();    // QDQ Conv patterns -> ferry.QConv
std::unique_ptr<Pass> make_fuse_qdq_layout();  // QConv chains -> channels_last, border Transposes only

}  // namespace ferry
