// reduce.cu — ReduceMean over the middle axis of a [outer, reduce, inner] view (FP32 sums).
// inner == 1 (reducing the last axes): a warp per row, or a block per row for rows over 4096. inner > 1: a thread
// per (outer, inner) output walking the reduced axis, so a warp reads contiguous memory at every step.
#include "common.cuh"
#include "launch.h"

namespace ferry::cuda::kernels {
namespace {

template <typename T>
__global__ void mean_rows_warp(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t cols) {
  int64_t warps = int64_t(gridDim.x) * (blockDim.x >> 5);
  for (int64_t r = blockIdx.x * int64_t(blockDim.x >> 5) + (threadIdx.x >> 5); r < rows; r += warps) {
    float s = 0.f;
    for (int64_t i = threadIdx.x & 31; i < cols; i += 32) s += to_f(x[r * cols + i]);
    s = warp_sum(s);
    if ((threadIdx.x & 31) == 0) y[r] = from_f<T>(s / float(cols));
  }
}

template <typename T>
__global__ void mean_rows_block(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t cols) {
  __shared__ float scratch[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    float s = 0.f;
    for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) s += to_f(x[r * cols + i]);
    s = block_sum(s, scratch);
    if (threadIdx.x == 0) y[r] = from_f<T>(s / float(cols));
  }
}

template <typename T>
__global__ void mean_middle(const T* __restrict__ x, T* __restrict__ y, int64_t outer, int64_t reduce, int64_t inner) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < outer * inner;
       e += int64_t(gridDim.x) * blockDim.x) {
    int64_t o = e / inner, i = e % inner;
    const T* p = x + o * reduce * inner + i;
    float s = 0.f;
    for (int64_t r = 0; r < reduce; ++r) s += to_f(p[r * inner]);
    y[e] = from_f<T>(s / float(reduce));
  }
}

}  // namespace

template <typename T>
cudaError_t reduce_mean(const T* x, T* y, int64_t outer, int64_t reduce, int64_t inner, cudaStream_t stream) {
  if (outer < 0 || reduce <= 0 || inner < 0) return cudaErrorInvalidValue;
  if (outer * inner == 0) return cudaSuccess;
  if (inner == 1 && reduce > 4096) {
    mean_rows_block<T><<<unsigned(outer < 65535LL * 16 ? outer : 65535LL * 16), 512, 0, stream>>>(x, y, outer, reduce);
  } else if (inner == 1) {
    mean_rows_warp<T><<<grid_for(outer * 32, 256), 256, 0, stream>>>(x, y, outer, reduce);
  } else {
    mean_middle<T><<<grid_for(outer * inner, 256), 256, 0, stream>>>(x, y, outer, reduce, inner);
  }
  return launch_result();
}

#define FERRY_REDUCE(T) template cudaError_t reduce_mean<T>(const T*, T*, int64_t, int64_t, int64_t, cudaStream_t);
FERRY_INSTANTIATE_T(FERRY_REDUCE)

}  // namespace ferry::cuda::kernels
