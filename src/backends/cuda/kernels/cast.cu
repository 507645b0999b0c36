// cast.cu — FP32 <-> FP16/BF16 (and FP16 <-> BF16) conversions of contiguous buffers. Eight elements per thread
// with 16-byte loads and stores when both pointers allow it; narrowing saturates to the finite range (common.cuh).
#include "common.cuh"
#include "launch.h"

namespace ferry::cuda::kernels {
namespace {

template <typename T>
__device__ __forceinline__ void load8(const T* p, float (&f)[8]) {
  constexpr int kN = Pack<T>::kN;
#pragma unroll
  for (int b = 0; b < 8 / kN; ++b) {
    Pack<T> q = load_pack(p + b * kN);
#pragma unroll
    for (int j = 0; j < kN; ++j) f[b * kN + j] = to_f(q.v[j]);
  }
}
template <typename T>
__device__ __forceinline__ void store8(T* p, const float (&f)[8]) {
  constexpr int kN = Pack<T>::kN;
#pragma unroll
  for (int b = 0; b < 8 / kN; ++b) {
    Pack<T> q;
#pragma unroll
    for (int j = 0; j < kN; ++j) q.v[j] = from_f<T>(f[b * kN + j]);
    store_pack(p + b * kN, q);
  }
}

template <typename Src, typename Dst>
__global__ void cast_kernel(const Src* __restrict__ x, Dst* __restrict__ y, int64_t n, bool vec) {
  int64_t stride = int64_t(gridDim.x) * blockDim.x, t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  int64_t n8 = vec ? n / 8 : 0;
  for (int64_t i = t; i < n8; i += stride) {
    float f[8];
    load8(x + i * 8, f);
    store8(y + i * 8, f);
  }
  for (int64_t i = n8 * 8 + t; i < n; i += stride) y[i] = from_f<Dst>(to_f(x[i]));
}

}  // namespace

template <typename Src, typename Dst>
cudaError_t cast(const Src* x, Dst* y, int64_t n, cudaStream_t stream) {
  if (n < 0) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  bool vec = aligned16(x) && aligned16(y);
  constexpr int kThreads = 256;
  cast_kernel<Src, Dst><<<grid_for(vec ? (n + 7) / 8 : n, kThreads), kThreads, 0, stream>>>(x, y, n, vec);
  return launch_result();
}

#define FERRY_CAST(S, D) template cudaError_t cast<S, D>(const S*, D*, int64_t, cudaStream_t);
FERRY_CAST(float, __half)
FERRY_CAST(float, __nv_bfloat16)
FERRY_CAST(__half, float)
FERRY_CAST(__nv_bfloat16, float)
FERRY_CAST(__half, __nv_bfloat16)
FERRY_CAST(__nv_bfloat16, __half)
FERRY_CAST(float, float)
FERRY_CAST(__half, __half)
FERRY_CAST(__nv_bfloat16, __nv_bfloat16)

}  // namespace ferry::cuda::kernels
