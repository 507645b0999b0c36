// gemm.cc — float32 GEMM: oneDNN fast path plus the reference loop.
#include "backends/cpu/kernels/gemm.h"

#include "backends/cpu/kernels/dnnl_util.h"

#include <oneapi/dnnl/dnnl.h>

#include <algorithm>

namespace ferry {

void sgemm_reference(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                     int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc,
                     ThreadPool* pool) {
  auto rows = [&](int64_t r0, int64_t r1) {
    for (int64_t i = r0; i < r1; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t p = 0; p < k; ++p) {
          float av = trans_a ? a[p * lda + i] : a[i * lda + p];
          float bv = trans_b ? b[j * ldb + p] : b[p * ldb + j];
          acc += static_cast<double>(av) * bv;
        }
        float& out = c[i * ldc + j];
        out = beta == 0.f ? static_cast<float>(alpha * acc) : static_cast<float>(alpha * acc + beta * out);
      }
    }
  };
  if (pool && m * n * k > (1 << 16)) {
    pool->parallel_for(m, rows);
  } else {
    rows(0, m);
  }
}

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc, ThreadPool* pool) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {  // empty reduction: C = beta * C
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.f ? 0.f : beta * c[i * ldc + j];
    return;
  }
  if (beta == 0.f) {
    for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.f);
  }
  // oneDNN runs sgemm in an OpenMP team: bound it by the session's threads (1 when called without a pool, e.g.
  // from inside a parallel_for chunk), otherwise it spawns one thread per core beside our pool.
  dnnl_set_threads(pool ? pool->threads() : 1);
  // oneDNN checks lda >= max(1, cols) of the stored matrix; our callers always pass valid strides.
  dnnl_status_t st = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  if (st != dnnl_success) sgemm_reference(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, pool);
}

}  // namespace ferry
