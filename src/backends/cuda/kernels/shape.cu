// shape.cu — data movement: strided copies (Slice, Expand, non-contiguous Reshape/Transpose), Concat along an
// axis, and Gather along an axis with int64 indices. All are memory-bound copies; Concat and Gather move whole
// 16-byte packs when the inner extent and pointers allow it.
#include "common.cuh"
#include "launch.h"

namespace ferry::cuda::kernels {
namespace {

template <typename T>
__global__ void strided_kernel(const T* __restrict__ x, T* __restrict__ y, const StridedDesc d, int64_t total) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    int64_t rem = e, off = d.offset;
#pragma unroll
    for (int k = kMaxDims - 1; k >= 0; --k) {
      if (k >= d.rank) continue;
      int64_t idx = rem;
      if (k > 0) {
        idx = rem % d.out_shape[k];
        rem /= d.out_shape[k];
      }
      off += idx * d.in_strides[k];
    }
    y[e] = x[off];
  }
}

// Elements move as units of U (T, or uint4 = 16 bytes); sizes below are in units.
template <typename U>
struct ConcatArgs {
  const U* in[kMaxConcatInputs];
  int64_t row[kMaxConcatInputs];    // units per outer row of input i
  int64_t start[kMaxConcatInputs];  // unit offset of input i inside an output row
  int num;
  int64_t out_row;
  U* y;
};
template <typename U>
__global__ void concat_kernel(const ConcatArgs<U> a, int64_t total) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    int64_t o = e / a.out_row, r = e - o * a.out_row;
    const U* src = a.in[0];
    int64_t row = a.row[0], start = 0;
#pragma unroll
    for (int k = 1; k < kMaxConcatInputs; ++k)
      if (k < a.num && r >= a.start[k]) {  // starts ascend, so the last match wins
        src = a.in[k];
        row = a.row[k];
        start = a.start[k];
      }
    a.y[e] = src[o * row + (r - start)];
  }
}

template <typename U>
cudaError_t launch_concat(const void* const* inputs, const int64_t* axis_len, int num, void* y, int64_t outer,
                          int64_t inner_units, cudaStream_t stream) {
  ConcatArgs<U> a;
  a.num = num;
  a.y = static_cast<U*>(y);
  int64_t pos = 0;
  for (int i = 0; i < num; ++i) {
    a.in[i] = static_cast<const U*>(inputs[i]);
    a.row[i] = axis_len[i] * inner_units;
    a.start[i] = pos;
    pos += a.row[i];
  }
  a.out_row = pos;
  int64_t total = outer * pos;
  if (total == 0) return cudaSuccess;
  concat_kernel<U><<<grid_for(total, 256), 256, 0, stream>>>(a, total);
  return launch_result();
}

template <typename U>
__global__ void gather_kernel(const U* __restrict__ x, const int64_t* __restrict__ idx, U* __restrict__ y,
                              int64_t axis_dim, int64_t num_idx, int64_t inner, int64_t total, int* error_flag) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total; e += int64_t(gridDim.x) * blockDim.x) {
    int64_t in = e % inner, t = e / inner, j = t % num_idx, o = t / num_idx;
    int64_t k = idx[j];
    if (k < 0) k += axis_dim;
    if (k < 0 || k >= axis_dim) {
      y[e] = U{};
      if (error_flag) *error_flag = 1;
    } else {
      y[e] = x[(o * axis_dim + k) * inner + in];
    }
  }
}

}  // namespace

template <typename T>
cudaError_t strided_copy(const T* x, T* y, const StridedDesc& d, cudaStream_t stream) {
  if (d.rank < 1 || d.rank > kMaxDims) return cudaErrorInvalidValue;
  int64_t total = 1;
  for (int k = 0; k < d.rank; ++k) {
    if (d.out_shape[k] < 0) return cudaErrorInvalidValue;
    total *= d.out_shape[k];
  }
  if (total == 0) return cudaSuccess;
  strided_kernel<T><<<grid_for(total, 256), 256, 0, stream>>>(x, y, d, total);
  return launch_result();
}

template <typename T>
cudaError_t concat(const T* const* inputs, const int64_t* axis_len, int num_inputs, T* y, int64_t outer,
                   int64_t inner, cudaStream_t stream) {
  if (num_inputs < 1 || num_inputs > kMaxConcatInputs || outer < 0 || inner < 0) return cudaErrorInvalidValue;
  constexpr int kN = Pack<T>::kN;
  bool vec = inner % kN == 0 && aligned16(y);
  for (int i = 0; i < num_inputs; ++i) {
    if (axis_len[i] < 0) return cudaErrorInvalidValue;
    vec = vec && aligned16(inputs[i]);
  }
  const void* in[kMaxConcatInputs];
  for (int i = 0; i < num_inputs; ++i) in[i] = inputs[i];
  if (vec) return launch_concat<uint4>(in, axis_len, num_inputs, y, outer, inner / kN, stream);
  return launch_concat<T>(in, axis_len, num_inputs, y, outer, inner, stream);
}

template <typename T>
cudaError_t gather(const T* x, const int64_t* indices, T* y, int64_t outer, int64_t axis_dim, int64_t num_indices,
                   int64_t inner, int* error_flag, cudaStream_t stream) {
  if (outer < 0 || axis_dim < 0 || num_indices < 0 || inner < 0) return cudaErrorInvalidValue;
  int64_t total = outer * num_indices * inner;
  if (total == 0) return cudaSuccess;
  constexpr int kN = Pack<T>::kN;
  if (inner % kN == 0 && aligned16(x) && aligned16(y)) {
    int64_t units = inner / kN;
    gather_kernel<uint4><<<grid_for(total / kN, 256), 256, 0, stream>>>(
        reinterpret_cast<const uint4*>(x), indices, reinterpret_cast<uint4*>(y), axis_dim, num_indices, units,
        total / kN, error_flag);
  } else {
    gather_kernel<T><<<grid_for(total, 256), 256, 0, stream>>>(x, indices, y, axis_dim, num_indices, inner, total,
                                                               error_flag);
  }
  return launch_result();
}

#define FERRY_SHAPE(T)                                                                                       \
  template cudaError_t strided_copy<T>(const T*, T*, const StridedDesc&, cudaStream_t);                     \
  template cudaError_t concat<T>(const T* const*, const int64_t*, int, T*, int64_t, int64_t, cudaStream_t); \
  template cudaError_t gather<T>(const T*, const int64_t*, T*, int64_t, int64_t, int64_t, int64_t, int*, cudaStream_t);
FERRY_INSTANTIATE_T(FERRY_SHAPE)

}  // namespace ferry::cuda::kernels
