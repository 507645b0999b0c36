// cuda_depthwise.cu — depthwise (group = C = K) NHWC FP16/BF16 convolution with the conv op's epilogue: + bias,
// + residual z, Relu or Clip(0, hi). One thread computes 8 consecutive channels (one 16-byte pack) of one output
// pixel, FP32 accumulation; the filter is stored [R, S, C] (conv_layout.h filter_to_rsc) so each tap is one 16-byte
// load of x and one of w. Memory-bound: cuDNN's legacy NHWC FP16 depthwise kernels ran 10-20x above the byte floor
// on the H100 (gpu.md); this kernel took mobilenet_v2 b256 from 7.60 to 4.96 ms. The default; FERRY_CUDA_DW_KERNEL=0
// falls back to cuDNN.
#include <algorithm>

#include "backends/cuda/cuda_ops.h"
#include "backends/cuda/kernels/common.cuh"

namespace ferry::cuda {

namespace {

namespace k = kernels;

template <typename T>
__global__ void depthwise_nhwc8(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                                const T* __restrict__ z, T* __restrict__ y, DepthwiseParams d) {
  const int cg = d.c / 8;
  const int64_t total = static_cast<int64_t>(d.n) * d.p * d.q * cg;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int c0 = static_cast<int>(i % cg) * 8;
    const int64_t pix = i / cg;
    const int oq = static_cast<int>(pix % d.q);
    const int64_t t = pix / d.q;
    const int op = static_cast<int>(t % d.p);
    const int64_t b = t / d.p;
    float acc[8];
    const k::Pack<T> bp = k::load_pack(bias + c0);
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[j] = k::to_f(bp.v[j]);
    for (int r = 0; r < d.r; ++r) {
      const int ih = op * d.stride_h - d.pad_h + r * d.dil_h;
      if (ih < 0 || ih >= d.h) continue;
      for (int s = 0; s < d.s; ++s) {
        const int iw = oq * d.stride_w - d.pad_w + s * d.dil_w;
        if (iw < 0 || iw >= d.w) continue;
        const k::Pack<T> xv = k::load_pack(x + ((b * d.h + ih) * d.w + iw) * d.c + c0);
        const k::Pack<T> wv = k::load_pack(w + (static_cast<int64_t>(r) * d.s + s) * d.c + c0);
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[j] = fmaf(k::to_f(xv.v[j]), k::to_f(wv.v[j]), acc[j]);
      }
    }
    const int64_t out = pix * d.c + c0;
    if (z) {
      const k::Pack<T> zv = k::load_pack(z + out);
#pragma unroll
      for (int j = 0; j < 8; ++j) acc[j] += k::to_f(zv.v[j]);
    }
    k::Pack<T> yv;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      float v = acc[j];
      if (d.act != 0 && v < 0.0f) v = 0.0f;  // NaN stays NaN (comparisons are false)
      if (d.act == 2 && v > d.hi) v = d.hi;
      yv.v[j] = k::from_f<T>(v);
    }
    *reinterpret_cast<uint4*>(y + out) = *reinterpret_cast<const uint4*>(&yv);
  }
}

template <typename T>
cudaError_t launch(const void* x, const void* w, const void* b, const void* z, void* y, const DepthwiseParams& d,
                   cudaStream_t stream) {
  const int64_t total = static_cast<int64_t>(d.n) * d.p * d.q * (d.c / 8);
  const int64_t blocks = std::min<int64_t>((total + 255) / 256, 132 * 64);
  depthwise_nhwc8<T><<<static_cast<unsigned>(std::max<int64_t>(blocks, 1)), 256, 0, stream>>>(
      static_cast<const T*>(x), static_cast<const T*>(w), static_cast<const T*>(b), static_cast<const T*>(z),
      static_cast<T*>(y), d);
  return cudaGetLastError();
}

}  // namespace

cudaError_t depthwise_conv_nhwc(DType dtype, const void* x, const void* w, const void* bias, const void* z, void* y,
                                const DepthwiseParams& d, cudaStream_t stream) {
  if (d.c % 8 != 0 || d.c <= 0) return cudaErrorInvalidValue;
  if (dtype == DType::kFloat16) return launch<__half>(x, w, bias, z, y, d, stream);
  if (dtype == DType::kBFloat16) return launch<__nv_bfloat16>(x, w, bias, z, y, d, stream);
  return cudaErrorInvalidValue;
}

}  // namespace ferry::cuda
