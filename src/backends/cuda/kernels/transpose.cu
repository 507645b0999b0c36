// transpose.cu — NCHW <-> NHWC (with an optional type change) and general permutes.
//
// Both layout changes are batched 2-D transposes [B, R, C] -> [B, C, R] through a 32x33 shared-memory tile, so
// reads and writes are coalesced. permute() merges input dims that stay adjacent under the permutation; a result
// of the form [B, R, C] -> [B, C, R] takes the tiled kernel; one that keeps the innermost dimension in place
// ([B, S, C] -> [S, B, C], the attention layouts) copies whole rows with 16-byte loads (a block per row); anything
// else a strided copy.
#include "common.cuh"
#include "launch.h"

namespace ferry::cuda::kernels {
namespace {

constexpr int kTile = 32, kRowsPerPass = 8;

template <typename Src, typename Dst>
__global__ void transpose_kernel(const Src* __restrict__ x, Dst* __restrict__ y, int64_t batch, int64_t rows,
                                 int64_t cols) {
  __shared__ float tile[kTile][kTile + 1];
  int64_t c0 = int64_t(blockIdx.x) * kTile, r0 = int64_t(blockIdx.y) * kTile;
  for (int64_t b = blockIdx.z; b < batch; b += gridDim.z) {
    const Src* xb = x + b * rows * cols;
    Dst* yb = y + b * rows * cols;
    for (int i = threadIdx.y; i < kTile; i += kRowsPerPass) {
      int64_t r = r0 + i, c = c0 + threadIdx.x;
      if (r < rows && c < cols) tile[i][threadIdx.x] = to_f(xb[r * cols + c]);
    }
    __syncthreads();
    for (int i = threadIdx.y; i < kTile; i += kRowsPerPass) {
      int64_t c = c0 + i, r = r0 + threadIdx.x;
      if (r < rows && c < cols) yb[c * rows + r] = from_f<Dst>(tile[threadIdx.x][i]);
    }
    __syncthreads();
  }
}

template <typename Src, typename Dst>
cudaError_t batched_transpose(const Src* x, Dst* y, int64_t batch, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (batch < 0 || rows < 0 || cols < 0) return cudaErrorInvalidValue;
  if (batch == 0 || rows == 0 || cols == 0) return cudaSuccess;
  int64_t gx = (cols + kTile - 1) / kTile, gy = (rows + kTile - 1) / kTile;
  if (gx > 0x7fffffffLL || gy > 65535) return cudaErrorInvalidValue;
  dim3 grid(unsigned(gx), unsigned(gy), unsigned(batch < 65535 ? batch : 65535));
  transpose_kernel<Src, Dst><<<grid, dim3(kTile, kRowsPerPass), 0, stream>>>(x, y, batch, rows, cols);
  return launch_result();
}

// Rows of `inner` 16-byte vectors: output row r (its index over the outer dims `shape`) reads the input row at
// sum(coord_k * stride_k) (strides in vectors).
struct RowDesc {
  int rank = 0;
  int64_t shape[kMaxDims] = {};
  int64_t stride[kMaxDims] = {};
};

__global__ void permute_rows_kernel(const uint4* __restrict__ x, uint4* __restrict__ y, RowDesc d, int64_t rows,
                                    int64_t inner) {
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    int64_t r = row, off = 0;
    for (int k = d.rank - 1; k >= 0; --k) {
      int64_t c = r % d.shape[k];
      r /= d.shape[k];
      off += c * d.stride[k];
    }
    const uint4* src = x + off;
    uint4* dst = y + row * inner;
    for (int64_t j = threadIdx.x; j < inner; j += blockDim.x) dst[j] = src[j];
  }
}

// Output dims shp (m of them, the last contiguous in the input: st[m-1] == 1) as rows of 16-byte vectors, or
// cudaErrorNotSupported when the sizes/strides/pointers do not allow it.
template <typename T>
cudaError_t permute_rows(const T* x, T* y, int m, const int64_t* shp, const int64_t* st, cudaStream_t stream) {
  constexpr int64_t kVec = 16 / int64_t(sizeof(T));
  if (m < 2 || m - 1 > kMaxDims || st[m - 1] != 1 || shp[m - 1] % kVec != 0) return cudaErrorNotSupported;
  if ((reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(y)) % 16 != 0) return cudaErrorNotSupported;
  RowDesc d;
  d.rank = m - 1;
  int64_t rows = 1;
  for (int k = 0; k < m - 1; ++k) {
    if (st[k] % kVec != 0) return cudaErrorNotSupported;
    d.shape[k] = shp[k];
    d.stride[k] = st[k] / kVec;
    rows *= shp[k];
  }
  const int64_t inner = shp[m - 1] / kVec;
  const int threads = inner >= 256 ? 256 : inner >= 128 ? 128 : inner >= 64 ? 64 : 32;
  const unsigned grid = unsigned(rows < 0x7fffffffLL ? rows : 0x7fffffffLL);
  permute_rows_kernel<<<grid, threads, 0, stream>>>(reinterpret_cast<const uint4*>(x), reinterpret_cast<uint4*>(y), d,
                                                     rows, inner);
  return launch_result();
}

}  // namespace

template <typename Src, typename Dst>
cudaError_t nchw_to_nhwc(const Src* x, Dst* y, int64_t n, int64_t c, int64_t hw, cudaStream_t stream) {
  return batched_transpose(x, y, n, c, hw, stream);
}
template <typename Src, typename Dst>
cudaError_t nhwc_to_nchw(const Src* x, Dst* y, int64_t n, int64_t c, int64_t hw, cudaStream_t stream) {
  return batched_transpose(x, y, n, hw, c, stream);
}

template <typename T>
cudaError_t permute(const T* x, T* y, int rank, const int64_t* in_shape, const int* perm, cudaStream_t stream) {
  if (rank < 0 || rank > 16) return cudaErrorInvalidValue;
  int64_t total = 1, in_stride[16];
  bool seen[16] = {};
  for (int k = rank - 1; k >= 0; --k) {
    if (in_shape[k] < 0 || perm[k] < 0 || perm[k] >= rank || seen[perm[k]]) return cudaErrorInvalidValue;
    seen[perm[k]] = true;
    in_stride[k] = total;
    total *= in_shape[k];
  }
  if (total == 0) return cudaSuccess;
  // Output dims (in order) with their input strides; drop size-1 dims, merge runs contiguous in the input.
  int64_t shp[16], st[16];
  int m = 0;
  for (int k = 0; k < rank; ++k) {
    int64_t s = in_shape[perm[k]], t = in_stride[perm[k]];
    if (s == 1) continue;
    if (m > 0 && st[m - 1] == t * s) {
      shp[m - 1] *= s;
      st[m - 1] = t;
    } else {
      shp[m] = s;
      st[m] = t;
      ++m;
    }
  }
  if (m == 0) return cudaMemcpyAsync(y, x, sizeof(T), cudaMemcpyDeviceToDevice, stream);
  if (m == 1) return cudaMemcpyAsync(y, x, total * sizeof(T), cudaMemcpyDeviceToDevice, stream);
  // Output dims (C, R) with input strides (1, C): a plain [R, C] -> [C, R] transpose; likewise with a batch dim.
  if (m == 2 && st[0] == 1 && st[1] == shp[0]) return batched_transpose(x, y, int64_t(1), shp[1], shp[0], stream);
  if (m == 3 && st[0] == shp[1] * shp[2] && st[1] == 1 && st[2] == shp[1])
    return batched_transpose(x, y, shp[0], shp[2], shp[1], stream);
  if (cudaError_t e = permute_rows(x, y, m, shp, st, stream); e != cudaErrorNotSupported) return e;
  if (m > kMaxDims) return cudaErrorInvalidValue;
  StridedDesc d;
  d.rank = m;
  for (int k = 0; k < m; ++k) {
    d.out_shape[k] = shp[k];
    d.in_strides[k] = st[k];
  }
  return strided_copy(x, y, d, stream);
}

#define FERRY_TR(S, D)                                                                         \
  template cudaError_t nchw_to_nhwc<S, D>(const S*, D*, int64_t, int64_t, int64_t, cudaStream_t); \
  template cudaError_t nhwc_to_nchw<S, D>(const S*, D*, int64_t, int64_t, int64_t, cudaStream_t);
FERRY_TR(float, float)
FERRY_TR(__half, __half)
FERRY_TR(__nv_bfloat16, __nv_bfloat16)
FERRY_TR(float, __half)
FERRY_TR(float, __nv_bfloat16)
FERRY_TR(__half, float)
FERRY_TR(__nv_bfloat16, float)
#define FERRY_PERM(T) template cudaError_t permute<T>(const T*, T*, int, const int64_t*, const int*, cudaStream_t);
FERRY_INSTANTIATE_T(FERRY_PERM)

}  // namespace ferry::cuda::kernels
