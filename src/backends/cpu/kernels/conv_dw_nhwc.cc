// conv_dw_nhwc.cc — see conv_dw_nhwc.h.
#include "backends/cpu/kernels/conv_dw_nhwc.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdlib>

#include "backends/cpu/kernels/conv_act.h"
#include "backends/cpu/kernels/vec_avx512.h"

namespace ferry {

namespace {

struct DwArgs {
  const float* x;
  const float* wp;    // [K*K][cpad]
  const float* bias;  // [cpad]
  float* y;
  int64_t n, h, w, c, oh, ow, cpad, stride, pt, pl;
  ConvAct act;
  float alpha, beta;
};

FERRY_AVX512 inline __m512 activate(__m512 v, const DwArgs& a) {
  switch (a.act) {
    case ConvAct::kNone: return v;
    case ConvAct::kRelu: return _mm512_max_ps(v, _mm512_setzero_ps());
    case ConvAct::kLeakyRelu:
      return _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), v, _mm512_set1_ps(a.alpha));
    case ConvAct::kClip: return _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(a.alpha)), _mm512_set1_ps(a.beta));
    case ConvAct::kSilu:
    case ConvAct::kSigmoid: {  // the formulas of conv_act.cc
      const __m512 one = _mm512_set1_ps(1.0f);
      const __m512 d = _mm512_add_ps(one, exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), v)));
      const __m512 r = _mm512_div_ps(a.act == ConvAct::kSilu ? v : one, d);
      return _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), v);
    }
    default: return v;  // supports() admits no other activation
  }
}

// Per-thread staging of K input rows (channels [c0, c1) of them), zero-padded left and right, `cpad` floats per
// pixel: the window loop then reads every tap unmasked, with no border cases, and each input row is copied
// once (rows are walked in order and slot iy mod K keeps the rows the next output row shares).
struct RowRing {
  float* base;      // K rows of `width` x cpad floats
  int64_t width;    // padded pixels per row
  int64_t iy[5];    // input row held by each slot (INT64_MIN: none)
  int64_t img[5];   // and its image index
};

FERRY_AVX512 inline const float* stage_row(const DwArgs& a, RowRing& ring, int k, int64_t n, int64_t iy, int64_t c0,
                                          int64_t c1) {
  const int slot = static_cast<int>(((iy % k) + k) % k);
  float* row = ring.base + slot * ring.width * a.cpad;
  if (ring.iy[slot] == iy && ring.img[slot] == n) return row;
  ring.iy[slot] = iy;
  ring.img[slot] = n;
  float* dst = row + a.pl * a.cpad;
  const bool inside = iy >= 0 && iy < a.h;
  const float* src = a.x + ((n * a.h + (inside ? iy : 0)) * a.w) * a.c;
  for (int64_t x = 0; x < a.w; ++x)
    for (int64_t c = c0; c < c1; c += 16) {
      const __mmask16 m = a.c - c >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (a.c - c)) - 1);
      _mm512_store_ps(dst + x * a.cpad + c, inside ? _mm512_maskz_loadu_ps(m, src + x * a.c + c) : _mm512_setzero_ps());
    }
  return row;
}

// Output rows [r0, r1) of the N*OH rows, channels [c0, c1) (multiples of 16 but c1 may be cpad).
template <int K>
FERRY_AVX512 void dw_rows(const DwArgs& a, RowRing& ring, int64_t c0, int64_t c1, int64_t r0, int64_t r1) {
  const int64_t s = a.stride, C = a.c, P = a.cpad;
  const bool simple = a.act == ConvAct::kNone || a.act == ConvAct::kRelu || a.act == ConvAct::kClip;
  const __m512 lo = _mm512_set1_ps(a.act == ConvAct::kRelu ? 0.f : a.act == ConvAct::kClip ? a.alpha : -INFINITY);
  const __m512 hi = _mm512_set1_ps(a.act == ConvAct::kClip ? a.beta : INFINITY);
  for (int i = 0; i < K; ++i) ring.iy[i] = ring.img[i] = INT64_MIN;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / a.oh, oy = r % a.oh, iy0 = oy * s - a.pt;
    const float* rows[K];
    for (int kh = 0; kh < K; ++kh) rows[kh] = stage_row(a, ring, K, n, iy0 + kh, c0, c1);
    float* yrow = a.y + r * a.ow * C;
    for (int64_t cb = c0; cb < c1 && cb < C; cb += 16) {
      const __mmask16 m = C - cb >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (C - cb)) - 1);
      __m512 wv[K * K];
#pragma GCC unroll 25
      for (int i = 0; i < K * K; ++i) wv[i] = _mm512_loadu_ps(a.wp + i * P + cb);
      const __m512 bv = _mm512_loadu_ps(a.bias + cb);
      for (int64_t ox = 0; ox < a.ow; ox += 4) {
        // One partial sum per kernel row for K = 3 (12 short FMA chains instead of 4 long ones: the FMA latency,
        // not the issue rate, bounded the 4-chain loop); K = 5 keeps one chain per pixel (registers).
        constexpr int R = K == 3 ? 3 : 1;
        __m512 acc[4][R];
#pragma GCC unroll 4
        for (int j = 0; j < 4; ++j) {
          acc[j][0] = bv;
#pragma GCC unroll 3
          for (int q = 1; q < R; ++q) acc[j][q] = _mm512_setzero_ps();
        }
#pragma GCC unroll 5
        for (int kh = 0; kh < K; ++kh) {
          const float* p = rows[kh] + ox * s * P + cb;
          const int q = kh % R;
#pragma GCC unroll 5
          for (int kw = 0; kw < K; ++kw) {
            const __m512 wk = wv[kh * K + kw];
#pragma GCC unroll 4
            for (int j = 0; j < 4; ++j) acc[j][q] = _mm512_fmadd_ps(_mm512_load_ps(p + (j * s + kw) * P), wk, acc[j][q]);
          }
        }
        __m512 a0 = acc[0][0], a1 = acc[1][0], a2 = acc[2][0], a3 = acc[3][0];
        if constexpr (R == 3) {
          a0 = _mm512_add_ps(a0, _mm512_add_ps(acc[0][1], acc[0][2]));
          a1 = _mm512_add_ps(a1, _mm512_add_ps(acc[1][1], acc[1][2]));
          a2 = _mm512_add_ps(a2, _mm512_add_ps(acc[2][1], acc[2][2]));
          a3 = _mm512_add_ps(a3, _mm512_add_ps(acc[3][1], acc[3][2]));
        }
        if (simple) {
          a0 = _mm512_min_ps(_mm512_max_ps(a0, lo), hi);
          a1 = _mm512_min_ps(_mm512_max_ps(a1, lo), hi);
          a2 = _mm512_min_ps(_mm512_max_ps(a2, lo), hi);
          a3 = _mm512_min_ps(_mm512_max_ps(a3, lo), hi);
        } else {
          a0 = activate(a0, a);
          a1 = activate(a1, a);
          a2 = activate(a2, a);
          a3 = activate(a3, a);
        }
        float* yo = yrow + ox * C + cb;
        const int64_t live = std::min<int64_t>(4, a.ow - ox);
        _mm512_mask_storeu_ps(yo, m, a0);
        if (live > 1) _mm512_mask_storeu_ps(yo + C, m, a1);
        if (live > 2) _mm512_mask_storeu_ps(yo + 2 * C, m, a2);
        if (live > 3) _mm512_mask_storeu_ps(yo + 3 * C, m, a3);
      }
    }
  }
}

// Work items = (channel group, output row) pairs, groups outer; [i0, i1) of them. `groups` channel groups of
// whole 16-channel blocks (more than one only when there are too few rows to share between the threads).
void dw_items(const DwArgs& a, int k, RowRing ring, int64_t groups, int64_t i0, int64_t i1) {
  const int64_t nr = a.oh * a.n, ncb = a.cpad / 16;
  while (i0 < i1) {
    const int64_t g = i0 / nr, r0 = i0 % nr, r1 = std::min(nr, r0 + (i1 - i0));
    const int64_t c0 = ncb * g / groups * 16, c1 = ncb * (g + 1) / groups * 16;
    if (k == 3) dw_rows<3>(a, ring, c0, c1, r0, r1);
    else dw_rows<5>(a, ring, c0, c1, r0, r1);
    i0 += r1 - r0;
  }
}

}  // namespace

bool dw_enabled() {
  const char* v = std::getenv("FERRY_DW_NHWC");
  return v && v[0] == '1';
}

bool DwConvNhwc::supports(const DwConvShape& s, ConvAct act) {
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  const bool act_ok = act == ConvAct::kNone || act == ConvAct::kRelu || act == ConvAct::kLeakyRelu ||
                      act == ConvAct::kClip || act == ConvAct::kSilu || act == ConvAct::kSigmoid;
  return avx512 && act_ok && (s.k == 3 || s.k == 5) && (s.stride == 1 || s.stride == 2) && s.pad_top >= 0 &&
         s.pad_left >= 0 && s.pad_top < s.k && s.pad_left < s.k && s.c > 0 && s.n > 0 && s.oh > 0 && s.ow > 0;
}

void DwConvNhwc::run(const DwConvShape& s, ConvAct act, float alpha, float beta, const float* x, const Tensor& w,
                     const float* bias, float* y, int threads) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t kk = s.k * s.k;
  if (!(w.shares_storage_with(w_held_) && w.raw_data() == w_held_.raw_data()) || bias != bias_src_ ||
      cpad_ != (s.c + 15) / 16 * 16) {
    cpad_ = (s.c + 15) / 16 * 16;
    packed_.assign(static_cast<size_t>((kk + 1) * cpad_), 0.f);
    const float* src = w.data<float>();
    for (int64_t c = 0; c < s.c; ++c)
      for (int64_t i = 0; i < kk; ++i) packed_[static_cast<size_t>(i * cpad_ + c)] = src[c * kk + i];
    if (bias) std::copy(bias, bias + s.c, packed_.begin() + kk * cpad_);
    w_held_ = w;
    bias_src_ = bias;
  }
  const DwArgs a{x, packed_.data(), packed_.data() + kk * cpad_, y, s.n, s.h, s.w, s.c, s.oh, s.ow, cpad_, s.stride,
                 s.pad_top, s.pad_left, act, alpha, beta};
  // Below ~128K multiply-adds (a few microseconds) one thread: no fork/join.
  const int nt = s.n * s.oh * s.ow * s.c * kk < (int64_t{1} << 17) ? 1 : std::max(1, threads);
  // Few rows per thread (7x7 maps): split the channels too, so that the threads get equal work.
  const int64_t groups = s.n * s.oh < 8 * nt ? std::min<int64_t>(nt, cpad_ / 16) : 1;
  const int64_t items = groups * s.n * s.oh;
  // Staged rows: wide enough for the last 4-pixel group's taps, zero beyond the image; 64-byte aligned.
  const int64_t width = std::max(s.pad_left + s.w, ((s.ow + 3) / 4 * 4 - 1) * s.stride + s.k) + 1;
  const size_t per_thread = static_cast<size_t>(s.k * width * cpad_);
  // Only the image part of a staged row is ever written, so the pads stay zero while the geometry is the same.
  if (rings_.size() < per_thread * static_cast<size_t>(nt) + 16 || ring_key_ != (width * 8 + s.k) * 8192 + cpad_) {
    rings_.assign(std::max(rings_.size(), per_thread * static_cast<size_t>(nt) + 16), 0.f);
    ring_key_ = (width * 8 + s.k) * 8192 + cpad_;
  }
  float* base = rings_.data();
  while (reinterpret_cast<uintptr_t>(base) % 64) ++base;
  const int k = static_cast<int>(s.k);
  omp_team_run(nt, [&](int t, int n) {
    RowRing ring{base + per_thread * static_cast<size_t>(t), width, {}, {}};
    dw_items(a, k, ring, groups, items * t / n, items * (t + 1) / n);
  });
}

}  // namespace ferry
