// attention_avx512.cc — see attention_avx512.h.
#include "backends/cpu/kernels/attention_avx512.h"

// GCC 12 reports its own avx512fintrin.h helpers (_mm512_reduce_*, undefined-vector idioms) as maybe-uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "backends/cpu/kernels/vec_avx512.h"

#include <algorithm>
#include <cmath>

namespace ferry {

namespace {

constexpr int64_t kRowBlock = 32;  // query rows whose scores are live at once (32 x 256 keys = 32 KiB)

inline int64_t round16(int64_t x) { return (x + 15) / 16 * 16; }

inline __mmask16 tail_mask(int64_t n) { return static_cast<__mmask16>(n >= 16 ? 0xFFFFu : (1u << n) - 1u); }

// The reference kernel's exact path for rows holding NaN/inf.
void softmax_row_double(float* p, int64_t n) {
  double md = -INFINITY;
  for (int64_t j = 0; j < n; ++j) md = std::max<double>(md, p[j]);
  if (std::isinf(md) && md < 0) md = 0;
  double s = 0;
  for (int64_t j = 0; j < n; ++j) s += std::exp(static_cast<double>(p[j]) - md);
  for (int64_t j = 0; j < n; ++j) p[j] = static_cast<float>(std::exp(static_cast<double>(p[j]) - md) / s);
}

// Softmax of p[0, n) in place. False when the row holds a NaN that the max skipped (p then holds garbage).
FERRY_AVX512 bool softmax_row(float* p, int64_t n) {
  __m512 vm = _mm512_set1_ps(-INFINITY);
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) vm = _mm512_max_ps(vm, _mm512_loadu_ps(p + j));
  if (j < n) vm = _mm512_mask_max_ps(vm, tail_mask(n - j), vm, _mm512_maskz_loadu_ps(tail_mask(n - j), p + j));
  const float m = _mm512_reduce_max_ps(vm);
  if (!std::isfinite(m)) {
    softmax_row_double(p, n);
    return true;
  }
  const __m512 bm = _mm512_set1_ps(m);
  __m512 vs = _mm512_setzero_ps();
  for (j = 0; j + 16 <= n; j += 16) {
    const __m512 e = exp_ps(_mm512_sub_ps(_mm512_loadu_ps(p + j), bm));
    vs = _mm512_add_ps(vs, e);
    _mm512_storeu_ps(p + j, e);
  }
  if (j < n) {
    const __mmask16 tm = tail_mask(n - j);
    const __m512 e = exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(tm, p + j), bm));
    vs = _mm512_mask_add_ps(vs, tm, vs, e);
    _mm512_mask_storeu_ps(p + j, tm, e);
  }
  const float sum = _mm512_reduce_add_ps(vs);
  if (!std::isfinite(sum)) return false;
  const __m512 inv = _mm512_set1_ps(1.0f / sum);
  for (j = 0; j + 16 <= n; j += 16) _mm512_storeu_ps(p + j, _mm512_mul_ps(_mm512_loadu_ps(p + j), inv));
  if (j < n) {
    const __mmask16 tm = tail_mask(n - j);
    _mm512_mask_storeu_ps(p + j, tm, _mm512_mul_ps(_mm512_maskz_loadu_ps(tm, p + j), inv));
  }
  return true;
}

// sc[r][0, 16*NV) = scale * sum_p q[r][p] * kt[p][0, 16*NV) for R rows (kt: packed, row stride ldk).
template <int R, int NV>
FERRY_AVX512 void qk_tile(const float* q, int64_t ldq, const float* kt, int64_t ldk, int64_t d, float scale, float* sc,
                          int64_t lds) {
  __m512 acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t p = 0; p < d; ++p) {
    __m512 b[NV];
    for (int v = 0; v < NV; ++v) b[v] = _mm512_loadu_ps(kt + p * ldk + 16 * v);
    for (int r = 0; r < R; ++r) {
      const __m512 a = _mm512_set1_ps(q[r * ldq + p]);
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(a, b[v], acc[r][v]);
    }
  }
  const __m512 s = _mm512_set1_ps(scale);
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) _mm512_storeu_ps(sc + r * lds + 16 * v, _mm512_mul_ps(acc[r][v], s));
}

// Columns [j, j + 16*NV) of the scores of `rows` query rows: the kt panel (d x 16*NV floats) stays in L1 while
// every 4-row group of the block passes over it.
template <int NV>
FERRY_AVX512 void qk_panel(const float* q, int64_t ldq, int64_t rows, const float* kt, int64_t tp, int64_t d,
                           float scale, float* sc) {
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) qk_tile<4, NV>(q + r * ldq, ldq, kt, tp, d, scale, sc + r * tp, tp);
  switch (rows - r) {
    case 3: qk_tile<3, NV>(q + r * ldq, ldq, kt, tp, d, scale, sc + r * tp, tp); break;
    case 2: qk_tile<2, NV>(q + r * ldq, ldq, kt, tp, d, scale, sc + r * tp, tp); break;
    case 1: qk_tile<1, NV>(q + r * ldq, ldq, kt, tp, d, scale, sc + r * tp, tp); break;
    default: break;
  }
}

FERRY_AVX512 void qk_block(const float* q, int64_t ldq, int64_t rows, const float* kt, int64_t tp, int64_t d,
                           float scale, float* sc) {
  int64_t j = 0;
  for (; j + 64 <= tp; j += 64) qk_panel<4>(q, ldq, rows, kt + j, tp, d, scale, sc + j);
  switch ((tp - j) / 16) {
    case 3: qk_panel<3>(q, ldq, rows, kt + j, tp, d, scale, sc + j); break;
    case 2: qk_panel<2>(q, ldq, rows, kt + j, tp, d, scale, sc + j); break;
    case 1: qk_panel<1>(q, ldq, rows, kt + j, tp, d, scale, sc + j); break;
    default: break;
  }
}

// y[r][c0, c0 + 16*NV) (+)= sum_{j<t} p[r][j] * v[j][c0, ...) for R rows; the last vector is masked by `last`.
// With `accumulate` the sums are added to what y holds (the key range is split into L1-sized chunks).
template <int R, int NV>
FERRY_AVX512 void pv_tile(const float* p, int64_t ldp, const float* v, int64_t ldv, int64_t t, float* y, int64_t ldy,
                          __mmask16 last, bool accumulate) {
  // Every fixed-count loop is unrolled explicitly: without it GCC keeps acc on the stack (a store per FMA).
  __m512 acc[R][NV];
  const __mmask16 keep = accumulate ? 0xFFFF : 0;
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < NV; ++c)
      acc[r][c] = _mm512_maskz_loadu_ps(c == NV - 1 ? static_cast<__mmask16>(keep & last) : keep, y + r * ldy + 16 * c);
  for (int64_t j = 0; j < t; ++j) {
    __m512 b[NV];
#pragma GCC unroll 4
    for (int c = 0; c < NV; ++c) b[c] = _mm512_maskz_loadu_ps(c == NV - 1 ? last : 0xFFFF, v + j * ldv + 16 * c);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 a = _mm512_set1_ps(p[r * ldp + j]);
#pragma GCC unroll 4
      for (int c = 0; c < NV; ++c) acc[r][c] = _mm512_fmadd_ps(a, b[c], acc[r][c]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int c = 0; c < NV; ++c) _mm512_mask_storeu_ps(y + r * ldy + 16 * c, c == NV - 1 ? last : 0xFFFF, acc[r][c]);
}

template <int R>
FERRY_AVX512 void pv_rows(const float* p, int64_t ldp, const float* v, int64_t ldv, int64_t t, int64_t dv, float* y,
                          int64_t ldy, bool accumulate) {
  for (int64_t c = 0; c < dv; c += 64) {
    const int64_t w = std::min<int64_t>(64, dv - c);
    const __mmask16 last = tail_mask(w - (w - 1) / 16 * 16);
    switch ((w + 15) / 16) {
      case 4: pv_tile<R, 4>(p, ldp, v + c, ldv, t, y + c, ldy, last, accumulate); break;
      case 3: pv_tile<R, 3>(p, ldp, v + c, ldv, t, y + c, ldy, last, accumulate); break;
      case 2: pv_tile<R, 2>(p, ldp, v + c, ldv, t, y + c, ldy, last, accumulate); break;
      default: pv_tile<R, 1>(p, ldp, v + c, ldv, t, y + c, ldy, last, accumulate); break;
    }
  }
}

// Keys per chunk of the P x V product: a chunk of packed V (about 16 KiB) stays in L1 while every 4-row group of
// the block passes over it (a whole head's V, 50 KiB at 197 keys x 64, does not fit).
inline int64_t pv_chunk(int64_t dv) { return std::max<int64_t>(16, 4096 / std::max<int64_t>(dv, 1) / 16 * 16); }

// V rows copied contiguous (row stride dv): strided V rows (seq-major layouts, rows 3 KiB+ apart) map to few L1
// sets and evict each other.
void pack_v(const SdpHead& h, float* vp) {
  for (int64_t j = 0; j < h.t; ++j) std::copy(h.v + j * h.ldv, h.v + j * h.ldv + h.dv, vp + j * h.dv);
}

// kt[p][j] (row stride tp, columns t..tp zero) from K rows or KT rows.
void pack_kt(const SdpHead& h, int64_t tp, float* kt) {
  for (int64_t p = 0; p < h.d; ++p) std::fill(kt + p * tp + h.t, kt + (p + 1) * tp, 0.f);
  if (h.k_transposed) {
    for (int64_t p = 0; p < h.d; ++p) std::copy(h.k + p * h.ldk, h.k + p * h.ldk + h.t, kt + p * tp);
    return;
  }
  for (int64_t j0 = 0; j0 < h.t; j0 += 16) {  // 16 keys at a time: reads stay within a few cache lines
    const int64_t j1 = std::min(h.t, j0 + 16);
    for (int64_t p = 0; p < h.d; ++p)
      for (int64_t j = j0; j < j1; ++j) kt[p * tp + j] = h.k[j * h.ldk + p];
  }
}

// Scores of `rows` (<= kRowBlock) query rows from q, softmaxed in sc, then multiplied into y (vp: packed V).
FERRY_AVX512 void run_block(const SdpHead& h, const float* q, float* y, int64_t rows, const float* kt, int64_t tp,
                            const float* vp, float* sc) {
  qk_block(q, h.ldq, rows, kt, tp, h.d, h.scale, sc);
  for (int64_t i = 0; i < rows; ++i) {
    float* row = sc + i * tp;
    if (!softmax_row(row, h.t)) {
      // A NaN score: recompute the row's scores and take the reference's double path.
      for (int64_t j = 0; j < h.t; ++j) {
        float acc = 0;
        for (int64_t p = 0; p < h.d; ++p) acc += q[i * h.ldq + p] * kt[p * tp + j];
        row[j] = acc * h.scale;
      }
      softmax_row_double(row, h.t);
    }
  }
  const int64_t chunk = pv_chunk(h.dv);
  for (int64_t j0 = 0; j0 < h.t; j0 += chunk) {
    const int64_t jn = std::min(chunk, h.t - j0);
    const bool acc = j0 > 0;
    const float* vc = vp + j0 * h.dv;
    int64_t r = 0;
    for (; r + 4 <= rows; r += 4) pv_rows<4>(sc + r * tp + j0, tp, vc, h.dv, jn, h.dv, y + r * h.ldy, h.ldy, acc);
    switch (rows - r) {
      case 3: pv_rows<3>(sc + r * tp + j0, tp, vc, h.dv, jn, h.dv, y + r * h.ldy, h.ldy, acc); break;
      case 2: pv_rows<2>(sc + r * tp + j0, tp, vc, h.dv, jn, h.dv, y + r * h.ldy, h.ldy, acc); break;
      case 1: pv_rows<1>(sc + r * tp + j0, tp, vc, h.dv, jn, h.dv, y + r * h.ldy, h.ldy, acc); break;
      default: break;
    }
  }
}

}  // namespace

bool sdp_avx512_available() {
  static const bool ok = __builtin_cpu_supports("avx512f");
  return ok;
}

size_t sdp_avx512_scratch_floats(int64_t t, int64_t d, int64_t dv) {
  const int64_t tp = round16(std::max<int64_t>(t, 1));
  return static_cast<size_t>(tp * (d + kRowBlock + std::max<int64_t>(dv, 0)));
}

void sdp_head_avx512(const SdpHead& h, int64_t r0, int64_t r1, float* scratch) {
  if (r0 >= r1 || h.t <= 0) return;
  const int64_t tp = round16(h.t);
  float* kt = scratch;
  float* sc = scratch + tp * h.d;
  float* vp = sc + tp * kRowBlock;
  pack_kt(h, tp, kt);
  pack_v(h, vp);
  for (int64_t i = r0; i < r1; i += kRowBlock) {
    const int64_t rows = std::min(kRowBlock, r1 - i);
    run_block(h, h.q + i * h.ldq, h.y + i * h.ldy, rows, kt, tp, vp, sc);
  }
}

}  // namespace ferry
