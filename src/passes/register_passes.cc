// register_passes.cc — the one list of optimization passes per level, in the order they run. The PassManager
// repeats the whole list until nothing changes, so order only matters for speed: folding first (it types the
// graph for the shape-based rules), dead code last (it sweeps what the rewrites disconnected).
#include "passes/pass.h"
#include "passes/passes.h"
#include "passes/conv_fusions.h"
#include "passes/fuse_transformer.h"
#include "passes/qdq_fusions.h"

namespace ferry {

void add_passes_for_level(PassManager& pm, OptLevel level) {
  if (level == OptLevel::kNone) return;
  if (level >= OptLevel::kAll) pm.add(make_fuse_qdq_conv());  // before fold_constants folds the int8 weights
  pm.add(make_fold_constants());
  pm.add(make_fold_shapes());
  pm.add(make_eliminate_identity());
  if (level >= OptLevel::kExtended) {
    pm.add(make_transpose_sink());    // before the cancel it enables
    pm.add(make_transpose_cancel());
    pm.add(make_fuse_conv_bn());
    pm.add(make_merge_parallel_convs());  // after fuse_conv_bn: the BN-folded weights are constant
    pm.add(make_fuse_convtranspose_bn());
    pm.add(make_fuse_matmul_add());
    // make_gemm_to_conv() (head Gemm -> Conv 1x1) is in no default list: it did not pay (decisions.md).
  }
  if (level >= OptLevel::kAll) {
    // ferry-only fusions (domain "ferry") are added here by their owners; their output runs in ferry only.
    add_transformer_fusions(pm);  // fuse_transformer.h: GELU, LayerNorm, MatMul+bias(+act), attention
    pm.add(make_fuse_conv_add());         // before the activation: Conv + Add + Relu -> act(conv + z)
    pm.add(make_fuse_conv_activation());
    pm.add(make_fuse_conv_act_add());     // after the activation: Add(act(conv), z) -> act(conv) + z
    pm.add(make_fuse_qdq_layout());       // QConv chains to NHWC (int8 between QConvs)
    pm.add(make_conv_channels_last());    // after the fusions, so the fused convs move to NHWC as a whole
    pm.add(make_fuse_conv_nchw_output()); // after it: a region's last conv writes NCHW (no Transpose)
    pm.add(make_pool_channels_last());    // after it: MaxPool between NHWC convs in NHWC (ferry.MaxPoolNhwc)
    pm.add(make_fuse_squeeze_excite());   // after conv_channels_last: NHWC SE blocks -> ferry.SqueezeExcite
  }
  pm.add(make_eliminate_dead_code());
}

}  // namespace ferry
