// passes.h — constructors of the individual optimization passes (one pass per file in src/passes/).
// register_passes.cc puts them in order per OptLevel; tests build them one at a time.
#pragma once

#include <memory>

#include "passes/pass.h"

namespace ferry {

std::unique_ptr<Pass> make_fold_constants();      // all-constant nodes -> initializers (CPU kernels)
std::unique_ptr<Pass> make_fold_shapes();         // Shape/Size/Shape->Gather of known dims -> initializers
std::unique_ptr<Pass> make_eliminate_identity();  // Identity, Dropout, same-type Cast, no-op reshapes/transposes
std::unique_ptr<Pass> make_eliminate_dead_code(); // nodes no output depends on, unused initializers
std::unique_ptr<Pass> make_fuse_conv_bn();        // Conv + BatchNormalization -> Conv
std::unique_ptr<Pass> make_merge_parallel_convs();  // Convs sharing input + attrs -> one Conv + Split (axis 1)
std::unique_ptr<Pass> make_fuse_convtranspose_bn();  // ConvTranspose (+ per-channel Add) + BatchNormalization
std::unique_ptr<Pass> make_fuse_matmul_add();     // MatMul(2-D) + Add(bias) -> Gemm
std::unique_ptr<Pass> make_gemm_to_conv();        // pooled head Flatten -> Gemm -> Conv 1x1 -> Flatten (stays 4-D)
std::unique_ptr<Pass> make_transpose_cancel();    // Transpose∘Transpose -> one/none, Reshape∘Reshape -> one
std::unique_ptr<Pass> make_transpose_sink();      // Transpose -> unary elementwise -> Transpose: sink the first

}  // namespace ferry
