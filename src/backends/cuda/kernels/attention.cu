// attention.cu — fused scaled-dot-product attention for short sequences: out = softmax(Q K^T * scale + mask) V.
//
// A block of kWarps warps takes one (batch, head) and kQPerBlock queries. It stages K transposed ([D][Sk], so a
// lane per key reads conflict-free) and V ([Sk][D]) in shared memory once, then each warp handles its queries one
// at a time: a lane per key computes scores (kKeys keys per pass to reuse each q value), the warp takes the max
// and the sum of exp, and a lane per pair of head dims accumulates P V. Everything in FP32; K/V stay in T in shared
// memory (Sk * D * 2 * sizeof(T) bytes, so FP16 with D = 64 fits ~800 keys). This is the CUDA-core version: right
// for bert_tiny (S = 128) and ViT (S = 197); a tensor-core flash kernel is the next step for large batches.
#include "common.cuh"
#include "launch.h"

namespace ferry::cuda::kernels {
namespace {

constexpr int kWarps = 4, kQPerBlock = 32, kKeys = 4;

template <typename T, int D>
__global__ void __launch_bounds__(kWarps * 32) attention_kernel(const T* __restrict__ q, const T* __restrict__ k,
                                                                const T* __restrict__ v,
                                                                const float* __restrict__ mask, T* __restrict__ out,
                                                                const AttentionDesc d) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
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
  size_t smem = size_t(d.seq_k) * D * 2 * sizeof(T) + sizeof(float) * kWarps * (D + d.seq_k);
  int dev = 0, limit = 0;
  cudaError_t e = cudaGetDevice(&dev);
  if (e != cudaSuccess) return e;
  e = cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
  if (e != cudaSuccess) return e;
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
