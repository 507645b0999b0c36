// attention.cu — fused scaled-dot-product attention for short sequences: out = softmax(Q K^T * scale + mask) V.
//
// FP16/BF16 with head_dim a multiple of 16 take the tensor-core kernel (WMMA 16x16x16, FP32 accumulate): a block
// of 8 (or 4) warps stages K and V of one (batch, head) in shared memory once (cp.async); each warp takes a
// 16-query tile: S = Q K^T into a per-warp FP32 row buffer, softmax rows in place (P written as T over the row it
// was computed from), then O = P V in accumulator fragments, scaled by 1/rowsum on the way out. Shared memory grows
// with seq_k (ViT, S = 197, D = 64, 8 warps: ~186 KB). FP32, other head dims, and sequences too long for that take
// the CUDA-core kernel: K transposed ([D][Sk], a lane per key reads conflict-free) and V in shared memory, a warp
// per query.
#include <cuda_pipeline.h>
#include <mma.h>

#include <cstdlib>
#include <cstring>

#include "attention_mma.cuh"
#include "common.cuh"
#include "launch.h"

namespace ferry::cuda::kernels {
namespace {

// ---------------------------------------------------------------- tensor-core kernel (FP16/BF16)
// A block runs W warps (8, or 4 when 8 do not fit in shared memory), one 16-query tile each. A softmax row is
// held in registers as kTcChunks values per lane, so this kernel takes seq_k <= 32 * kTcChunks.
constexpr int kTcChunks = 16;

struct TcLayout {  // shared-memory layout in bytes; every region 128-byte aligned
  int sk_pad, ld_s;
  size_t k_off, v_off, q_off, s_off, r_off, total;
};
template <typename T, int D, int W>
TcLayout tc_layout(int seq_k) {
  TcLayout l;
  constexpr int ldk = D + 8;
  l.sk_pad = (seq_k + 15) / 16 * 16;
  l.ld_s = (l.sk_pad > D ? l.sk_pad : D) + 4;
  auto up = [](size_t v) { return (v + 127) / 128 * 128; };
  l.k_off = 0;
  l.v_off = up(l.k_off + size_t(l.sk_pad) * ldk * sizeof(T));
  l.q_off = up(l.v_off + size_t(l.sk_pad) * ldk * sizeof(T));
  l.s_off = up(l.q_off + size_t(W) * 16 * ldk * sizeof(T));
  l.r_off = up(l.s_off + size_t(W) * 16 * l.ld_s * sizeof(float));
  l.total = l.r_off + W * 16 * sizeof(float);
  return l;
}

// Copies rows [0, rows) of a [rows][D] matrix with row stride `stride` into shared memory with row stride D + 8,
// zero-filling rows [rows, rows_pad). With `vec`, 16-byte asynchronous copies (cp.async), all in flight at once:
// the caller waits with __pipeline_wait_prior(0) and a barrier. (Plain loads, one at a time per thread, left the
// first version latency-bound: 63 us per block for ViT at batch 256.)
template <typename T, int D>
__device__ __forceinline__ void stage_rows(T* dst, const T* src, int64_t stride, int rows, int rows_pad, bool vec,
                                           int tid, int nthreads) {
  constexpr int ldk = D + 8, kN = Pack<T>::kN;
  if (vec) {
    for (int i = tid; i < rows_pad * (D / kN); i += nthreads) {
      int r = i / (D / kN), c = (i % (D / kN)) * kN;
      if (r < rows)
        __pipeline_memcpy_async(dst + r * ldk + c, src + r * stride + c, 16);
      else
        *reinterpret_cast<uint4*>(dst + r * ldk + c) = make_uint4(0, 0, 0, 0);
    }
  } else {
    for (int i = tid; i < rows_pad * D; i += nthreads) {
      int r = i / D, c = i % D;
      dst[r * ldk + c] = r < rows ? src[r * stride + c] : from_f<T>(0.f);
    }
  }
  __pipeline_commit();
}

template <typename T, int D, int W>
__global__ void __launch_bounds__(W * 32) attention_tc_kernel(const T* __restrict__ q, const T* __restrict__ k,
                                                                     const T* __restrict__ v,
                                                                     const float* __restrict__ mask,
                                                                     T* __restrict__ out, const AttentionDesc d,
                                                                     const TcLayout l, bool vec) {
  using namespace nvcuda;
  constexpr int ldk = D + 8;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* ks = reinterpret_cast<T*>(smem_raw + l.k_off);
  T* vs = reinterpret_cast<T*>(smem_raw + l.v_off);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, b = blockIdx.z, h = blockIdx.y;
  T* qs = reinterpret_cast<T*>(smem_raw + l.q_off) + warp * 16 * ldk;
  float* ss = reinterpret_cast<float*>(smem_raw + l.s_off) + size_t(warp) * 16 * l.ld_s;
  float* rinv = reinterpret_cast<float*>(smem_raw + l.r_off) + warp * 16;
  T* ps = reinterpret_cast<T*>(ss);  // P row r overwrites S row r (same byte stride: ld 2 * ld_s in T)
  const int ld_p = 2 * l.ld_s, sk = d.seq_k, sk_pad = l.sk_pad;

  stage_rows<T, D>(ks, k + b * d.k_strides[0] + h * d.k_strides[1], d.k_strides[2], sk, sk_pad, vec, threadIdx.x,
                   blockDim.x);
  stage_rows<T, D>(vs, v + b * d.v_strides[0] + h * d.v_strides[1], d.v_strides[2], sk, sk_pad, vec, threadIdx.x,
                   blockDim.x);
  __pipeline_wait_prior(0);
  __syncthreads();

  const int tiles = (d.seq_q + 15) / 16, t_begin = blockIdx.x * W, t_end = min(tiles, t_begin + W);
  const float* mbase = mask ? mask + b * d.mask_strides[0] + h * d.mask_strides[1] : nullptr;
  for (int t = t_begin + warp; t < t_end; t += W) {
    const int q0 = t * 16, qrows = min(16, d.seq_q - q0);
    stage_rows<T, D>(qs, q + b * d.q_strides[0] + h * d.q_strides[1] + int64_t(q0) * d.q_strides[2], d.q_strides[2],
                     qrows, 16, vec, lane, 32);
    __pipeline_wait_prior(0);
    __syncwarp();
    // S = Q K^T (unscaled), 16 x sk_pad; the Q fragments are loaded once.
    wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fq[D / 16];
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) wmma::load_matrix_sync(fq[kk], qs + kk * 16, ldk);
    for (int n = 0; n < sk_pad / 16; ++n) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.f);
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> fb;
        wmma::load_matrix_sync(fb, ks + n * 16 * ldk + kk * 16, ldk);
        wmma::mma_sync(acc, fq[kk], fb, acc);
      }
      wmma::store_matrix_sync(ss + n * 16, acc, l.ld_s, wmma::mem_row_major);
    }
    __syncwarp();
    // Softmax, two rows at a time: each lane keeps its (up to kTcChunks) values of both rows in registers, so
    // all reads of a row happen before the one __syncwarp and the in-place P writes that follow it.
    for (int r = 0; r < 16; r += 2) {
      float val[2][kTcChunks], mx[2], sum[2];
#pragma unroll
      for (int h2 = 0; h2 < 2; ++h2) {
        const float* srow = ss + (r + h2) * l.ld_s;
        const float* mrow = mbase && r + h2 < qrows ? mbase + int64_t(q0 + r + h2) * d.mask_strides[2] : nullptr;
        mx[h2] = -INFINITY;
#pragma unroll
        for (int c = 0; c < kTcChunks; ++c) {
          int j = c * 32 + lane;
          float x = -INFINITY;
          if (j < sk) x = srow[j] * d.scale + (mrow ? mrow[j * d.mask_strides[3]] : 0.f);
          val[h2][c] = x;
          mx[h2] = fmaxf(mx[h2], x);
        }
      }
#pragma unroll
      for (int h2 = 0; h2 < 2; ++h2) mx[h2] = warp_max(mx[h2]);
      __syncwarp();
#pragma unroll
      for (int h2 = 0; h2 < 2; ++h2) {
        T* prow = ps + (r + h2) * ld_p;
        sum[h2] = 0.f;
#pragma unroll
        for (int c = 0; c < kTcChunks; ++c) {
          int j = c * 32 + lane;
          if (j < sk_pad) {
            T pt = from_f<T>(mx[h2] == -INFINITY ? 0.f : __expf(val[h2][c] - mx[h2]));
            prow[j] = pt;
            sum[h2] += to_f(pt);  // normalize by the sum of the rounded weights that P V uses
          }
        }
      }
#pragma unroll
      for (int h2 = 0; h2 < 2; ++h2) {
        sum[h2] = warp_sum(sum[h2]);
        if (lane == 0) rinv[r + h2] = sum[h2] > 0.f ? 1.f / sum[h2] : 0.f;
      }
    }
    __syncwarp();
    // O = P V, D/16 accumulator tiles kept in registers, then written over the S buffer.
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> o[D / 16];
#pragma unroll
    for (int n = 0; n < D / 16; ++n) wmma::fill_fragment(o[n], 0.f);
    for (int kk = 0; kk < sk_pad / 16; ++kk) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa;
      wmma::load_matrix_sync(fa, ps + kk * 16, ld_p);
#pragma unroll
      for (int n = 0; n < D / 16; ++n) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> fb;
        wmma::load_matrix_sync(fb, vs + kk * 16 * ldk + n * 16, ldk);
        wmma::mma_sync(o[n], fa, fb, o[n]);
      }
    }
    __syncwarp();
#pragma unroll
    for (int n = 0; n < D / 16; ++n) wmma::store_matrix_sync(ss + n * 16, o[n], l.ld_s, wmma::mem_row_major);
    __syncwarp();
    T* obase = out + b * d.o_strides[0] + h * d.o_strides[1] + int64_t(q0) * d.o_strides[2];
    for (int i = lane; i < qrows * D; i += 32) {
      int r = i / D, c = i % D;
      obase[r * d.o_strides[2] + c] = from_f<T>(ss[r * l.ld_s + c] * rinv[r]);
    }
    __syncwarp();
  }
}

template <typename T, int D, int W>
cudaError_t launch_tc_warps(const T* q, const T* k, const T* v, const float* mask, T* out, const AttentionDesc& d,
                            const TcLayout& l, bool vec, cudaStream_t stream) {
  cudaError_t e = cudaFuncSetAttribute(attention_tc_kernel<T, D, W>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       int(l.total));
  if (e != cudaSuccess) return e;
  int tiles = (d.seq_q + 15) / 16;
  dim3 grid((tiles + W - 1) / W, d.heads, d.batch);
  attention_tc_kernel<T, D, W><<<grid, W * 32, l.total, stream>>>(q, k, v, mask, out, d, l, vec);
  return launch_result();
}

// Launches the tensor-core kernel; cudaErrorNotSupported when it does not apply (the caller falls back).
template <typename T, int D>
cudaError_t launch_attention_tc(const T* q, const T* k, const T* v, const float* mask, T* out, const AttentionDesc& d,
                                int smem_limit, cudaStream_t stream) {
  if constexpr (sizeof(T) != 2) {
    return cudaErrorNotSupported;
  } else {
    if (d.seq_k > 32 * kTcChunks) return cudaErrorNotSupported;
    constexpr int kN = Pack<T>::kN;
    bool vec = aligned16(q) && aligned16(k) && aligned16(v);
    for (int i = 0; i < 3; ++i) vec = vec && d.q_strides[i] % kN == 0 && d.k_strides[i] % kN == 0 && d.v_strides[i] % kN == 0;
    TcLayout l8 = tc_layout<T, D, 8>(d.seq_k), l4 = tc_layout<T, D, 4>(d.seq_k);
    if (l8.total <= size_t(smem_limit)) return launch_tc_warps<T, D, 8>(q, k, v, mask, out, d, l8, vec, stream);
    if (l4.total <= size_t(smem_limit)) return launch_tc_warps<T, D, 4>(q, k, v, mask, out, d, l4, vec, stream);
    return cudaErrorNotSupported;
  }
}

// ---------------------------------------------------------------- CUDA-core kernel
constexpr int kWarps = 4, kQPerBlock = 32, kKeys = 4;

template <typename T, int D>
__global__ void __launch_bounds__(kWarps * 32) attention_kernel(const T* __restrict__ q, const T* __restrict__ k,
                                                                const T* __restrict__ v,
                                                                const float* __restrict__ mask, T* __restrict__ out,
                                                                const AttentionDesc d) {
  extern __shared__ __align__(128) unsigned char smem_raw[];
  const int sk = d.seq_k;
  T* kt = reinterpret_cast<T*>(smem_raw);                 // [D][sk]
  T* vs = kt + D * sk;                                    // [sk][D]
  float* qs = reinterpret_cast<float*>(vs + sk * D);      // [kWarps][D]   (offset 16-byte aligned: D*sk*2*sizeof(T))
  float* ps = qs + kWarps * D;                            // [kWarps][sk]
  const int b = blockIdx.z, h = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const T* kb = k + b * d.k_strides[0] + h * d.k_strides[1];
  const T* vb = v + b * d.v_strides[0] + h * d.v_strides[1];
  for (int i = threadIdx.x; i < sk * D; i += blockDim.x) {
    int j = i / D, c = i % D;
    kt[c * sk + j] = kb[j * d.k_strides[2] + c];
    vs[j * D + c] = vb[j * d.v_strides[2] + c];
  }
  __syncthreads();
  const float* mrow_base = mask ? mask + b * d.mask_strides[0] + h * d.mask_strides[1] : nullptr;
  float* qw = qs + warp * D;
  float* pw = ps + warp * sk;
  const int q_end = min(d.seq_q, int(blockIdx.x + 1) * kQPerBlock);
  for (int qi = blockIdx.x * kQPerBlock + warp; qi < q_end; qi += kWarps) {
    const T* qrow = q + b * d.q_strides[0] + h * d.q_strides[1] + int64_t(qi) * d.q_strides[2];
    for (int c = lane; c < D; c += 32) qw[c] = to_f(qrow[c]) * d.scale;
    __syncwarp();
    const float* mrow = mrow_base ? mrow_base + int64_t(qi) * d.mask_strides[2] : nullptr;
    float mx = -INFINITY;
    for (int j0 = lane; j0 < sk; j0 += 32 * kKeys) {
      float acc[kKeys] = {};
#pragma unroll 8
      for (int c = 0; c < D; ++c) {
        float qc = qw[c];
#pragma unroll
        for (int t = 0; t < kKeys; ++t) {
          int j = j0 + 32 * t;
          if (j < sk) acc[t] += qc * to_f(kt[c * sk + j]);
        }
      }
#pragma unroll
      for (int t = 0; t < kKeys; ++t) {
        int j = j0 + 32 * t;
        if (j < sk) {
          float s = acc[t] + (mrow ? mrow[j * d.mask_strides[3]] : 0.f);
          pw[j] = s;
          mx = fmaxf(mx, s);
        }
      }
    }
    mx = warp_max(mx);
    float sum = 0.f;
    for (int j = lane; j < sk; j += 32) {
      float p = mx == -INFINITY ? 0.f : __expf(pw[j] - mx);
      pw[j] = p;
      sum += p;
    }
    sum = warp_sum(sum);
    float inv = sum > 0.f ? 1.f / sum : 0.f;
    __syncwarp();
    constexpr int kDims = D / 32;  // head dims per lane: lane, lane + 32, ...
    float o[kDims] = {};
    for (int j = 0; j < sk; ++j) {
      float p = pw[j];
#pragma unroll
      for (int t = 0; t < kDims; ++t) o[t] += p * to_f(vs[j * D + lane + 32 * t]);
    }
    T* orow = out + b * d.o_strides[0] + h * d.o_strides[1] + int64_t(qi) * d.o_strides[2];
#pragma unroll
    for (int t = 0; t < kDims; ++t) orow[lane + 32 * t] = from_f<T>(o[t] * inv);
    __syncwarp();
  }
}

template <typename T, int D>
cudaError_t launch_attention(const T* q, const T* k, const T* v, const float* mask, T* out, const AttentionDesc& d,
                             cudaStream_t stream) {
  int dev = 0, limit = 0;
  cudaError_t e = cudaGetDevice(&dev);
  if (e != cudaSuccess) return e;
  e = cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
  if (e != cudaSuccess) return e;
  // FERRY_ATTENTION_KERNEL=wmma|simt forces an older kernel (A/B timing, debugging); default: mma, then wmma.
  static const char* force = std::getenv("FERRY_ATTENTION_KERNEL");
  bool simt = force && std::strcmp(force, "simt") == 0, wmma_only = force && std::strcmp(force, "wmma") == 0;
  if (!simt && !wmma_only) {
    e = mma_attn::launch<T, D>(q, k, v, mask, out, d, limit, stream);
    if (e != cudaErrorNotSupported) return e;
  }
  if (!simt) {
    e = launch_attention_tc<T, D>(q, k, v, mask, out, d, limit, stream);
    if (e != cudaErrorNotSupported) return e;
  }
  size_t smem = size_t(d.seq_k) * D * 2 * sizeof(T) + sizeof(float) * kWarps * (D + d.seq_k);
  if (smem > size_t(limit)) return cudaErrorInvalidValue;  // sequence too long for this kernel
  e = cudaFuncSetAttribute(attention_kernel<T, D>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
  if (e != cudaSuccess) return e;
  dim3 grid((d.seq_q + kQPerBlock - 1) / kQPerBlock, d.heads, d.batch);
  attention_kernel<T, D><<<grid, kWarps * 32, smem, stream>>>(q, k, v, mask, out, d);
  return launch_result();
}

}  // namespace

template <typename T>
cudaError_t attention(const T* q, const T* k, const T* v, const float* mask, T* out, const AttentionDesc& d,
                      cudaStream_t stream) {
  if (d.batch < 0 || d.heads < 0 || d.seq_q < 0 || d.seq_k < 1 || d.batch > 65535 || d.heads > 65535)
    return cudaErrorInvalidValue;
  if (d.batch == 0 || d.heads == 0 || d.seq_q == 0) return cudaSuccess;
  switch (d.head_dim) {
    case 32: return launch_attention<T, 32>(q, k, v, mask, out, d, stream);
    case 64: return launch_attention<T, 64>(q, k, v, mask, out, d, stream);
    case 128: return launch_attention<T, 128>(q, k, v, mask, out, d, stream);
    default: return cudaErrorInvalidValue;
  }
}

#define FERRY_ATTN(T) \
  template cudaError_t attention<T>(const T*, const T*, const T*, const float*, T*, const AttentionDesc&, cudaStream_t);
FERRY_INSTANTIATE_T(FERRY_ATTN)

}  // namespace ferry::cuda::kernels
