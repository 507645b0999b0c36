// norm.cu — LayerNormalization (optionally fused with the residual Add before it) and BatchNormalization
// inference.
//
// LayerNorm keeps rows of up to 32 units per lane in registers (a warp per row; two-pass mean/variance in FP32 on
// the cached values, so nothing is re-read), and falls back to a block per row with three passes over the row for
// longer rows. FP16 inputs are widened before any arithmetic: x^2 of a value near 65504 never overflows, and the
// output saturates to the finite range.
#include "common.cuh"
#include "launch.h"
#include "row_io.cuh"

namespace ferry::cuda::kernels {
namespace {

template <typename T, bool kVec, int kIters>
__global__ void layer_norm_warp(const T* __restrict__ x, const T* __restrict__ res, const T* __restrict__ gamma,
                                const T* __restrict__ beta, T* __restrict__ y, T* __restrict__ sum_out, int64_t rows,
                                int64_t cols, float eps) {
  constexpr int S = kIters * unit_elems<T, kVec>();
  int64_t warps = int64_t(gridDim.x) * (blockDim.x >> 5);
  for (int64_t r = blockIdx.x * int64_t(blockDim.x >> 5) + (threadIdx.x >> 5); r < rows; r += warps) {
    float v[S];
    load_row<T, kVec, kIters>(x + r * cols, cols, 0.f, v);
    if (res) {
      float w[S];
      load_row<T, kVec, kIters>(res + r * cols, cols, 0.f, w);
#pragma unroll
      for (int s = 0; s < S; ++s) v[s] += w[s];
      if (sum_out) store_row<T, kVec, kIters>(sum_out + r * cols, cols, v);
    }
    float sum = 0.f;
#pragma unroll
    for (int s = 0; s < S; ++s) sum += v[s];
    float mean = warp_sum(sum) / float(cols), sq = 0.f;
#pragma unroll
    for (int s = 0; s < S; ++s) {
      float dlt = slot_col<T, kVec>(s) < cols ? v[s] - mean : 0.f;
      sq += dlt * dlt;
    }
    float rstd = rsqrtf(warp_sum(sq) / float(cols) + eps);
    float g[S], b[S];
    load_row<T, kVec, kIters>(gamma, cols, 0.f, g);
    if (beta) {
      load_row<T, kVec, kIters>(beta, cols, 0.f, b);
    } else {
#pragma unroll
      for (int s = 0; s < S; ++s) b[s] = 0.f;
    }
#pragma unroll
    for (int s = 0; s < S; ++s) v[s] = (v[s] - mean) * rstd * g[s] + b[s];
    store_row<T, kVec, kIters>(y + r * cols, cols, v);
  }
}

template <typename T>
__global__ void layer_norm_block(const T* __restrict__ x, const T* __restrict__ res, const T* __restrict__ gamma,
                                 const T* __restrict__ beta, T* __restrict__ y, T* __restrict__ sum_out,
                                 int64_t rows, int64_t cols, float eps) {
  __shared__ float scratch[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * cols;
    const T* rr = res ? res + r * cols : nullptr;
    auto val = [&](int64_t c) { return to_f(xr[c]) + (rr ? to_f(rr[c]) : 0.f); };
    float s = 0.f;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      float t = val(c);
      s += t;
      if (sum_out) sum_out[r * cols + c] = from_f<T>(t);
    }
    float mean = block_sum(s, scratch) / float(cols), sq = 0.f;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      float d = val(c) - mean;
      sq += d * d;
    }
    float rstd = rsqrtf(block_sum(sq, scratch) / float(cols) + eps);
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
      y[r * cols + c] = from_f<T>((val(c) - mean) * rstd * to_f(gamma[c]) + (beta ? to_f(beta[c]) : 0.f));
  }
}

template <typename T, bool kVec, int kIters>
cudaError_t launch_ln_warp(const T* x, const T* res, const T* g, const T* b, T* y, T* so, int64_t rows, int64_t cols,
                           float eps, cudaStream_t stream) {
  constexpr int kWarps = 4;
  int64_t blocks = (rows + kWarps - 1) / kWarps;
  if (blocks > 65535LL * 16) blocks = 65535LL * 16;
  layer_norm_warp<T, kVec, kIters><<<unsigned(blocks), kWarps * 32, 0, stream>>>(x, res, g, b, y, so, rows, cols, eps);
  return launch_result();
}

template <typename T, bool kVec>
cudaError_t dispatch_ln(const T* x, const T* res, const T* g, const T* b, T* y, T* so, int64_t rows, int64_t cols,
                        float eps, cudaStream_t stream) {
  int64_t units = kVec ? cols / Pack<T>::kN : cols;
  if (units <= 32) return launch_ln_warp<T, kVec, 1>(x, res, g, b, y, so, rows, cols, eps, stream);
  if (units <= 64) return launch_ln_warp<T, kVec, 2>(x, res, g, b, y, so, rows, cols, eps, stream);
  if (units <= 128) return launch_ln_warp<T, kVec, 4>(x, res, g, b, y, so, rows, cols, eps, stream);
  if constexpr (kVec && sizeof(T) == 2) return cudaErrorInvalidValue;  // the caller keeps FP16 rows <= 1024 here
  else return launch_ln_warp<T, kVec, 8>(x, res, g, b, y, so, rows, cols, eps, stream);  // at most 32 values a lane
}

template <typename T>
__global__ void batch_norm_kernel(const T* __restrict__ x, const float* __restrict__ scale,
                                  const float* __restrict__ bias, const float* __restrict__ mean,
                                  const float* __restrict__ var, T* __restrict__ y, int64_t c, int64_t hw,
                                  int64_t total, float eps, bool nhwc) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    int64_t ch = nhwc ? e % c : (e / hw) % c;
    float a = scale[ch] * rsqrtf(var[ch] + eps);
    y[e] = from_f<T>((to_f(x[e]) - mean[ch]) * a + bias[ch]);
  }
}

}  // namespace

template <typename T>
cudaError_t layer_norm(const T* x, const T* residual, const T* gamma, const T* beta, T* y, T* sum_out, int64_t rows,
                       int64_t cols, float eps, cudaStream_t stream) {
  if (rows < 0 || cols < 0 || !gamma) return cudaErrorInvalidValue;
  if (rows == 0 || cols == 0) return cudaSuccess;
  constexpr int kN = Pack<T>::kN;
  bool vec = cols % kN == 0 && aligned16(x) && aligned16(y) && aligned16(gamma) && (!beta || aligned16(beta)) &&
             (!residual || aligned16(residual)) && (!sum_out || aligned16(sum_out));
  // Warp path while a lane holds at most 32 values: cols <= 1024 with packs, <= 256 element-wise.
  if (vec && cols <= 1024) return dispatch_ln<T, true>(x, residual, gamma, beta, y, sum_out, rows, cols, eps, stream);
  if (!vec && cols <= 256) return dispatch_ln<T, false>(x, residual, gamma, beta, y, sum_out, rows, cols, eps, stream);
  unsigned blocks = unsigned(rows < 65535LL * 16 ? rows : 65535LL * 16);
  layer_norm_block<T><<<blocks, 256, 0, stream>>>(x, residual, gamma, beta, y, sum_out, rows, cols, eps);
  return launch_result();
}

template <typename T>
cudaError_t batch_norm(const T* x, const float* scale, const float* bias, const float* mean, const float* var, T* y,
                       int64_t n, int64_t c, int64_t hw, float eps, bool nhwc, cudaStream_t stream) {
  if (n < 0 || c <= 0 || hw < 0) return cudaErrorInvalidValue;
  int64_t total = n * c * hw;
  if (total == 0) return cudaSuccess;
  batch_norm_kernel<T><<<grid_for(total, 256), 256, 0, stream>>>(x, scale, bias, mean, var, y, c, hw, total, eps, nhwc);
  return launch_result();
}

#define FERRY_NORM(T)                                                                                                \
  template cudaError_t layer_norm<T>(const T*, const T*, const T*, const T*, T*, T*, int64_t, int64_t, float,         \
                                     cudaStream_t);                                                                  \
  template cudaError_t batch_norm<T>(const T*, const float*, const float*, const float*, const float*, T*, int64_t, \
                                     int64_t, int64_t, float, bool, cudaStream_t);
FERRY_INSTANTIATE_T(FERRY_NORM)

}  // namespace ferry::cuda::kernels
