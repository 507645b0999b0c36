// fuse_transformer.h — the kAll fusion passes that rewrite torch-exported transformer blocks into ferry ops.
//
// Order matters only for speed of convergence (the PassManager iterates to a fixed point): GELU and
// LayerNorm collapse first, then MatMul(+bias)(+activation) and Gemm become ferry.FusedMatMul, and the
// scaled-dot-product core becomes ferry.SdpAttention (torch 2.x's Gather split of the packed projection first
// rewritten as torch 1.13's Slices), and a batch_first self-attention then loses its layout Transposes.
#pragma once

#include <memory>

#include "passes/pass.h"

namespace ferry {

std::unique_ptr<RewriteRule> make_fuse_gelu_rule();         // fuse_gelu.cc
std::unique_ptr<RewriteRule> make_fuse_layernorm_rule();    // fuse_layernorm.cc
std::unique_ptr<RewriteRule> make_fuse_matmul_bias_rule();  // fuse_matmul_bias.cc
std::unique_ptr<RewriteRule> make_fuse_attention_rule();    // fuse_attention.cc
std::unique_ptr<RewriteRule> make_unpack_qkv_gather_rule();       // unpack_qkv_gather.cc (torch 2.x QKV split)
std::unique_ptr<RewriteRule> make_attention_batch_major_rule();   // attention_batch_major.cc

// Adds the rules above in order (register_passes.cc calls this for OptLevel::kAll).
void add_transformer_fusions(PassManager& pm);

}  // namespace ferry
