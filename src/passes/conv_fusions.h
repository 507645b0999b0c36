// conv_fusions.h — the CNN passes of OptLevel::kAll (domain "ferry" output; CPU-speed work). In the order
// register_passes.cc runs them:
//   fuse_conv_add        Conv + Add(residual of the same shape) -> ferry.FusedConv with Z (oneDNN sum post-op)
//   fuse_conv_activation Conv/FusedConv + Relu/LeakyRelu/Clip/Sigmoid/SiLU/HardSwish/Tanh -> FusedConv post-op
//   fuse_conv_act_add    activated FusedConv + Add(residual of the same shape) -> Z with z_after_activation=1
//   conv_channels_last   2-D conv chains in NHWC (FusedConv channels_last=1), Transposes only at region borders
//   fuse_conv_nchw_output a region's last conv writes NCHW itself (channels_last=3) instead of a Transpose
//   pool_channels_last   MaxPool on a to-NCHW Transpose -> ferry.MaxPoolNhwc; its NHWC-region readers read it
//   fuse_squeeze_excite  NHWC ReduceMean -> 1x1 FusedConv -> 1x1 FusedConv(sigmoid) -> Mul -> ferry.SqueezeExcite
// They expect inferred types in value_info (fold_shapes runs whole-graph inference before them).
#pragma once

#include <memory>

#include "passes/pass.h"

namespace ferry {

std::unique_ptr<Pass> make_fuse_conv_add();
std::unique_ptr<Pass> make_fuse_conv_activation();
std::unique_ptr<Pass> make_fuse_conv_act_add();
std::unique_ptr<Pass> make_conv_channels_last();
std::unique_ptr<Pass> make_fuse_conv_nchw_output();
std::unique_ptr<Pass> make_pool_channels_last();
std::unique_ptr<Pass> make_fuse_squeeze_excite();

}  // namespace ferry
