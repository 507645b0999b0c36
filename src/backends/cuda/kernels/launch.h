// launch.h — ferry's own CUDA kernels, as plain host launch functions.
//
// What cuDNN (convolutions) and cuBLASLt (matmuls) do not cover: elementwise ops with numpy broadcasting and a fused
// chain variant, casts, layout transposes, LayerNormalization, BatchNorm inference, Softmax, short-sequence
// attention, pooling, Concat/Slice/Gather copies and ReduceMean. Every function:
//   - is asynchronous on `stream` and returns the launch's cudaError_t (cudaErrorInvalidValue for descriptors the
//     kernel does not support, e.g. rank > kMaxDims; nothing is launched then);
//   - is declared for float, __half and __nv_bfloat16 (explicitly instantiated in the .cu files) and accumulates in
//     FP32; FP16/BF16 results saturate to the type's finite range instead of overflowing to Inf;
//   - never allocates and never synchronizes, so it can be captured into a CUDA Graph;
//   - takes device pointers; shapes and strides are in elements, precomputed on the host (see make_broadcast).
//
//   namespace k = ferry::cuda::kernels;
//   k::BroadcastDesc d;
//   if (!k::make_broadcast(a_shape, a_rank, b_shape, b_rank, &d)) return unsupported(...);
//   cudaError_t e = k::binary(k::BinaryOp::Add, a, b, y, d, stream);
//
// Layout words: NCHW is [N, C, H, W]; NHWC is [N, H, W, C]; both contiguous.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace ferry::cuda::kernels {

constexpr int kMaxDims = 6;         // broadcasting / permute / slice rank limit
constexpr int kMaxChainSteps = 8;   // ops in one fused elementwise chain
constexpr int kMaxChainInputs = 4;  // tensors a chain reads (the first one included)
constexpr int kMaxConcatInputs = 16;

// ---------------------------------------------------------------- elementwise
enum class UnaryOp : uint8_t {
  Identity,
  Relu,
  Sigmoid,
  SiLU,         // x * sigmoid(x)
  Tanh,
  GeluErf,      // 0.5 x (1 + erf(x / sqrt 2))
  GeluTanh,     // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  Clip,         // clamp(x, alpha, beta)
  HardSigmoid,  // max(0, min(1, alpha x + beta))
  HardSwish,    // x * max(0, min(1, x/6 + 1/2))
  Exp,
  Log,
  Sqrt,
  Erf,
  Neg,
  Abs,
  LeakyRelu,    // x >= 0 ? x : alpha x
};
enum class BinaryOp : uint8_t { Add, Sub, Mul, Div, Pow, Max, Min };

// Output shape plus, per input, the element stride of each output dimension (0 where the input broadcasts).
struct BroadcastDesc {
  int rank = 0;
  int64_t out_shape[kMaxDims] = {};
  int64_t a_strides[kMaxDims] = {};
  int64_t b_strides[kMaxDims] = {};
};
// Numpy broadcasting of two contiguous shapes (right-aligned). Merges adjacent dimensions where possible, so a
// rank-8 problem may still fit. False if the shapes do not broadcast or the merged rank exceeds kMaxDims.
bool make_broadcast(const int64_t* a_shape, int a_rank, const int64_t* b_shape, int b_rank, BroadcastDesc* out);
// Strides of one contiguous input of shape `in_shape` broadcast to `out_shape` (out_rank >= in_rank), no merging.
bool broadcast_strides(const int64_t* in_shape, int in_rank, const int64_t* out_shape, int out_rank,
                       int64_t* strides);

// y[i] = op(x[i]) over n contiguous elements. alpha/beta: Clip min/max, HardSigmoid alpha/beta, LeakyRelu alpha.
template <typename T>
cudaError_t unary(UnaryOp op, const T* x, T* y, int64_t n, float alpha, float beta, cudaStream_t stream);

// y = op(a, b) with broadcasting described by d; y is contiguous with shape d.out_shape.
template <typename T>
cudaError_t binary(BinaryOp op, const T* a, const T* b, T* y, const BroadcastDesc& d, cudaStream_t stream);

// A fused elementwise chain: v = inputs[0]; then for each step, v = unary(v) or v = binary(v, operand), computed in
// FP32 registers; one read of each input and one write of y. Step operands are inputs[1..] (broadcast per the
// strides below) or a scalar constant.
struct ChainStep {
  enum Kind : uint8_t { kUnary, kBinaryTensor, kBinaryScalar, kBinaryTensorRev, kBinaryScalarRev } kind = kUnary;
  uint8_t op = 0;       // UnaryOp or BinaryOp value
  uint8_t input = 0;    // kBinaryTensor*: index into inputs (1..num_inputs-1)
  float alpha = 0.f;    // unary parameter, or the scalar of kBinaryScalar*
  float beta = 0.f;     // unary parameter
};
// *Rev kinds compute binary(operand, v) instead of binary(v, operand) (e.g. 1 - v).
struct ChainDesc {
  int rank = 0;
  int64_t out_shape[kMaxDims] = {};
  int num_inputs = 1;
  int64_t strides[kMaxChainInputs][kMaxDims] = {};  // per input; contiguous-same-shape inputs take a fast path
  int num_steps = 0;
  ChainStep steps[kMaxChainSteps];
};
// Fills rank/out_shape/strides/num_inputs of d from contiguous input shapes (numpy broadcasting, dims merged).
bool make_chain_layout(const int64_t* const* in_shapes, const int* in_ranks, int num_inputs, ChainDesc* d);
template <typename T>
cudaError_t elementwise_chain(const T* const* inputs, T* y, const ChainDesc& d, cudaStream_t stream);

// Casts of n contiguous elements (FP32 <-> FP16/BF16, FP16 <-> BF16, identity copies).
template <typename Src, typename Dst>
cudaError_t cast(const Src* x, Dst* y, int64_t n, cudaStream_t stream);

// ---------------------------------------------------------------- layout
// [N, C, HW] -> [N, HW, C] and back, with an optional type change (e.g. FP32 NCHW input -> FP16 NHWC).
template <typename Src, typename Dst>
cudaError_t nchw_to_nhwc(const Src* x, Dst* y, int64_t n, int64_t c, int64_t hw, cudaStream_t stream);
template <typename Src, typename Dst>
cudaError_t nhwc_to_nchw(const Src* x, Dst* y, int64_t n, int64_t c, int64_t hw, cudaStream_t stream);
// General permute of a contiguous tensor: y has shape in_shape[perm[i]]. Detects batched 2-D transposes.
template <typename T>
cudaError_t permute(const T* x, T* y, int rank, const int64_t* in_shape, const int* perm, cudaStream_t stream);

// ---------------------------------------------------------------- normalization
// Each of `rows` rows of `cols` elements: y = (x [+ residual] - mean) / sqrt(var + eps) * gamma + beta.
// residual and beta may be null. If sum_out is non-null, x + residual is also written there (pre-norm
// transformers need it). Statistics in FP32 from FP32 values, so FP16 inputs near 65504 do not overflow.
template <typename T>
cudaError_t layer_norm(const T* x, const T* residual, const T* gamma, const T* beta, T* y, T* sum_out, int64_t rows,
                       int64_t cols, float eps, cudaStream_t stream);
// BatchNormalization inference: y = (x - mean[c]) * scale[c] / sqrt(var[c] + eps) + bias[c]; FP32 parameters.
template <typename T>
cudaError_t batch_norm(const T* x, const float* scale, const float* bias, const float* mean, const float* var, T* y,
                       int64_t n, int64_t c, int64_t hw, float eps, bool nhwc, cudaStream_t stream);

// ---------------------------------------------------------------- softmax / attention
// Softmax over the last axis of [rows, cols]: a warp per row for cols <= 1024, a block per row above.
template <typename T>
cudaError_t softmax(const T* x, T* y, int64_t rows, int64_t cols, cudaStream_t stream);

// out = softmax(Q K^T * scale + mask) V per (batch, head). Strides are in elements for the batch, head and
// sequence dimensions; the head dimension is contiguous. This covers [B,S,H,D], [B,H,S,D] and packed QKV
// [B,S,3,H,D] without copies. mask (optional, additive, FP32) is indexed mask_strides . (b, h, q, k), so a
// [B,1,1,S] key-padding mask has strides {S, 0, 0, 1}. Limits: head_dim in {32, 64, 128}; K and V of one
// head must fit in shared memory (FP16, D = 64: seq_k up to ~800), else cudaErrorInvalidValue. FP16/BF16 run on
// tensor cores (mma.sync, FP32 accumulation; P rounded to T before P V, as flash attention does), FP32 on CUDA
// cores. The environment variable FERRY_ATTENTION_KERNEL=wmma|simt forces a slower kernel, for A/B timing.
struct AttentionDesc {
  int batch = 0, heads = 0, seq_q = 0, seq_k = 0, head_dim = 0;
  float scale = 1.f;  // usually 1/sqrt(head_dim)
  int64_t q_strides[3] = {}, k_strides[3] = {}, v_strides[3] = {}, o_strides[3] = {};  // batch, head, seq
  int64_t mask_strides[4] = {};
};
template <typename T>
cudaError_t attention(const T* q, const T* k, const T* v, const float* mask, T* out, const AttentionDesc& d,
                      cudaStream_t stream);

// ---------------------------------------------------------------- pooling
struct PoolDesc {
  int64_t n = 0, c = 0, h = 0, w = 0, out_h = 0, out_w = 0;
  int kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_top = 0, pad_left = 0, dilation_h = 1,
      dilation_w = 1;
  bool count_include_pad = false;  // AveragePool only
  bool nhwc = false;
};
template <typename T>
cudaError_t max_pool(const T* x, T* y, const PoolDesc& d, cudaStream_t stream);
template <typename T>
cudaError_t avg_pool(const T* x, T* y, const PoolDesc& d, cudaStream_t stream);
// y[n, c] = mean over hw of x; y is [N, C] (= [N, C, 1, 1] or [N, 1, 1, C]).
template <typename T>
cudaError_t global_avg_pool(const T* x, T* y, int64_t n, int64_t c, int64_t hw, bool nhwc, cudaStream_t stream);

// ---------------------------------------------------------------- reductions
// View x as [outer, reduce, inner]; y[o, i] = mean over r of x[o, r, i] (FP32 sum).
template <typename T>
cudaError_t reduce_mean(const T* x, T* y, int64_t outer, int64_t reduce, int64_t inner, cudaStream_t stream);

// ---------------------------------------------------------------- data movement
// Concat along one axis: inputs viewed as [outer, axis_len[i] * inner]; y as [outer, sum(axis_len) * inner].
template <typename T>
cudaError_t concat(const T* const* inputs, const int64_t* axis_len, int num_inputs, T* y, int64_t outer,
                   int64_t inner, cudaStream_t stream);
// y[idx] = x[offset + sum_i idx_i * in_strides[i]] for idx over out_shape: Slice (strides scaled by steps,
// negative allowed), Expand (stride 0), and non-contiguous Reshape/Transpose copies.
struct StridedDesc {
  int rank = 0;
  int64_t out_shape[kMaxDims] = {};
  int64_t in_strides[kMaxDims] = {};
  int64_t offset = 0;
};
template <typename T>
cudaError_t strided_copy(const T* x, T* y, const StridedDesc& d, cudaStream_t stream);
// Gather along an axis: x viewed as [outer, axis_dim, inner], indices (int64, negative counts from the end)
// [num_indices]; y is [outer, num_indices, inner]. Out-of-range indices write zeros and set *error_flag (device
// int, may be null) to 1, so the caller can report the node without the kernel faulting.
template <typename T>
cudaError_t gather(const T* x, const int64_t* indices, T* y, int64_t outer, int64_t axis_dim, int64_t num_indices,
                   int64_t inner, int* error_flag, cudaStream_t stream);

}  // namespace ferry::cuda::kernels
