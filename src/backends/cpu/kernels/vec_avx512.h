// vec_avx512.h — AVX-512 math shared by the hand-vectorized kernels (fused attention, conv activations):
// FERRY_AVX512 marks a function compiled for AVX-512 inside a generic build (callers check the CPU at run time),
// exp_ps is a 16-lane exp with the same polynomial as the scalar exp_nonpos_f32 of vec_math.h.
#pragma once

#include <immintrin.h>

#define FERRY_AVX512 __attribute__((target("avx512f")))

namespace ferry {

// exp(x) on 16 lanes, x clamped to [-87.34, 88.38] (the float range of exp). Operand order: max/min return the
// second operand when the first is NaN, so NaN becomes a finite value here (callers keep NaN through x itself).
FERRY_AVX512 inline __m512 exp_ps(__m512 x) {
  x = _mm512_min_ps(x, _mm512_set1_ps(88.3762626647949f));
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.3365447505f));
  const __m512 n =
      _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  const __m512 v = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(v, n);  // v * 2^n
}

}  // namespace ferry
