// attention_mma.cuh — the flash-style FP16/BF16 attention kernel (mma.sync m16n8k16 through inline PTX), included
// by attention.cu only.
//
// A block of kWarps warps stages K and V of one (batch, head) in shared memory (cp.async, rows padded to D + 8
// elements so ldmatrix is conflict-free); each warp takes 16-query tiles (one, or up to four when batch x heads
// fills the chip, so K/V are staged once per pair) and walks the keys 32 at a time: S = Q K^T in registers (C
// fragments), online softmax (running max and sum per row, reduced over the 4 lanes of a quad), the C fragments of
// P re-packed as A fragments, O += P V with V read through ldmatrix.trans. Only K/V/Q go through shared memory, so
// ViT's S = 197, D = 64 needs ~69 KB and three blocks share an SM.
// Fragment layouts (PTX ISA, mma.m16n8k16): g = lane / 4, t = lane % 4; A regs: (g, 2t), (g+8, 2t), (g, 2t+8),
// (g+8, 2t+8); B regs: (k 2t, n g), (k 2t+8, n g); C: c0,c1 = (g, 2t..2t+1), c2,c3 = (g+8, 2t..2t+1).
#pragma once

#include <cuda_pipeline.h>

#include <algorithm>

#include "common.cuh"
#include "launch.h"

namespace ferry::cuda::kernels {
namespace mma_attn {

constexpr int kWarps = 4, kKeyTile = 32;

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}

template <typename T>
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);
template <>
__device__ __forceinline__ void mma16816<__half>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
               "{%0,%1,%2,%3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void mma16816<__nv_bfloat16>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                                        uint32_t b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
               "{%0,%1,%2,%3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  T l = from_f<T>(lo), h = from_f<T>(hi);
  uint16_t ul = *reinterpret_cast<uint16_t*>(&l), uh = *reinterpret_cast<uint16_t*>(&h);
  return uint32_t(ul) | (uint32_t(uh) << 16);
}

struct Layout {  // bytes
  int sk_pad;
  size_t k_off, v_off, q_off, total;
};
template <typename T, int D>
Layout layout(int seq_k) {
  constexpr int ld = D + 8;
  Layout l;
  l.sk_pad = (seq_k + kKeyTile - 1) / kKeyTile * kKeyTile;
  l.k_off = 0;
  l.v_off = size_t(l.sk_pad) * ld * sizeof(T);
  l.q_off = 2 * l.v_off;
  l.total = l.q_off + size_t(kWarps) * 16 * ld * sizeof(T);
  return l;
}

// Rows [0, rows) of a [rows][D] matrix (row stride `stride`) to shared memory (row stride D + 8); rows up to
// rows_pad are zero. Needs 16-byte aligned rows (checked by the caller).
template <typename T, int D>
__device__ __forceinline__ void stage(T* dst, const T* src, int64_t stride, int rows, int rows_pad, int tid, int nt) {
  constexpr int ld = D + 8, kN = 8;  // 8 x 16-bit per 16 bytes
  for (int i = tid; i < rows_pad * (D / kN); i += nt) {
    int r = i / (D / kN), c = (i % (D / kN)) * kN;
    if (r < rows)
      __pipeline_memcpy_async(dst + r * ld + c, src + r * stride + c, 16);
    else
      *reinterpret_cast<uint4*>(dst + r * ld + c) = make_uint4(0, 0, 0, 0);
  }
  __pipeline_commit();
}

// One warp, one 16-query tile (queries q0 .. q0 + qrows - 1) against all keys staged in ks/vs.
template <typename T, int D>
__device__ __forceinline__ void attend_tile(const T* qs, const T* ks, const T* vs, const float* __restrict__ mask,
                                            T* __restrict__ out, const AttentionDesc& d, const Layout& l, int b,
                                            int h, int q0, int qrows, int lane) {
  constexpr int ld = D + 8;
  const int g = lane >> 2, t = lane & 3;
  uint32_t qa[D / 16][4];
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk)
    ldmatrix_x4(qa[kk], qs + ((lane & 7) + ((lane >> 3) & 1) * 8) * ld + kk * 16 + (lane >> 4) * 8);

  float o[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
  float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.f, 0.f};
  const float* mrow[2] = {nullptr, nullptr};
  if (mask) {
    const float* mb = mask + b * d.mask_strides[0] + h * d.mask_strides[1];
    mrow[0] = g < qrows ? mb + int64_t(q0 + g) * d.mask_strides[2] : nullptr;
    mrow[1] = g + 8 < qrows ? mb + int64_t(q0 + g + 8) * d.mask_strides[2] : nullptr;
  }

  for (int kt = 0; kt < l.sk_pad; kt += kKeyTile) {
    float s[kKeyTile / 8][4];
#pragma unroll
    for (int n = 0; n < kKeyTile / 8; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
#pragma unroll
    for (int n = 0; n < kKeyTile / 8; ++n) {
#pragma unroll
      for (int kk = 0; kk < D / 16; kk += 2) {  // one ldmatrix.x4: B fragments of k-steps kk and kk + 1
        uint32_t bf[4];
        ldmatrix_x4(bf, ks + (kt + n * 8 + (lane & 7)) * ld + kk * 16 + (lane >> 3) * 8);
        mma16816<T>(s[n], qa[kk], bf[0], bf[1]);
        if (kk + 1 < D / 16) mma16816<T>(s[n], qa[kk + 1], bf[2], bf[3]);
      }
    }
    // Scale, mask, and the online softmax update (rows g and g + 8 of this warp's tile).
    float tmax[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int n = 0; n < kKeyTile / 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        int key = kt + n * 8 + 2 * t + (e & 1), r = e >> 1;
        float x = s[n][e] * d.scale;
        if (key >= d.seq_k) x = -INFINITY;
        else if (mrow[r]) x += mrow[r][key * d.mask_strides[3]];
        s[n][e] = x;
        tmax[r] = fmaxf(tmax[r], x);
      }
    float corr[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      tmax[r] = fmaxf(tmax[r], __shfl_xor_sync(0xffffffffu, tmax[r], 1));
      tmax[r] = fmaxf(tmax[r], __shfl_xor_sync(0xffffffffu, tmax[r], 2));
      float m_new = fmaxf(m_run[r], tmax[r]);
      corr[r] = m_new == -INFINITY ? 1.f : __expf(m_run[r] - m_new);
      m_run[r] = m_new;
      l_run[r] *= corr[r];
    }
    uint32_t pa[kKeyTile / 16][4];
#pragma unroll
    for (int n = 0; n < kKeyTile / 8; ++n) {
      float p[4];
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        int r = e >> 1;
        p[e] = m_run[r] == -INFINITY ? 0.f : __expf(s[n][e] - m_run[r]);
        l_run[r] += p[e];
      }
      // C fragment of key tile n -> A fragment of k-step n / 2 (regs 0,1 from even n; 2,3 from odd n).
      pa[n >> 1][(n & 1) * 2 + 0] = pack2<T>(p[0], p[1]);
      pa[n >> 1][(n & 1) * 2 + 1] = pack2<T>(p[2], p[3]);
    }
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      o[n][0] *= corr[0];
      o[n][1] *= corr[0];
      o[n][2] *= corr[1];
      o[n][3] *= corr[1];
    }
#pragma unroll
    for (int ks16 = 0; ks16 < kKeyTile / 16; ++ks16) {
#pragma unroll
      for (int n = 0; n < D / 8; n += 2) {  // one ldmatrix.x4.trans: B fragments of d-tiles n and n + 1
        uint32_t bf[4];
        ldmatrix_x4_trans(bf, vs + (kt + ks16 * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * ld + n * 8 + (lane >> 4) * 8);
        mma16816<T>(o[n], pa[ks16], bf[0], bf[1]);
        mma16816<T>(o[n + 1], pa[ks16], bf[2], bf[3]);
      }
    }
  }
  // Row sums are partial per lane: finish them over the quad, then write O / l.
  float inv[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l_run[r] += __shfl_xor_sync(0xffffffffu, l_run[r], 1);
    l_run[r] += __shfl_xor_sync(0xffffffffu, l_run[r], 2);
    inv[r] = l_run[r] > 0.f ? 1.f / l_run[r] : 0.f;
  }
  T* ob = out + b * d.o_strides[0] + h * d.o_strides[1];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    int row = g + 8 * r;
    if (row >= qrows) continue;
    T* orow = ob + int64_t(q0 + row) * d.o_strides[2];
#pragma unroll
    for (int n = 0; n < D / 8; ++n)
      *reinterpret_cast<uint32_t*>(orow + n * 8 + 2 * t) = pack2<T>(o[n][2 * r] * inv[r], o[n][2 * r + 1] * inv[r]);
  }
}

template <typename T, int D>
__global__ void __launch_bounds__(kWarps * 32) kernel(const T* __restrict__ q, const T* __restrict__ k,
                                                      const T* __restrict__ v, const float* __restrict__ mask,
                                                      T* __restrict__ out, const AttentionDesc d, const Layout l,
                                                      int tiles_per_warp) {
  constexpr int ld = D + 8;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* ks = reinterpret_cast<T*>(smem_raw + l.k_off);
  T* vs = reinterpret_cast<T*>(smem_raw + l.v_off);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, b = blockIdx.z, h = blockIdx.y;
  T* qs = reinterpret_cast<T*>(smem_raw + l.q_off) + warp * 16 * ld;

  stage<T, D>(ks, k + b * d.k_strides[0] + h * d.k_strides[1], d.k_strides[2], d.seq_k, l.sk_pad, threadIdx.x,
              blockDim.x);
  stage<T, D>(vs, v + b * d.v_strides[0] + h * d.v_strides[1], d.v_strides[2], d.seq_k, l.sk_pad, threadIdx.x,
              blockDim.x);
  __pipeline_wait_prior(0);
  __syncthreads();
  const int tiles = (d.seq_q + 15) / 16, t_end = min(tiles, (blockIdx.x + 1) * kWarps * tiles_per_warp);
  for (int tile = blockIdx.x * kWarps * tiles_per_warp + warp; tile < t_end; tile += kWarps) {
    const int q0 = tile * 16, qrows = min(16, d.seq_q - q0);
    __syncwarp();  // the previous tile's ldmatrix reads of qs are done
    stage<T, D>(qs, q + b * d.q_strides[0] + h * d.q_strides[1] + int64_t(q0) * d.q_strides[2], d.q_strides[2],
                qrows, 16, lane, 32);
    __pipeline_wait_prior(0);
    __syncwarp();
    attend_tile<T, D>(qs, ks, vs, mask, out, d, l, b, h, q0, qrows, lane);
  }
}

// cudaErrorNotSupported when this kernel does not apply (unaligned rows, or K/V too long for shared memory).
template <typename T, int D>
cudaError_t launch(const T* q, const T* k, const T* v, const float* mask, T* out, const AttentionDesc& d,
                   int smem_limit, cudaStream_t stream) {
  if constexpr (sizeof(T) != 2 || D % 16 != 0) {
    return cudaErrorNotSupported;
  } else {
    Layout l = layout<T, D>(d.seq_k);
    bool ok = l.total <= size_t(smem_limit) && aligned16(q) && aligned16(k) && aligned16(v) && (d.o_strides[2] % 2 == 0);
    for (int i = 0; i < 3; ++i) ok = ok && d.q_strides[i] % 8 == 0 && d.k_strides[i] % 8 == 0 && d.v_strides[i] % 8 == 0;
    ok = ok && d.o_strides[0] % 2 == 0 && d.o_strides[1] % 2 == 0 && (reinterpret_cast<uintptr_t>(out) & 3) == 0;
    if (!ok) return cudaErrorNotSupported;
    cudaError_t e = cudaFuncSetAttribute(kernel<T, D>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(l.total));
    if (e != cudaSuccess) return e;
    // With enough (batch, head) pairs to fill the chip, one block takes all query tiles of a pair (K/V staged once);
    // otherwise one tile per warp, for more blocks at small batch.
    int tiles = (d.seq_q + 15) / 16, tpw = 1;
    if (int64_t(d.batch) * d.heads >= 264) tpw = std::min(4, (tiles + kWarps - 1) / kWarps);
    dim3 grid((tiles + kWarps * tpw - 1) / (kWarps * tpw), d.heads, d.batch);
    kernel<T, D><<<grid, kWarps * 32, l.total, stream>>>(q, k, v, mask, out, d, l, tpw);
    return launch_result();
  }
}

}  // namespace mma_attn
}  // namespace ferry::cuda::kernels
