// layer_norm_avx512.cc — see layer_norm_avx512.h.
#include "backends/cpu/kernels/layer_norm_avx512.h"

// GCC 12 reports its own avx512fintrin.h helpers (_mm512_reduce_*) as maybe-uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <cmath>

#include "backends/cpu/kernels/vec_avx512.h"

namespace ferry {

namespace {

inline __mmask16 tail_mask(int64_t n) { return static_cast<__mmask16>(n >= 16 ? 0xFFFFu : (1u << n) - 1u); }

}  // namespace

bool layer_norm_avx512_available() {
  static const bool ok = __builtin_cpu_supports("avx512f");
  return ok;
}

FERRY_AVX512 void layer_norm_row_avx512(const float* x, const float* g, const float* b, float* y, int64_t c,
                                        float eps) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  int64_t j = 0;
  for (; j + 32 <= c; j += 32) {
    s0 = _mm512_add_ps(s0, _mm512_loadu_ps(x + j));
    s1 = _mm512_add_ps(s1, _mm512_loadu_ps(x + j + 16));
  }
  for (; j < c; j += 16) s0 = _mm512_add_ps(s0, _mm512_maskz_loadu_ps(tail_mask(c - j), x + j));
  const float mean = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1)) / static_cast<float>(c);
  const __m512 vm = _mm512_set1_ps(mean);
  s0 = _mm512_setzero_ps();
  s1 = _mm512_setzero_ps();
  for (j = 0; j + 32 <= c; j += 32) {
    const __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(x + j), vm);
    const __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(x + j + 16), vm);
    s0 = _mm512_fmadd_ps(d0, d0, s0);
    s1 = _mm512_fmadd_ps(d1, d1, s1);
  }
  for (; j < c; j += 16) {
    const __mmask16 m = tail_mask(c - j);
    const __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, x + j), vm);
    s0 = _mm512_fmadd_ps(d, d, s0);
  }
  const float var = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1)) / static_cast<float>(c);
  const __m512 rstd = _mm512_set1_ps(1.0f / std::sqrt(var + eps));
  for (j = 0; j < c; j += 16) {
    const __mmask16 m = tail_mask(c - j);
    const __m512 n = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), vm), rstd);
    __m512 o = _mm512_mul_ps(n, _mm512_maskz_loadu_ps(m, g + j));
    if (b) o = _mm512_add_ps(o, _mm512_maskz_loadu_ps(m, b + j));
    _mm512_mask_storeu_ps(y + j, m, o);
  }
}

}  // namespace ferry
