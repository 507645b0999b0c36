// cuda_convert.cu — float32 <-> float16 / bfloat16 conversion and layout changes at the device program's API edges
// (inputs arrive as FP32, or already as the device's FP16/BF16 when the host staged them so).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

#include "backends/cuda/cuda_ops.h"
#include "backends/cuda/kernels/launch.h"

namespace ferry::cuda {

namespace {

template <typename T>
__global__ void from_f32(const float* __restrict__ src, T* __restrict__ dst, size_t n) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
    dst[i] = static_cast<T>(src[i]);
}

template <typename T>
__global__ void to_f32(const T* __restrict__ src, float* __restrict__ dst, size_t n) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
    dst[i] = static_cast<float>(src[i]);
}

// Stores a thread's N channel values (a 16-byte aligned register array) as 16-byte vectors: a warp's stores then
// cover whole sectors instead of one 2-4 byte element per thread 32 bytes apart.
template <typename T, int N>
__device__ __forceinline__ void store_channels(T* d, const T* v) {
  static_assert((N * sizeof(T)) % 16 == 0, "whole 16-byte vectors");
#pragma unroll
  for (int i = 0; i < static_cast<int>(N * sizeof(T) / 16); ++i)
    reinterpret_cast<uint4*>(d)[i] = reinterpret_cast<const uint4*>(v)[i];
}

// One thread per pixel: reads its c channels (coalesced across the warp per channel), writes cs stored channels
// (the ones past c zero) as one contiguous run. CS > 0: cs == CS known at compile time, stored as vectors.
template <typename S, typename T, int CS>
__global__ void nchw_to_nhwc_pad(const S* __restrict__ src, T* __restrict__ dst, int64_t n, int64_t c, int64_t hw,
                                 int64_t cs) {
  const int64_t pixels = n * hw;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < pixels;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t b = i / hw, p = i - b * hw;
    const S* s = src + b * c * hw + p;
    if constexpr (CS > 0) {
      __align__(16) T v[CS];
#pragma unroll
      for (int ch = 0; ch < CS; ++ch) v[ch] = ch < c ? static_cast<T>(s[ch * hw]) : static_cast<T>(0.0f);
      store_channels<T, CS>(dst + i * CS, v);
    } else {
      T* d = dst + i * cs;
      for (int64_t ch = 0; ch < cs; ++ch) d[ch] = ch < c ? static_cast<T>(s[ch * hw]) : static_cast<T>(0.0f);
    }
  }
}

// Space-to-depth of an image for a stride-2 stem conv (conv_layout.h): one thread per stored pixel (n, y, x) writes
// its cs channels; channel (dy * 2 + dx) * c + ch holds src[n, ch, 2y + dy - pad, 2x + dx - pad] (0 outside).
template <typename S, typename T, int CS>
__global__ void nchw_to_s2d(const S* __restrict__ src, T* __restrict__ dst, int64_t n, int64_t c, int64_t h,
                            int64_t w, int64_t pad, int64_t hs, int64_t ws, int64_t cs) {
  const int64_t pixels = n * hs * ws;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < pixels;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t b = i / (hs * ws), yx = i - b * hs * ws, y = yx / ws, x = yx - y * ws;
    auto value = [&](int64_t ch) {
      T v = static_cast<T>(0.0f);
      if (ch < 4 * c) {
        const int64_t q = ch / c, cc = ch - q * c, iy = 2 * y + q / 2 - pad, ix = 2 * x + q % 2 - pad;
        if (iy >= 0 && iy < h && ix >= 0 && ix < w) v = static_cast<T>(src[((b * c + cc) * h + iy) * w + ix]);
      }
      return v;
    };
    if constexpr (CS > 0) {
      __align__(16) T v[CS];
#pragma unroll
      for (int ch = 0; ch < CS; ++ch) v[ch] = value(ch);
      store_channels<T, CS>(dst + i * CS, v);
    } else {
      T* d = dst + i * cs;
      for (int64_t ch = 0; ch < cs; ++ch) d[ch] = value(ch);
    }
  }
}

// Launches kernel<CS> for the stored channel counts ferry uses (8: padded stems, 16: space-to-depth), else CS = 0.
template <typename Launch>
cudaError_t with_stored_channels(int64_t cs, Launch&& launch) {
  if (cs == 16) return launch(std::integral_constant<int, 16>{});
  if (cs == 8) return launch(std::integral_constant<int, 8>{});
  return launch(std::integral_constant<int, 0>{});
}

__global__ void fence_kernel() {}

unsigned grid_for(size_t n) {
  size_t blocks = (n + 255) / 256;
  return static_cast<unsigned>(blocks < 65535 ? (blocks ? blocks : 1) : 65535);
}

}  // namespace

// Calls f(src as S*, dst as T*) for the supported (src_type, dst_type) pairs: FP32 to any, FP16/BF16 to itself, and
// with kWiden also FP16/BF16 to FP32 (downloads).
template <bool kWiden = false, typename F>
cudaError_t with_edge_types(const void* src, DType src_type, void* dst, DType dst_type, F&& f) {
  if (src_type == DType::kFloat) {
    if (dst_type == DType::kFloat16) return f(static_cast<const float*>(src), static_cast<__half*>(dst));
    if (dst_type == DType::kBFloat16) return f(static_cast<const float*>(src), static_cast<__nv_bfloat16*>(dst));
    return f(static_cast<const float*>(src), static_cast<float*>(dst));
  }
  if constexpr (kWiden) {
    if (dst_type == DType::kFloat && src_type == DType::kFloat16)
      return f(static_cast<const __half*>(src), static_cast<float*>(dst));
    if (dst_type == DType::kFloat && src_type == DType::kBFloat16)
      return f(static_cast<const __nv_bfloat16*>(src), static_cast<float*>(dst));
  }
  if (src_type != dst_type) return cudaErrorInvalidValue;
  if (src_type == DType::kFloat16) return f(static_cast<const __half*>(src), static_cast<__half*>(dst));
  if (src_type == DType::kBFloat16)
    return f(static_cast<const __nv_bfloat16*>(src), static_cast<__nv_bfloat16*>(dst));
  return cudaErrorInvalidValue;
}

cudaError_t nchw_to_nhwc_padded(const void* src, DType src_type, void* dst, DType dst_type, int64_t n, int64_t c,
                                int64_t hw, int64_t c_stored, cudaStream_t stream) {
  if (c_stored < c) return cudaErrorInvalidValue;
  const unsigned grid = grid_for(static_cast<size_t>(n * hw));
  return with_edge_types(src, src_type, dst, dst_type, [&](auto* s, auto* d) {
    return with_stored_channels(c_stored, [&](auto cs) {
      using S = std::remove_const_t<std::remove_pointer_t<decltype(s)>>;
      using T = std::remove_pointer_t<decltype(d)>;
      nchw_to_nhwc_pad<S, T, decltype(cs)::value><<<grid, 256, 0, stream>>>(s, d, n, c, hw, c_stored);
      return cudaGetLastError();
    });
  });
}

cudaError_t nchw_to_space_to_depth(const void* src, DType src_type, void* dst, DType dst_type, int64_t n, int64_t c,
                                   int64_t h, int64_t w, int64_t pad, int64_t c_stored, cudaStream_t stream) {
  const int64_t hs = (h + 2 * pad + 1) / 2, ws = (w + 2 * pad + 1) / 2;
  if (c_stored < 4 * c || pad < 0) return cudaErrorInvalidValue;
  const unsigned grid = grid_for(static_cast<size_t>(n * hs * ws));
  return with_edge_types(src, src_type, dst, dst_type, [&](auto* s, auto* d) {
    return with_stored_channels(c_stored, [&](auto cs) {
      using S = std::remove_const_t<std::remove_pointer_t<decltype(s)>>;
      using T = std::remove_pointer_t<decltype(d)>;
      nchw_to_s2d<S, T, decltype(cs)::value><<<grid, 256, 0, stream>>>(s, d, n, c, h, w, pad, hs, ws, c_stored);
      return cudaGetLastError();
    });
  });
}

cudaError_t nchw_to_nhwc_typed(const void* src, DType src_type, void* dst, DType dst_type, int64_t n, int64_t c,
                               int64_t hw, cudaStream_t stream) {
  return with_edge_types(src, src_type, dst, dst_type,
                         [&](auto* s, auto* d) { return kernels::nchw_to_nhwc(s, d, n, c, hw, stream); });
}

cudaError_t nhwc_to_nchw_typed(const void* src, DType src_type, void* dst, DType dst_type, int64_t n, int64_t c,
                               int64_t hw, cudaStream_t stream) {
  return with_edge_types<true>(src, src_type, dst, dst_type,
                               [&](auto* s, auto* d) { return kernels::nhwc_to_nchw(s, d, n, c, hw, stream); });
}

cudaError_t stream_fence(cudaStream_t stream) {
  fence_kernel<<<1, 32, 0, stream>>>();
  return cudaGetLastError();
}

cudaError_t convert_from_f32(const float* src, void* dst, DType dst_type, size_t n, cudaStream_t stream) {
  if (dst_type == DType::kFloat16)
    from_f32<<<grid_for(n), 256, 0, stream>>>(src, static_cast<__half*>(dst), n);
  else if (dst_type == DType::kBFloat16)
    from_f32<<<grid_for(n), 256, 0, stream>>>(src, static_cast<__nv_bfloat16*>(dst), n);
  else
    return cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, stream);
  return cudaGetLastError();
}

cudaError_t convert_to_f32(const void* src, DType src_type, float* dst, size_t n, cudaStream_t stream) {
  if (src_type == DType::kFloat16)
    to_f32<<<grid_for(n), 256, 0, stream>>>(static_cast<const __half*>(src), dst, n);
  else if (src_type == DType::kBFloat16)
    to_f32<<<grid_for(n), 256, 0, stream>>>(static_cast<const __nv_bfloat16*>(src), dst, n);
  else
    return cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, stream);
  return cudaGetLastError();
}

}  // namespace ferry::cuda
