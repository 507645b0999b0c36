// cuda_patchify.cc — a "patchify" Conv (kernel == stride, no padding, no dilation, group 1: ViT's patch embedding)
// as one permute + one strided-batch cuBLASLt GEMM instead of a cuDNN convolution.
//
// The default (FERRY_CUDA_PATCHIFY=0: cuDNN). vit_b_16's conv_proj (16x16 stride 16, 3 -> 768 channels) on the
// legacy cuDNN path failed intermittently with CUDNN_STATUS_BAD_PARAM at batch 64; this path never did, and took
// vit_b_16 b1 from 0.85 to 0.76 ms on the H100 (b64: 9.99 -> 9.94 ms).
//   patches[N, P, Q, (C, kh, kw)] = permute(x[N, C, P, kh, Q, kw])       (NCHW input; NHWC-stored input: (kh, kw, Cs))
//   y_n[K, P*Q] = W[K, CRS] x patches_n^T + bias[K] (broadcast image as cuBLASLt's C, batch stride 0)
// The patches live at the start of the program's workspace; cuBLASLt gets the rest of it.
#include <array>
#include <cstdlib>
#include <cstring>
#include <functional>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/cuda_ops.h"
#include "backends/cuda/kernels/launch.h"

namespace ferry::cuda {

namespace k = kernels;

namespace {

class PatchifyOp : public CudaOp {
 public:
  ~PatchifyOp() override {
    for (auto* l : {a_layout_, b_layout_, c_layout_, d_layout_})
      if (l) cublasLtMatrixLayoutDestroy(l);
    if (desc_) cublasLtMatmulDescDestroy(desc_);
  }
  Status build(BuildContext& ctx, const Node& n, const DevTensor& x, const DevTensor& y, const Shape& w_shape);
  Status enqueue(const RunContext& rc) override {
    if (rc.workspace_bytes < patch_bytes_ + (size_t{4} << 20)) return internal_error(name_ + ": workspace too small");
    void* patches = rc.workspace;
    FERRY_CUDA_RETURN_IF_ERROR(permute_(patches, rc.stream), name_ + " (patches)");
    char* ws = static_cast<char*>(rc.workspace) + patch_bytes_;
    FERRY_CUBLAS_RETURN_IF_ERROR(cublasLtMatmul(rc.lt, desc_, &alpha_, patches, a_layout_, w_, b_layout_, &beta_, bias_,
                                                c_layout_, y_, d_layout_, &algo_, ws, rc.workspace_bytes - patch_bytes_,
                                                rc.stream),
                                 name_);
    return Status::ok();
  }

 private:
  std::string name_;
  size_t patch_bytes_ = 0;
  std::function<cudaError_t(void*, cudaStream_t)> permute_;
  cublasLtMatmulDesc_t desc_ = nullptr;
  cublasLtMatrixLayout_t a_layout_ = nullptr, b_layout_ = nullptr, c_layout_ = nullptr, d_layout_ = nullptr;
  cublasLtMatmulAlgo_t algo_{};
  float alpha_ = 1.0f, beta_ = 1.0f;
  const void *w_ = nullptr, *bias_ = nullptr;
  void* y_ = nullptr;
};

Status PatchifyOp::build(BuildContext& ctx, const Node& n, const DevTensor& x, const DevTensor& y,
                         const Shape& w_shape) {
  name_ = "node " + n.display_name() + " (patchify)";
  const Graph& g = ctx.graph();
  const int64_t nb = x.shape[0], c = x.shape[1], h = x.shape[2], wd = x.shape[3];
  const int64_t kk = w_shape[0], kh = w_shape[2], kw = w_shape[3];
  const int64_t p = h / kh, q = wd / kw, pq = p * q;
  const int64_t cs = x.nhwc ? (x.stored_c > 0 ? x.stored_c : c) : c;  // stored channels
  const int64_t crs = cs * kh * kw;
  const DType dt = y.dtype;
  const size_t esize = dt == DType::kFloat ? 4 : 2;
  patch_bytes_ = (static_cast<size_t>(nb * pq * crs) * esize + 255) / 256 * 256;
  if (patch_bytes_ + (size_t{4} << 20) > ctx.workspace_bytes()) return unsupported(name_ + ": patches exceed the workspace");
  // Weights in the patch order: NCHW x -> [K][C][kh][kw] (as stored); NHWC x -> [K][kh][kw][Cs], zeros past C.
  const Tensor& w = g.initializers.at(n.inputs[1]);
  Tensor wp = Tensor::empty(DType::kFloat, {kk, crs});
  float* dst = wp.data<float>();
  const float* src = w.data<float>();
  for (int64_t o = 0; o < kk; ++o)
    for (int64_t ci = 0; ci < cs; ++ci)
      for (int64_t r = 0; r < kh; ++r)
        for (int64_t s = 0; s < kw; ++s) {
          float v = ci < c ? src[((o * c + ci) * kh + r) * kw + s] : 0.f;
          int64_t col = x.nhwc ? (r * kw + s) * cs + ci : (ci * kh + r) * kw + s;
          dst[o * crs + col] = v;
        }
  FERRY_ASSIGN_OR_RETURN(void* wdev, ctx.upload_constant(wp, dt));
  w_ = wdev;
  Tensor bimg = Tensor::empty(DType::kFloat, {kk, pq});
  for (int64_t o = 0; o < kk; ++o) {
    float b = n.has_input(2) ? g.initializers.at(n.inputs[2]).data<float>()[o] : 0.f;
    for (int64_t i = 0; i < pq; ++i) bimg.data<float>()[o * pq + i] = b;
  }
  FERRY_ASSIGN_OR_RETURN(void* bdev, ctx.upload_constant(bimg, dt));
  bias_ = bdev;
  y_ = y.ptr;
  // The permute: NCHW x as [N, C, P, kh, Q, kw] -> [N, P, Q, C, kh, kw]; NHWC x as [N, P, kh, Q, kw, Cs] ->
  // [N, P, Q, kh, kw, Cs].
  std::array<int64_t, 6> shp = x.nhwc ? std::array<int64_t, 6>{nb, p, kh, q, kw, cs}
                                      : std::array<int64_t, 6>{nb, c, p, kh, q, kw};
  std::array<int, 6> perm = x.nhwc ? std::array<int, 6>{0, 1, 3, 2, 4, 5} : std::array<int, 6>{0, 2, 4, 1, 3, 5};
  const void* xp = x.ptr;
  if (dt == DType::kFloat)
    permute_ = [=](void* out, cudaStream_t s) {
      return k::permute<float>(static_cast<const float*>(xp), static_cast<float*>(out), 6, shp.data(), perm.data(), s);
    };
  else if (dt == DType::kFloat16)
    permute_ = [=](void* out, cudaStream_t s) {
      return k::permute<__half>(static_cast<const __half*>(xp), static_cast<__half*>(out), 6, shp.data(), perm.data(), s);
    };
  else
    permute_ = [=](void* out, cudaStream_t s) {
      return k::permute<__nv_bfloat16>(static_cast<const __nv_bfloat16*>(xp), static_cast<__nv_bfloat16*>(out), 6,
                                       shp.data(), perm.data(), s);
    };
  // Column-major: D_n [PQ x K] (= row-major y_n [K][PQ]) = op_T(patches_n: col-major [CRS x PQ]) x W (col-major
  // [CRS x K]); C = the bias image with batch stride 0.
  const cudaDataType_t ct = lt_data_type(dt);
  FERRY_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescCreate(&desc_, CUBLAS_COMPUTE_32F, CUDA_R_32F), name_);
  cublasOperation_t op_a = CUBLAS_OP_T, op_b = CUBLAS_OP_N;
  FERRY_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof(op_a)),
                               name_);
  FERRY_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof(op_b)),
                               name_);
  FERRY_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&a_layout_, ct, crs, pq, crs), name_);
  FERRY_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&b_layout_, ct, crs, kk, crs), name_);
  FERRY_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&c_layout_, ct, pq, kk, pq), name_);
  FERRY_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&d_layout_, ct, pq, kk, pq), name_);
  int32_t count = static_cast<int32_t>(nb);
  const int64_t strides[4] = {pq * crs, 0, 0, pq * kk};
  cublasLtMatrixLayout_t layouts[4] = {a_layout_, b_layout_, c_layout_, d_layout_};
  for (int i = 0; i < 4; ++i) {
    FERRY_CUBLAS_RETURN_IF_ERROR(
        cublasLtMatrixLayoutSetAttribute(layouts[i], CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)), name_);
    FERRY_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutSetAttribute(layouts[i], CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                                                  &strides[i], sizeof(strides[i])),
                                 name_);
  }
  // Timed on the workspace's (unwritten) patch area: the algorithm's speed does not depend on the values.
  FERRY_ASSIGN_OR_RETURN(algo_, pick_lt_algo(ctx, desc_, a_layout_, b_layout_, c_layout_, d_layout_,
                                             ctx.workspace_bytes() - patch_bytes_,
                                             static_cast<char*>(ctx.workspace()) + patch_bytes_,
                                             LtOperands{ctx.workspace(), w_, bias_, y_, alpha_, beta_}, name_));
  return Status::ok();
}

}  // namespace

Expected<std::unique_ptr<CudaOp>> build_patchify_conv(BuildContext& ctx, const OpGroup& group) {
  static const bool enabled = [] {
    const char* e = std::getenv("FERRY_CUDA_PATCHIFY");
    return !(e && std::strcmp(e, "0") == 0);
  }();
  const Node& n = *group.nodes.front();
  const std::string no = "node " + n.display_name() + ": not a patchify conv";
  if (!enabled || group.nodes.size() != 1 || n.op_type != "Conv") return unsupported(no);
  const Graph& g = ctx.graph();
  auto wit = g.initializers.find(n.inputs[1]);
  if (wit == g.initializers.end() || wit->second.dtype() != DType::kFloat || wit->second.rank() != 4) return unsupported(no);
  if (n.has_input(2) && !g.initializers.count(n.inputs[2])) return unsupported(no);
  const Shape ws = wit->second.shape();
  std::vector<int64_t> ks = n.attr_ints("kernel_shape", {ws[2], ws[3]});
  std::vector<int64_t> st = n.attr_ints("strides", {1, 1}), dil = n.attr_ints("dilations", {1, 1});
  std::vector<int64_t> pads = n.attr_ints("pads", {0, 0, 0, 0});
  if (n.attr_int("group", 1) != 1 || ks.size() != 2 || st != ks || dil != std::vector<int64_t>{1, 1} ||
      pads != std::vector<int64_t>{0, 0, 0, 0} || n.attr_string("auto_pad", "NOTSET") != "NOTSET" || ks[0] < 2)
    return unsupported(no);
  FERRY_ASSIGN_OR_RETURN(DevTensor x, ctx.value(n.inputs[0]));
  FERRY_ASSIGN_OR_RETURN(DevTensor y, ctx.value(n.outputs[0]));
  if (y.nhwc || x.shape.size() != 4 || x.shape[2] % ks[0] != 0 || x.shape[3] % ks[1] != 0 || x.shape[1] != ws[1])
    return unsupported(no);
  auto op = std::make_unique<PatchifyOp>();
  // Any build failure (e.g. no cuBLASLt algorithm for the batch-broadcast C) falls back to the cuDNN conv.
  if (Status bs = op->build(ctx, n, x, y, ws); !bs.is_ok()) return unsupported(bs.to_string());
  return std::unique_ptr<CudaOp>(std::move(op));
}

}  // namespace ferry::cuda
