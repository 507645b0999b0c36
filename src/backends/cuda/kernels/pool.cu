// pool.cu — MaxPool, AveragePool and GlobalAveragePool in NCHW and NHWC.
//
// NHWC: a thread per (n, oh, ow, channel pack), so a warp reads contiguous channels of one pixel (16-byte packs when
// C allows). NCHW: a thread per output element. Global pooling: NHWC threads run over channels and loop over pixels
// (coalesced); NCHW uses a warp per (n, c) plane. Sums in FP32.
// AveragePool with count_include_pad divides by kernel_h * kernel_w (ONNX's result too, except for ceil_mode
// windows that run past the padding).
#include "common.cuh"
#include "launch.h"

namespace ferry::cuda::kernels {
namespace {

// kV channels per thread (1, or a 16-byte pack in NHWC). I: the index type (int when every index fits: no 64-bit
// division per element).
template <typename T, int kV, bool kMax, typename I>
__global__ void pool_kernel(const T* __restrict__ x, T* __restrict__ y, const PoolDesc d, I total) {
  const I dc = I(d.c), dh = I(d.h), dw = I(d.w), oh_n = I(d.out_h), ow_n = I(d.out_w);
  for (I e = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); e < total; e += I(gridDim.x) * I(blockDim.x)) {
    I n, c, oh, ow, t = e;
    if (d.nhwc) {
      I cu = dc / kV;
      c = (t % cu) * kV; t /= cu;
      ow = t % ow_n; t /= ow_n;
      oh = t % oh_n; n = t / oh_n;
    } else {
      ow = t % ow_n; t /= ow_n;
      oh = t % oh_n; t /= oh_n;
      c = t % dc; n = t / dc;
    }
    float acc[kV];
#pragma unroll
    for (int j = 0; j < kV; ++j) acc[j] = kMax ? -INFINITY : 0.f;
    int count = 0;
    I h0 = oh * I(d.stride_h) - I(d.pad_top), w0 = ow * I(d.stride_w) - I(d.pad_left);
    for (int i = 0; i < d.kernel_h; ++i) {
      I ih = h0 + I(i) * I(d.dilation_h);
      if (ih < 0 || ih >= dh) continue;
      for (int k = 0; k < d.kernel_w; ++k) {
        I iw = w0 + I(k) * I(d.dilation_w);
        if (iw < 0 || iw >= dw) continue;
        ++count;
        float v[kV];
        if (d.nhwc) {
          const T* p = x + ((n * dh + ih) * dw + iw) * dc + c;
          if constexpr (kV > 1) {
            Pack<T> q = load_pack(p);
#pragma unroll
            for (int j = 0; j < kV; ++j) v[j] = to_f(q.v[j]);
          } else {
            v[0] = to_f(*p);
          }
        } else {
          v[0] = to_f(x[((n * dc + c) * dh + ih) * dw + iw]);
        }
#pragma unroll
        for (int j = 0; j < kV; ++j) acc[j] = kMax ? fmaxf(acc[j], v[j]) : acc[j] + v[j];
      }
    }
    float div = kMax ? 1.f : float(d.count_include_pad ? d.kernel_h * d.kernel_w : (count > 0 ? count : 1));
    if (kMax && count == 0) {
#pragma unroll
      for (int j = 0; j < kV; ++j) acc[j] = 0.f;  // a window entirely in the padding (only with odd pads)
    }
    if constexpr (kV > 1) {
      Pack<T> q;
#pragma unroll
      for (int j = 0; j < kV; ++j) q.v[j] = from_f<T>(acc[j] / div);
      store_pack(y + e * kV, q);
    } else {
      y[e] = from_f<T>(acc[0] / div);
    }
  }
}

template <typename T, bool kMax>
cudaError_t launch_pool(const T* x, T* y, const PoolDesc& d, cudaStream_t stream) {
  if (d.n < 0 || d.c < 0 || d.h < 0 || d.w < 0 || d.out_h < 0 || d.out_w < 0 || d.kernel_h < 1 || d.kernel_w < 1 ||
      d.stride_h < 1 || d.stride_w < 1 || d.dilation_h < 1 || d.dilation_w < 1)
    return cudaErrorInvalidValue;
  int64_t total = d.n * d.c * d.out_h * d.out_w;
  if (total == 0) return cudaSuccess;
  constexpr int kN = Pack<T>::kN;
  // 32-bit indexes when the input, the output and the loop's overshoot stay below 2^31.
  const int64_t in_elems = d.n * d.c * d.h * d.w, limit = (int64_t{1} << 31) - (int64_t{1} << 28);  // grid_for: < 2^27 threads
  const bool i32 = in_elems < limit && total < limit;
  if (d.nhwc && d.c % kN == 0 && aligned16(x) && aligned16(y)) {
    if (i32) pool_kernel<T, kN, kMax, int><<<grid_for(total / kN, 256), 256, 0, stream>>>(x, y, d, int(total / kN));
    else pool_kernel<T, kN, kMax, int64_t><<<grid_for(total / kN, 256), 256, 0, stream>>>(x, y, d, total / kN);
  } else {
    if (i32) pool_kernel<T, 1, kMax, int><<<grid_for(total, 256), 256, 0, stream>>>(x, y, d, int(total));
    else pool_kernel<T, 1, kMax, int64_t><<<grid_for(total, 256), 256, 0, stream>>>(x, y, d, total);
  }
  return launch_result();
}

template <typename T>
__global__ void gap_nhwc(const T* __restrict__ x, T* __restrict__ y, int64_t n, int64_t c, int64_t hw) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n * c; e += int64_t(gridDim.x) * blockDim.x) {
    int64_t b = e / c, ch = e % c;
    const T* p = x + b * hw * c + ch;
    float s = 0.f;
    for (int64_t i = 0; i < hw; ++i) s += to_f(p[i * c]);
    y[e] = from_f<T>(s / float(hw));
  }
}

template <typename T>
__global__ void gap_nchw(const T* __restrict__ x, T* __restrict__ y, int64_t planes, int64_t hw) {
  int64_t warps = int64_t(gridDim.x) * (blockDim.x >> 5);
  for (int64_t p = blockIdx.x * int64_t(blockDim.x >> 5) + (threadIdx.x >> 5); p < planes; p += warps) {
    float s = 0.f;
    for (int64_t i = threadIdx.x & 31; i < hw; i += 32) s += to_f(x[p * hw + i]);
    s = warp_sum(s);
    if ((threadIdx.x & 31) == 0) y[p] = from_f<T>(s / float(hw));
  }
}

}  // namespace

template <typename T>
cudaError_t max_pool(const T* x, T* y, const PoolDesc& d, cudaStream_t stream) {
  return launch_pool<T, true>(x, y, d, stream);
}
template <typename T>
cudaError_t avg_pool(const T* x, T* y, const PoolDesc& d, cudaStream_t stream) {
  return launch_pool<T, false>(x, y, d, stream);
}

template <typename T>
cudaError_t global_avg_pool(const T* x, T* y, int64_t n, int64_t c, int64_t hw, bool nhwc, cudaStream_t stream) {
  if (n < 0 || c < 0 || hw <= 0) return cudaErrorInvalidValue;
  if (n * c == 0) return cudaSuccess;
  if (nhwc) {
    gap_nhwc<T><<<grid_for(n * c, 128), 128, 0, stream>>>(x, y, n, c, hw);
  } else {
    gap_nchw<T><<<grid_for(n * c * 32, 256), 256, 0, stream>>>(x, y, n * c, hw);
  }
  return launch_result();
}

#define FERRY_POOL(T)                                                                 \
  template cudaError_t max_pool<T>(const T*, T*, const PoolDesc&, cudaStream_t);     \
  template cudaError_t avg_pool<T>(const T*, T*, const PoolDesc&, cudaStream_t);     \
  template cudaError_t global_avg_pool<T>(const T*, T*, int64_t, int64_t, int64_t, bool, cudaStream_t);
FERRY_INSTANTIATE_T(FERRY_POOL)

}  // namespace ferry::cuda::kernels
