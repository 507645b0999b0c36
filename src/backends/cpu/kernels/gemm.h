// gemm.h — the float32 GEMM other CPU kernel families call (MatMul, Gemm, RNN, attention).
//
//   // C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, row-major with leading dimensions.
//   sgemm(false, true, M, N, K, 1.f, a, K, b, K, 0.f, c, N, &ctx.pool());
//
// The fast path is oneDNN's dnnl_sgemm; sgemm_reference is the naive oracle it is tested against. With
// beta == 0 the old contents of C are never read (NaN/Inf garbage in C does not leak into the result).
// oneDNN threads internally (OpenMP): call sgemm from the kernel's thread, not from inside a
// ThreadPool::parallel_for chunk, or each chunk starts its own OpenMP team and the cores are oversubscribed.
#pragma once

#include <cstdint>

#include "core/threadpool.h"

namespace ferry {

// op(A) is A (M x K, row stride lda) or, with trans_a, A^T where A is K x M; likewise for B (K x N / N x K).
// `pool` may be nullptr; it is used only by the fallback path.
void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc, ThreadPool* pool = nullptr);

// Straightforward triple loop (double accumulation); the oracle for sgemm.
void sgemm_reference(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                     int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc,
                     ThreadPool* pool = nullptr);

}  // namespace ferry
