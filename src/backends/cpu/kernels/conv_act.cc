// conv_act.cc — see conv_act.h.
#include "backends/cpu/kernels/conv_act.h"
#include "backends/cpu/kernels/vec_avx512.h"

#include <immintrin.h>

#include <algorithm>

namespace ferry {

namespace {

// SiLU: x / (1 + exp(-x)); NaN stays NaN through the numerator.
FERRY_AVX512 inline __m512 silu_ps(__m512 v) {
  const __m512 d = _mm512_add_ps(_mm512_set1_ps(1.0f), exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), v)));
  return _mm512_div_ps(v, d);
}

// Sigmoid: 1 / (1 + exp(-x)); NaN lanes keep x.
FERRY_AVX512 inline __m512 sigmoid_ps(__m512 v) {
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), v))));
  return _mm512_mask_mov_ps(s, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), v);
}

// y = act(y) (+ z): one pass over the conv output.
template <bool kSilu>
FERRY_AVX512 inline __m512 act_ps(__m512 v) {
  return kSilu ? silu_ps(v) : sigmoid_ps(v);
}

template <bool kSilu>
FERRY_AVX512 void act_avx512(float* y, const float* z, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 r = act_ps<kSilu>(_mm512_loadu_ps(y + i));
    if (z) r = _mm512_add_ps(r, _mm512_loadu_ps(z + i));
    _mm512_storeu_ps(y + i, r);
  }
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    __m512 r = act_ps<kSilu>(_mm512_maskz_loadu_ps(m, y + i));
    if (z) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(m, z + i));
    _mm512_mask_storeu_ps(y + i, m, r);
  }
}

void run_serial(ConvAct act, float* y, const float* z, int64_t n) {
  if (act == ConvAct::kSilu) act_avx512<true>(y, z, n);
  else if (act == ConvAct::kSigmoid) act_avx512<false>(y, z, n);
}

}  // namespace

bool deferred_activation_supported(ConvAct act) {
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  return avx512 && (act == ConvAct::kSilu || act == ConvAct::kSigmoid);
}

void apply_conv_activation(ConvAct act, float* y, int64_t n, int threads, const float* z) {
  if (!deferred_activation_supported(act) || n <= 0) return;
  // Below ~64K elements a fork/join costs more than it saves.
  if (threads <= 1 || n < (int64_t{1} << 16) || !omp_team_available()) {
    run_serial(act, y, z, n);
    return;
  }
  omp_team_run(threads, [&](int t, int nt) {
    // 16-float aligned chunk edges: every chunk but the last runs full vectors only.
    const int64_t per = ((n + nt - 1) / nt + 15) / 16 * 16;
    const int64_t b = std::min<int64_t>(n, t * per), e = std::min<int64_t>(n, b + per);
    if (e > b) run_serial(act, y + b, z ? z + b : nullptr, e - b);
  });
}

}  // namespace ferry
