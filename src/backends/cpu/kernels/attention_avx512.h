// attention_avx512.h — the AVX-512 path of ferry.SdpAttention: softmax(scale * Q K^T) V for one (batch, head),
// computed in blocks of query rows so the scores of a block stay in L1, with register-tiled FMA loops instead of
// two sgemm calls per head (for attention sizes, 64..512 keys of 64 dims, sgemm's per-call dispatch and packing
// cost as much as the arithmetic). No allocation: the caller passes scratch of sdp_avx512_scratch_floats().
//
//   SdpHead h{q, ldq, k, ldk, /*k_transposed=*/false, v, ldv, y, ldy, s, t, d, dv, scale};
//   std::vector<float> scratch(sdp_avx512_scratch_floats(t, d, dv));
//   if (sdp_avx512_available()) sdp_head_avx512(h, 0, s, scratch.data());
//
// Results equal the sgemm path up to float summation order; rows whose scores hold NaN/inf take the same exact
// double-precision softmax as the reference kernel.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ferry {

struct SdpHead {
  const float* q;  // S rows of d floats, row stride ldq
  int64_t ldq;
  const float* k;     // k_transposed: KT, d rows of t floats (stride ldk); else K, t rows of d floats (stride ldk)
  int64_t ldk;
  bool k_transposed;
  const float* v;  // T rows of dv floats, row stride ldv
  int64_t ldv;
  float* y;  // S rows of dv floats, row stride ldy
  int64_t ldy;
  int64_t s, t, d, dv;
  float scale;
};

// True when the CPU has AVX-512F (checked once).
bool sdp_avx512_available();
// Floats of scratch sdp_head_avx512 needs for t keys of d dims and values of dv dims.
size_t sdp_avx512_scratch_floats(int64_t t, int64_t d, int64_t dv);
// Computes query rows [r0, r1) of one head into h.y. `scratch`: sdp_avx512_scratch_floats(h.t, h.d, h.dv) floats.
void sdp_head_avx512(const SdpHead& h, int64_t r0, int64_t r1, float* scratch);

}  // namespace ferry
