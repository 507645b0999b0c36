// conv_act.cc — see conv_act.h.
#include "backends/cpu/kernels/conv_act.h"
#include "backends/cpu/kernels/vec_avx512.h"

#include <dlfcn.h>
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

// libgomp's entry points, looked up at run time like dnnl_set_threads() does (ferry does not link OpenMP; libgomp
// is loaded as libdnnl's dependency). GOMP_parallel is the ABI GCC emits for `#pragma omp parallel`.
using GompParallelFn = void (*)(void (*)(void*), void*, unsigned, unsigned);
using OmpIntFn = int (*)();
struct Gomp {
  GompParallelFn parallel = nullptr;
  OmpIntFn thread_num = nullptr, num_threads = nullptr;
};
const Gomp& gomp() {
  static const Gomp g = [] {
    Gomp r;
    r.parallel = reinterpret_cast<GompParallelFn>(dlsym(RTLD_DEFAULT, "GOMP_parallel"));
    r.thread_num = reinterpret_cast<OmpIntFn>(dlsym(RTLD_DEFAULT, "omp_get_thread_num"));
    r.num_threads = reinterpret_cast<OmpIntFn>(dlsym(RTLD_DEFAULT, "omp_get_num_threads"));
    if (!r.parallel || !r.thread_num || !r.num_threads) r = Gomp();
    return r;
  }();
  return g;
}

struct Job {
  ConvAct act;
  float* y;
  const float* z;
  int64_t n;
};

void job_chunk(void* p) {
  const Job& j = *static_cast<const Job*>(p);
  const int64_t t = gomp().thread_num(), nt = gomp().num_threads();
  // 16-float aligned chunk edges: every chunk but the last runs full vectors only.
  const int64_t per = ((j.n + nt - 1) / nt + 15) / 16 * 16;
  const int64_t b = std::min(j.n, t * per), e = std::min(j.n, b + per);
  if (e > b) run_serial(j.act, j.y + b, j.z ? j.z + b : nullptr, e - b);
}

}  // namespace

bool deferred_activation_supported(ConvAct act) {
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  return avx512 && (act == ConvAct::kSilu || act == ConvAct::kSigmoid);
}

void omp_team_run(int threads, const std::function<void(int, int)>& fn) {
  if (threads <= 1 || !gomp().parallel) {
    fn(0, 1);
    return;
  }
  struct Team {
    const std::function<void(int, int)>* fn;
  } team{&fn};
  gomp().parallel(
      [](void* p) { (*static_cast<Team*>(p)->fn)(gomp().thread_num(), gomp().num_threads()); }, &team,
      static_cast<unsigned>(threads), 0);
}

void apply_conv_activation(ConvAct act, float* y, int64_t n, int threads, const float* z) {
  if (!deferred_activation_supported(act) || n <= 0) return;
  // Below ~64K elements a fork/join costs more than it saves.
  if (threads <= 1 || n < (int64_t{1} << 16) || !gomp().parallel) {
    run_serial(act, y, z, n);
    return;
  }
  Job j{act, y, z, n};
  gomp().parallel(job_chunk, &j, static_cast<unsigned>(threads), 0);
}

}  // namespace ferry
