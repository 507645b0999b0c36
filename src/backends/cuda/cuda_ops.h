// cuda_ops.h — what the CUDA backend's per-node operators see (internal to src/backends/cuda).
//
// The program (cuda_program.cc) plans every device value's bytes in one arena before any op is built, so
// ops capture device pointers at build time and enqueue() only launches work: no allocation, no host sync,
// safe to capture into a CUDA graph. One op may run a fused group of nodes (Conv -> Add -> Relu): the group's
// anchor comes first and only the last node's outputs are materialized.
//
// Adding an op: a `<family>_supports(graph, node)` and a builder case in the family's file, one line each in
// cuda_supports() / build_cuda_op() (cuda_ops.cc).
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ferry/status.h"
#include "ferry/tensor.h"
#include "ir/graph.h"

namespace ferry::cuda {

// A value on the device: storage dtype (the precision for float values) and its static shape, packed row-major.
struct DevTensor {
  void* ptr = nullptr;
  DType dtype = DType::kUndefined;
  Shape shape;      // logical (ONNX) shape: [N, C, H, W] even when stored NHWC
  bool nhwc = false;  // a 4-D value stored as [N, H, W, C] (the program picks this for conv chains)
  int64_t stored_c = 0;  // NHWC channels in storage when > shape[1]: extra channels are zero (conv_layout.h)
  int64_t s2d_pad = -1;  // >= 0: stored space-to-depth [N, (H+2p)/2, (W+2p)/2, stored_c] for a stride-2 stem (p)
};

struct RunContext {
  cudaStream_t stream = nullptr;
  cudnnHandle_t cudnn = nullptr;
  cublasLtHandle_t lt = nullptr;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

class CudaOp {
 public:
  virtual ~CudaOp() = default;
  virtual Status enqueue(const RunContext& rc) = 0;
  // Whether the op runs cuDNN graph-API kernels, and whether one of them reads a fused residual operand: the
  // program puts an ordering point (stream_fence) before such ops (FERRY_CUDA_FENCE; docs/gpu.md "FP16 race").
  virtual bool cudnn_graph() const { return false; }
  virtual bool cudnn_graph_residual() const { return false; }
};

// The compile-time view an op builder gets from the program.
class BuildContext {
 public:
  virtual ~BuildContext() = default;
  virtual const Graph& graph() const = 0;
  virtual DType precision() const = 0;
  virtual cudnnHandle_t cudnn() const = 0;
  virtual cublasLtHandle_t lt() const = 0;
  virtual size_t workspace_bytes() const = 0;
  virtual void* workspace() const = 0;  // for algorithm searches at build time
  // A node input or output: its planned arena storage, or for an initializer a device copy converted to the
  // precision (made once, cached by name).
  virtual Expected<DevTensor> value(const std::string& name) = 0;
  // A device copy of `host` (a float tensor converted to `dtype`, or raw bytes for other types).
  virtual Expected<void*> upload_constant(const Tensor& host, DType dtype) = 0;
  // A slot for build products that ops of the same configuration share (cuDNN execution plans by key); released
  // before the program's handles.
  virtual std::shared_ptr<void>& cached(const std::string& key) = 0;
};

// Several nodes run as one op; nodes.front() is the anchor, nodes.back() produces the materialized outputs.
struct OpGroup {
  std::vector<const Node*> nodes;
  std::string name() const;  // the anchor's display name, "+Relu" etc. for fused followers
};

// Float storage type of `precision` for float32 graph values.
DType device_dtype(DType graph_dtype, DType precision);
cudnnDataType_t cudnn_dtype(DType t);
// The static shape of `name` in `g`, or an empty optional when it is not concrete.
bool static_shape(const Graph& g, const std::string& name, Shape* shape, DType* dtype = nullptr);
// A cuDNN descriptor of a packed tensor, rank padded to >= 4 with leading ones (numpy broadcasting).
Expected<cudnnTensorDescriptor_t> make_tensor_desc(DType dtype, const Shape& shape, int min_rank = 4);

bool cuda_supports(const Graph& g, const Node& n);
// Ops that run on NHWC storage when every layout-bearing tensor they touch is NHWC (the program's choice).
bool nhwc_capable(const Graph& g, const Node& n);
// [N,C,H,W] -> [N,H,W,C] (other ranks unchanged).
Shape nhwc_order(const Shape& s);
// Which node may follow `group` into the same op (nullptr: none): Conv+Add+Relu/Clip(0, hi), Gemm+Relu.
bool can_fuse(const Graph& g, const OpGroup& group, const Node& next);
Expected<std::unique_ptr<CudaOp>> build_cuda_op(BuildContext& ctx, const OpGroup& group);

// Families (one file each).
bool conv_supports(const Graph& g, const Node& n);
// A Clip with constant bounds min = 0, 0 < max < inf (Relu6): fusable into a conv as a clipped Relu.
bool conv_clip_bounds(const Graph& g, const Node& n, float* lo, float* hi);
Expected<std::unique_ptr<CudaOp>> build_conv(BuildContext& ctx, const OpGroup& group);
// cuda_patchify.cc: kernel == stride Convs as permute + GEMM (off with FERRY_CUDA_PATCHIFY=0); Unsupported when not one.
Expected<std::unique_ptr<CudaOp>> build_patchify_conv(BuildContext& ctx, const OpGroup& group);
bool pool_supports(const Graph& g, const Node& n);
Expected<std::unique_ptr<CudaOp>> build_pool(BuildContext& ctx, const OpGroup& group);
// An op whose work is one launch closure (bound to its buffers at build time); errors name `name`.
std::unique_ptr<CudaOp> make_launch_op(std::string name, std::function<cudaError_t(cudaStream_t)> fn);

// The buffers a cuBLASLt matmul runs on (c may be d), for timing candidate algorithms at build time.
struct LtOperands {
  const void *a = nullptr, *b = nullptr, *c = nullptr;
  void* d = nullptr;
  float alpha = 1.0f, beta = 0.0f;
};
// One cuBLASLt matmul bound to its buffers at build time: descriptor, layouts (c null: D doubles as C), operands in
// cuBLASLt's order (row-major callers pass B as "a") and the algorithm; owns the descriptors. The MatMul/Gemm and
// FusedMatMul ops hold one.
struct LtMatmul {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
  LtOperands ops;
  LtMatmul() = default;
  LtMatmul(const LtMatmul&) = delete;
  LtMatmul& operator=(const LtMatmul&) = delete;
  ~LtMatmul();
  // Row-major D[m, n] = A[m, k] B[k, n] (trans_a: A stored [k, m]; trans_b: B stored [n, k]) in storage type ct with
  // FP32 accumulation: creates the descriptor, the transposes and the a/b/d layouts. cuBLASLt computes column-major
  // D^T = B^T A^T, so its "a" is our B: set ops.a = B, ops.b = A.
  Status init_row_major(cudaDataType_t ct, int64_t m, int64_t k, int64_t n, bool trans_a, bool trans_b,
                        const std::string& what);
  // The epilogue; `bias` (n values, storage type) is set as its bias pointer when not null.
  Status set_epilogue(cublasLtEpilogue_t epi, const void* bias, const std::string& what);
  // D += beta * C with C = `c`, row-major [m, n] in storage type ct.
  Status set_addend(cudaDataType_t ct, int64_t m, int64_t n, const void* c, float beta, const std::string& what);
  Status pick_algo(BuildContext& ctx, const std::string& what);  // pick_lt_algo in the program's workspace
  cublasStatus_t run(const RunContext& rc) const;
};
// The cuBLASLt data type of a device storage type (FP16, BF16, else FP32).
cudaDataType_t lt_data_type(DType t);
// The algorithm for `desc` on these layouts within `workspace_bytes` of `workspace`: cuBLASLt's top heuristic
// candidates (8; FERRY_CUDA_LT_CANDIDATES=N, 1 = the heuristic's first without timing) each run once and timed
// three times on `ops`, the fastest kept; equal configurations (layouts, transposes, epilogue, types) share one
// search through ctx.cached(). Errors and "no algorithm" name `what`. Shared by the MatMul/Gemm, FusedMatMul and
// patchify-conv ops.
Expected<cublasLtMatmulAlgo_t> pick_lt_algo(BuildContext& ctx, cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t a,
                                            cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c,
                                            cublasLtMatrixLayout_t d, size_t workspace_bytes, void* workspace,
                                            const LtOperands& ops, const std::string& what);
// cuda_conv_gemm.cc: a 1x1 stride-1 unpadded ungrouped NHWC FP16/BF16 conv (+ bias, residual z, Relu) as one
// cuBLASLt GEMM over M = N*H*W rows; FERRY_CUDA_1X1_GEMM=0 turns the path off (conv1x1_gemm_enabled).
bool conv1x1_gemm_enabled();
Expected<std::unique_ptr<LtMatmul>> build_conv1x1_gemm(BuildContext& ctx, const std::string& name, DType dt,
                                                       int64_t m, int64_t c, int64_t k, const void* x, const void* w,
                                                       const void* bias, const void* z, void* y, bool relu);
bool matmul_supports(const Graph& g, const Node& n);
Expected<std::unique_ptr<CudaOp>> build_matmul(BuildContext& ctx, const OpGroup& group);
bool elementwise_supports(const Graph& g, const Node& n);
Expected<std::unique_ptr<CudaOp>> build_elementwise(BuildContext& ctx, const OpGroup& group);
// ferry's own kernels (kernels/launch.h): elementwise, softmax, reduce, transpose, concat/slice/gather, norms.
bool kernel_supports(const Graph& g, const Node& n);
Expected<std::unique_ptr<CudaOp>> build_kernel_op(BuildContext& ctx, const OpGroup& group);
// ferry-domain transformer ops (cuda_transformer.cc): FusedMatMul, LayerNorm, SdpAttention (seq_major=1).
bool transformer_supports(const Graph& g, const Node& n);
Expected<std::unique_ptr<CudaOp>> build_transformer_op(BuildContext& ctx, const OpGroup& group);
// Reshape/Flatten/Squeeze/Unsqueeze/Identity: output aliases the input bytes (no op).
bool is_alias_op(const Node& n);

// cuda_convert.cu: float32 <-> float16/bfloat16 element conversion on `stream`.
cudaError_t convert_from_f32(const float* src, void* dst, DType dst_type, size_t n, cudaStream_t stream);
// An empty kernel launched without programmatic dependent launch: work after it starts only once all work before
// it has finished (a full ordering point, also inside a captured CUDA graph).
cudaError_t stream_fence(cudaStream_t stream);
cudaError_t convert_to_f32(const void* src, DType src_type, float* dst, size_t n, cudaStream_t stream);
// cuda_depthwise.cu: depthwise conv (group = C = K, multiplier 1) on NHWC FP16/BF16, C % 8 == 0; filter [R, S, C];
// y = act(conv(x, w) + bias + z), act 0 none, 1 Relu, 2 Clip(0, hi); z may be null.
struct DepthwiseParams {
  int n = 0, h = 0, w = 0, c = 0, p = 0, q = 0, r = 0, s = 0;
  int stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  int act = 0;
  float hi = 0;
};
cudaError_t depthwise_conv_nhwc(DType dtype, const void* x, const void* w, const void* bias, const void* z, void* y,
                                const DepthwiseParams& d, cudaStream_t stream);
// NCHW [n, c, h, w] -> `dst_type` space-to-depth [n, (h+2pad+1)/2, (w+2pad+1)/2, c_stored] (conv_layout.h). The
// source is FP32, or FP16/BF16 equal to dst_type (cudaErrorInvalidValue otherwise); likewise nchw_to_nhwc_padded.
cudaError_t nchw_to_space_to_depth(const void* src, DType src_type, void* dst, DType dst_type, int64_t n, int64_t c,
                                   int64_t h, int64_t w, int64_t pad, int64_t c_stored, cudaStream_t stream);
// True when Conv `n` (reading x[N, C, H, W] as input 0, constant filter) may read a space-to-depth input in
// `precision` (conv_layout.h s2d_stem_fits; FERRY_CUDA_S2D=0 turns it off); *pad receives the conv's pad.
bool conv_reads_s2d(const Graph& g, const Node& n, const Shape& x, DType precision, int64_t* pad);
// NCHW [n, c, hw] <-> NHWC [n, hw, c] between storage types: FP32 to FP32/FP16/BF16, FP16/BF16 to itself, and
// (nhwc_to_nchw only) FP16/BF16 to FP32; cudaErrorInvalidValue for other pairs.
cudaError_t nchw_to_nhwc_typed(const void* src, DType src_type, void* dst, DType dst_type, int64_t n, int64_t c,
                               int64_t hw, cudaStream_t stream);
cudaError_t nhwc_to_nchw_typed(const void* src, DType src_type, void* dst, DType dst_type, int64_t n, int64_t c,
                               int64_t hw, cudaStream_t stream);
// NCHW [n, c, hw] -> `dst_type` NHWC [n, hw, c_stored], channels c..c_stored-1 zero.
cudaError_t nchw_to_nhwc_padded(const void* src, DType src_type, void* dst, DType dst_type, int64_t n, int64_t c,
                                int64_t hw, int64_t c_stored, cudaStream_t stream);

}  // namespace ferry::cuda
