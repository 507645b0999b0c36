// softmax.cu — Softmax over the last axis of [rows, cols].
//
// Rows of up to 1024 elements: a warp per row, the row cached in registers (one read, one write). Longer rows: a
// block per row, three passes (max, sum of exp, write), the row mostly served from L1/L2 on the later passes.
// Fully masked rows (all -inf) give zeros instead of NaN.
#include "common.cuh"
#include "launch.h"
#include "row_io.cuh"

namespace ferry::cuda::kernels {
namespace {

template <typename T, bool kVec, int kIters>
__global__ void softmax_warp(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t cols) {
  constexpr int S = kIters * unit_elems<T, kVec>();
  int64_t warps = int64_t(gridDim.x) * (blockDim.x >> 5);
  for (int64_t r = blockIdx.x * int64_t(blockDim.x >> 5) + (threadIdx.x >> 5); r < rows; r += warps) {
    float v[S];
    load_row<T, kVec, kIters>(x + r * cols, cols, -INFINITY, v);
    float m = -INFINITY;
#pragma unroll
    for (int s = 0; s < S; ++s) m = fmaxf(m, v[s]);
    m = warp_max(m);
    float sum = 0.f;
#pragma unroll
    for (int s = 0; s < S; ++s) {
      v[s] = m == -INFINITY ? 0.f : __expf(v[s] - m);
      sum += v[s];
    }
    sum = warp_sum(sum);
    float inv = sum > 0.f ? 1.f / sum : 0.f;
#pragma unroll
    for (int s = 0; s < S; ++s) v[s] *= inv;
    store_row<T, kVec, kIters>(y + r * cols, cols, v);
  }
}

template <typename T>
__global__ void softmax_block(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t cols) {
  __shared__ float scratch[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * cols;
    float m = -INFINITY;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) m = fmaxf(m, to_f(xr[c]));
    m = block_max(m, scratch);
    float s = 0.f;
    if (m != -INFINITY)
      for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) s += __expf(to_f(xr[c]) - m);
    s = block_sum(s, scratch);
    float inv = s > 0.f ? 1.f / s : 0.f;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
      y[r * cols + c] = from_f<T>(m == -INFINITY ? 0.f : __expf(to_f(xr[c]) - m) * inv);
  }
}

template <typename T, bool kVec, int kIters>
cudaError_t launch_sm_warp(const T* x, T* y, int64_t rows, int64_t cols, cudaStream_t stream) {
  constexpr int kWarps = 4;
  int64_t blocks = (rows + kWarps - 1) / kWarps;
  if (blocks > 65535LL * 16) blocks = 65535LL * 16;
  softmax_warp<T, kVec, kIters><<<unsigned(blocks), kWarps * 32, 0, stream>>>(x, y, rows, cols);
  return launch_result();
}

template <typename T, bool kVec>
cudaError_t dispatch_sm(const T* x, T* y, int64_t rows, int64_t cols, cudaStream_t stream) {
  constexpr int U = unit_elems<T, kVec>();
  int64_t units = (cols + U - 1) / U;
  if (units <= 32) return launch_sm_warp<T, kVec, 1>(x, y, rows, cols, stream);
  if (units <= 64) return launch_sm_warp<T, kVec, 2>(x, y, rows, cols, stream);
  if (units <= 128) return launch_sm_warp<T, kVec, 4>(x, y, rows, cols, stream);
  if (units <= 256) return launch_sm_warp<T, kVec, 8>(x, y, rows, cols, stream);
  if constexpr (!kVec) {
    if (units <= 512) return launch_sm_warp<T, kVec, 16>(x, y, rows, cols, stream);
    return launch_sm_warp<T, kVec, 32>(x, y, rows, cols, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace

template <typename T>
cudaError_t softmax(const T* x, T* y, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows < 0 || cols < 0) return cudaErrorInvalidValue;
  if (rows == 0 || cols == 0) return cudaSuccess;
  bool vec = cols % Pack<T>::kN == 0 && aligned16(x) && aligned16(y);
  if (cols <= 1024) return vec ? dispatch_sm<T, true>(x, y, rows, cols, stream) : dispatch_sm<T, false>(x, y, rows, cols, stream);
  unsigned blocks = unsigned(rows < 65535LL * 16 ? rows : 65535LL * 16);
  softmax_block<T><<<blocks, 512, 0, stream>>>(x, y, rows, cols);
  return launch_result();
}

#define FERRY_SOFTMAX(T) template cudaError_t softmax<T>(const T*, T*, int64_t, int64_t, cudaStream_t);
FERRY_INSTANTIATE_T(FERRY_SOFTMAX)

}  // namespace ferry::cuda::kernels
