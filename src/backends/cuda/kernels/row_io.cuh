// row_io.cuh — loading one row of `cols` elements into a warp's registers as FP32, shared by the row-wise
// kernels (LayerNorm, Softmax). A lane owns units u = lane + 32 i, i < kIters; a unit is a 16-byte pack when
// kVec (cols % pack size == 0 and the row is 16-byte aligned), else one element. Slots past the row end read
// `fill`. Included only by .cu files.
#pragma once

#include "common.cuh"

namespace ferry::cuda::kernels {

template <typename T, bool kVec>
__host__ __device__ constexpr int unit_elems() {
  return kVec ? Pack<T>::kN : 1;
}

template <typename T, bool kVec, int kIters>
__device__ __forceinline__ void load_row(const T* row, int64_t cols, float fill,
                                         float (&v)[kIters * unit_elems<T, kVec>()]) {
  constexpr int U = unit_elems<T, kVec>();
  int lane = threadIdx.x & 31;
#pragma unroll
  for (int i = 0; i < kIters; ++i) {
    int64_t u = lane + 32 * i;
    if constexpr (kVec) {
      if ((u + 1) * U <= cols) {
        Pack<T> p = load_pack(row + u * U);
#pragma unroll
        for (int j = 0; j < U; ++j) v[i * U + j] = to_f(p.v[j]);
      } else {
#pragma unroll
        for (int j = 0; j < U; ++j) v[i * U + j] = fill;
      }
    } else {
      v[i] = u < cols ? to_f(row[u]) : fill;
    }
  }
}

template <typename T, bool kVec, int kIters>
__device__ __forceinline__ void store_row(T* row, int64_t cols, const float (&v)[kIters * unit_elems<T, kVec>()]) {
  constexpr int U = unit_elems<T, kVec>();
  int lane = threadIdx.x & 31;
#pragma unroll
  for (int i = 0; i < kIters; ++i) {
    int64_t u = lane + 32 * i;
    if constexpr (kVec) {
      if ((u + 1) * U <= cols) {
        Pack<T> p;
#pragma unroll
        for (int j = 0; j < U; ++j) p.v[j] = from_f<T>(v[i * U + j]);
        store_pack(row + u * U, p);
      }
    } else {
      if (u < cols) row[u] = from_f<T>(v[i]);
    }
  }
}

// Column index of register slot s (for per-column parameters such as gamma).
template <typename T, bool kVec>
__device__ __forceinline__ int64_t slot_col(int s) {
  constexpr int U = unit_elems<T, kVec>();
  return (int64_t((threadIdx.x & 31) + 32 * (s / U))) * U + s % U;
}

}  // namespace ferry::cuda::kernels
