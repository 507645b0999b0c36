// cuda_matmul.cc — Gemm and MatMul through cuBLASLt, with the bias and Relu epilogues fused.
//
// Row-major D[M,N] = A[M,K] B[K,N] is computed as the column-major D^T = B^T A^T, so no data moves: cuBLASLt's
// "A" is our B and its "B" is our A. MatMul with a 2-D right operand folds the batch into M; equal batch dims
// on both sides run as a strided batch. The algorithm is the fastest of cuBLASLt's heuristic candidates, timed
// once at build time on the op's buffers within the program's workspace (pick_lt_algo). FP32 computes in plain FP32 (no TF32), FP16/BF16 accumulate in FP32.
#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/cuda_ops.h"

namespace ferry::cuda {

namespace {

class MatMulOp : public CudaOp {
 public:
  Status build(BuildContext& ctx, const OpGroup& group);
  Status enqueue(const RunContext& rc) override { return cublas_status(mm_.run(rc), name_); }

 private:
  std::string name_;
  LtMatmul mm_;
};

Status MatMulOp::build(BuildContext& ctx, const OpGroup& group) {
  const Node& n = *group.nodes.front();
  name_ = "node " + group.name();
  const bool gemm = n.op_type == "Gemm";
  const bool relu = group.nodes.size() > 1;
  FERRY_ASSIGN_OR_RETURN(DevTensor a, ctx.value(n.inputs[0]));
  FERRY_ASSIGN_OR_RETURN(DevTensor b, ctx.value(n.inputs[1]));
  FERRY_ASSIGN_OR_RETURN(DevTensor d, ctx.value(group.nodes.back()->outputs[0]));
  const bool ta = gemm && n.attr_int("transA", 0);
  const bool tb = gemm && n.attr_int("transB", 0);
  if (gemm) {
    mm_.ops.alpha = n.attr_float("alpha", 1.0f);
  }
  const Shape& as = a.shape;
  const Shape& bs = b.shape;
  int64_t m = ta ? as[as.size() - 1] : as[as.size() - 2];
  int64_t k = ta ? as[as.size() - 2] : as[as.size() - 1];
  int64_t nn = tb ? bs[bs.size() - 2] : bs[bs.size() - 1];
  int64_t batch = 1;
  int64_t a_stride = 0, b_stride = 0;
  if (bs.size() == 2) {
    for (size_t i = 0; i + 2 < as.size(); ++i) m *= as[i];  // fold A's batch into M (A is packed)
  } else {
    for (size_t i = 0; i + 2 < as.size(); ++i) batch *= as[i];
    a_stride = m * k;
    b_stride = k * nn;
  }
  const DType dt = d.dtype;
  const cudaDataType_t ct = lt_data_type(dt);
  FERRY_RETURN_IF_ERROR(mm_.init_row_major(ct, m, k, nn, ta, tb, name_));
  if (batch > 1) {
    int32_t count = static_cast<int32_t>(batch);
    int64_t d_stride = m * nn;
    for (auto [layout, stride] : {std::pair{mm_.a, b_stride}, {mm_.b, a_stride}, {mm_.d, d_stride}}) {
      FERRY_CUBLAS_RETURN_IF_ERROR(
          cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)), name_);
      FERRY_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                                                    &stride, sizeof(stride)),
                                   name_);
    }
  }
  cublasLtEpilogue_t epi = relu ? CUBLASLT_EPILOGUE_RELU : CUBLASLT_EPILOGUE_DEFAULT;
  void* bias_ptr = nullptr;
  if (gemm && n.has_input(2)) {
    const Graph& g = ctx.graph();
    float beta = n.attr_float("beta", 1.0f);
    Shape cs;
    static_shape(g, n.inputs[2], &cs);
    int64_t cn = shape_numel(cs);
    if (cn == nn && (cs.size() == 1 || (cs.size() == 2 && cs[0] == 1)) && g.initializers.count(n.inputs[2])) {
      Tensor bias = g.initializers.at(n.inputs[2]);
      if (beta != 1.0f) {
        Tensor scaled = Tensor::empty(DType::kFloat, bias.shape());
        for (int64_t i = 0; i < cn; ++i) scaled.data<float>()[i] = bias.data<float>()[i] * beta;
        bias = scaled;
      }
      FERRY_ASSIGN_OR_RETURN(bias_ptr, ctx.upload_constant(bias, dt));
      epi = relu ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS;
    } else if (cs.size() == 2 && cs[0] == m && cs[1] == nn) {
      FERRY_ASSIGN_OR_RETURN(DevTensor c, ctx.value(n.inputs[2]));
      FERRY_RETURN_IF_ERROR(mm_.set_addend(ct, m, nn, c.ptr, beta, name_));
    } else {
      return unsupported(name_ + ": Gemm's C shape " + shape_to_string(cs) + " is not supported on CUDA");
    }
  }
  FERRY_RETURN_IF_ERROR(mm_.set_epilogue(epi, bias_ptr, name_));
  mm_.ops.a = b.ptr;
  mm_.ops.b = a.ptr;
  mm_.ops.d = d.ptr;
  FERRY_RETURN_IF_ERROR(mm_.pick_algo(ctx, name_));
  return Status::ok();
}

}  // namespace

cudaDataType_t lt_data_type(DType t) {
  return t == DType::kFloat16 ? CUDA_R_16F : t == DType::kBFloat16 ? CUDA_R_16BF : CUDA_R_32F;
}

LtMatmul::~LtMatmul() {
  for (cublasLtMatrixLayout_t l : {a, b, c, d})
    if (l) cublasLtMatrixLayoutDestroy(l);
  if (desc) cublasLtMatmulDescDestroy(desc);
}

Status LtMatmul::init_row_major(cudaDataType_t ct, int64_t m, int64_t k, int64_t n, bool trans_a, bool trans_b,
                                const std::string& what) {
  FERRY_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), what);
  const cublasOperation_t op_a = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, op_b = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  FERRY_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof(op_a)),
                               what);
  FERRY_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof(op_b)),
                               what);
  // Column-major views: our B is [n x k] (trans_b) or [k x n]; our A is [m x k] (trans_a) or [k x m]; D is [n x m].
  FERRY_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&a, ct, trans_b ? k : n, trans_b ? n : k, trans_b ? k : n),
                               what);
  FERRY_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&b, ct, trans_a ? m : k, trans_a ? k : m, trans_a ? m : k),
                               what);
  FERRY_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&d, ct, n, m, n), what);
  return Status::ok();
}

Status LtMatmul::set_epilogue(cublasLtEpilogue_t epi, const void* bias, const std::string& what) {
  if (bias) {
    FERRY_CUBLAS_RETURN_IF_ERROR(
        cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)), what);
  }
  FERRY_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)),
                               what);
  return Status::ok();
}

Status LtMatmul::set_addend(cudaDataType_t ct, int64_t m, int64_t n, const void* addend, float beta,
                            const std::string& what) {
  FERRY_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&c, ct, n, m, n), what);
  ops.c = addend;
  ops.beta = beta;
  return Status::ok();
}

Status LtMatmul::pick_algo(BuildContext& ctx, const std::string& what) {
  FERRY_ASSIGN_OR_RETURN(algo, pick_lt_algo(ctx, desc, a, b, c ? c : d, d, ctx.workspace_bytes(), ctx.workspace(),
                                            ops, what));
  return Status::ok();
}

cublasStatus_t LtMatmul::run(const RunContext& rc) const {
  return cublasLtMatmul(rc.lt, desc, &ops.alpha, ops.a, a, ops.b, b, &ops.beta, ops.c ? ops.c : ops.d, c ? c : d,
                        ops.d, d, &algo, rc.workspace, rc.workspace_bytes, rc.stream);
}

namespace {

// A cache key for an algorithm search: every layout's shape and strides plus the descriptor's settings.
std::string lt_key(cublasLtMatmulDesc_t desc, std::initializer_list<cublasLtMatrixLayout_t> layouts, size_t ws) {
  std::string key = "lt";
  size_t got = 0;
  for (cublasLtMatrixLayout_t l : layouts) {
    for (auto attr : {CUBLASLT_MATRIX_LAYOUT_TYPE, CUBLASLT_MATRIX_LAYOUT_ROWS, CUBLASLT_MATRIX_LAYOUT_COLS,
                      CUBLASLT_MATRIX_LAYOUT_LD, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                      CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET}) {
      int64_t v = 0;  // every attribute read fits in 8 bytes (int32/uint64/int64); the size must match exactly
      if (cublasLtMatrixLayoutGetAttribute(l, attr, nullptr, 0, &got) == CUBLAS_STATUS_SUCCESS && got <= sizeof(v))
        cublasLtMatrixLayoutGetAttribute(l, attr, &v, got, &got);
      key += ":" + std::to_string(v);
    }
    key += "|";
  }
  for (auto attr : {CUBLASLT_MATMUL_DESC_TRANSA, CUBLASLT_MATMUL_DESC_TRANSB, CUBLASLT_MATMUL_DESC_EPILOGUE,
                    CUBLASLT_MATMUL_DESC_COMPUTE_TYPE, CUBLASLT_MATMUL_DESC_SCALE_TYPE}) {
    int64_t v = 0;
    if (cublasLtMatmulDescGetAttribute(desc, attr, nullptr, 0, &got) == CUBLAS_STATUS_SUCCESS && got <= sizeof(v))
      cublasLtMatmulDescGetAttribute(desc, attr, &v, got, &got);
    key += ":" + std::to_string(v);
  }
  return key + "|ws" + std::to_string(ws);
}

}  // namespace

Expected<cublasLtMatmulAlgo_t> pick_lt_algo(BuildContext& ctx, cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t a,
                                            cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c,
                                            cublasLtMatrixLayout_t d, size_t workspace_bytes, void* workspace,
                                            const LtOperands& ops, const std::string& what) {
  static const int max_candidates = [] {
    const char* e = std::getenv("FERRY_CUDA_LT_CANDIDATES");
    return e ? std::clamp(std::atoi(e), 1, 32) : 8;
  }();
  std::shared_ptr<void>& slot = ctx.cached(lt_key(desc, {a, b, c, d}, workspace_bytes));
  if (slot) return *static_cast<cublasLtMatmulAlgo_t*>(slot.get());
  cublasLtHandle_t lt = ctx.lt();
  cublasLtMatmulPreference_t pref = nullptr;
  FERRY_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceCreate(&pref), what);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace_bytes,
                                       sizeof(workspace_bytes));
  std::vector<cublasLtMatmulHeuristicResult_t> results(static_cast<size_t>(max_candidates));
  int found = 0;
  cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(lt, desc, a, b, c, d, pref, max_candidates, results.data(), &found);
  cublasLtMatmulPreferenceDestroy(pref);
  FERRY_CUBLAS_RETURN_IF_ERROR(st, what + ": algorithm heuristic");
  if (found == 0) return unsupported(what + ": cuBLASLt found no algorithm");
  cublasLtMatmulAlgo_t best = results[0].algo;
  if (found > 1) {
    cudaStream_t stream = nullptr;
    cudnnGetStream(ctx.cudnn(), &stream);
    cudaEvent_t ev[2] = {};
    FERRY_CUDA_RETURN_IF_ERROR(cudaEventCreate(&ev[0]), what + ": event");
    FERRY_CUDA_RETURN_IF_ERROR(cudaEventCreate(&ev[1]), what + ": event");
    auto launch = [&](const cublasLtMatmulAlgo_t& algo) {
      return cublasLtMatmul(lt, desc, &ops.alpha, ops.a, a, ops.b, b, &ops.beta, ops.c ? ops.c : ops.d, c, ops.d, d,
                            &algo, workspace, workspace_bytes, stream);
    };
    float best_ms = 1e30f;
    for (int i = 0; i < found; ++i) {
      if (results[static_cast<size_t>(i)].state != CUBLAS_STATUS_SUCCESS) continue;
      const cublasLtMatmulAlgo_t& algo = results[static_cast<size_t>(i)].algo;
      if (launch(algo) != CUBLAS_STATUS_SUCCESS || cudaStreamSynchronize(stream) != cudaSuccess) {  // untimed: loads
        cudaGetLastError();
        continue;
      }
      float ms_best = 1e30f;
      for (int rep = 0; rep < 3; ++rep) {
        cudaEventRecord(ev[0], stream);
        launch(algo);
        cudaEventRecord(ev[1], stream);
        cudaEventSynchronize(ev[1]);
        float ms = 0;
        cudaEventElapsedTime(&ms, ev[0], ev[1]);
        ms_best = std::min(ms_best, ms);
      }
      if (ms_best < best_ms) best_ms = ms_best, best = algo;
    }
    cudaEventDestroy(ev[0]);
    cudaEventDestroy(ev[1]);
    FERRY_CUDA_RETURN_IF_ERROR(cudaGetLastError(), what + ": algorithm trials");
  }
  slot = std::make_shared<cublasLtMatmulAlgo_t>(best);
  return best;
}

bool matmul_supports(const Graph& g, const Node& n) {
  if (n.op_type != "Gemm" && n.op_type != "MatMul") return false;
  if (n.inputs.size() < 2 || n.outputs.size() != 1) return false;
  Shape a, b;
  if (!static_shape(g, n.inputs[0], &a) || !static_shape(g, n.inputs[1], &b)) return false;
  if (a.size() < 2 || b.size() < 2) return false;
  if (n.op_type == "Gemm") {
    if (a.size() != 2 || b.size() != 2) return false;
    if (n.has_input(2)) {
      Shape c;
      if (!static_shape(g, n.inputs[2], &c)) return false;
      const int64_t m = n.attr_int("transA", 0) ? a[1] : a[0];
      const int64_t nn = n.attr_int("transB", 0) ? b[0] : b[1];
      const bool bias = g.initializers.count(n.inputs[2]) && shape_numel(c) == nn &&
                        (c.size() == 1 || (c.size() == 2 && c[0] == 1));
      if (!bias && c != Shape{m, nn}) return false;
    }
    return true;
  }
  if (b.size() == 2) return true;
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i + 2 < a.size(); ++i)
    if (a[i] != b[i]) return false;
  return true;
}

Expected<std::unique_ptr<CudaOp>> build_matmul(BuildContext& ctx, const OpGroup& group) {
  auto op = std::make_unique<MatMulOp>();
  FERRY_RETURN_IF_ERROR(op->build(ctx, group));
  return std::unique_ptr<CudaOp>(std::move(op));
}

}  // namespace ferry::cuda
