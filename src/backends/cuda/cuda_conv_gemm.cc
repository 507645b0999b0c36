// cuda_conv_gemm.cc — a 1x1, stride-1, unpadded, ungrouped NHWC FP16/BF16 conv is a GEMM: y[M, K] = x[M, C] W^T
// (M = N*H*W, W stored OHWI = [K, C]); bias, residual and Relu go into cuBLASLt's epilogue, D = relu(x W^T + z +
// bias) with z as cuBLASLt's C (beta 1). The default (FERRY_CUDA_1X1_GEMM=0: the cuDNN graph path): on the H100
// resnet50 FP16 b256 7.41/7.43 -> 6.72/6.75 ms, b1 0.335/0.334 -> 0.319/0.323 ms (two rounds, docs/gpu.md).
#include <cstdlib>
#include <cstring>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/cuda_ops.h"

namespace ferry::cuda {

bool conv1x1_gemm_enabled() {
  const char* e = std::getenv("FERRY_CUDA_1X1_GEMM");
  return !(e && std::strcmp(e, "0") == 0);
}

Expected<std::unique_ptr<LtMatmul>> build_conv1x1_gemm(BuildContext& ctx, const std::string& name, DType dt,
                                                       int64_t m, int64_t c, int64_t k, const void* x, const void* w,
                                                       const void* bias, const void* z, void* y, bool relu) {
  if (dt != DType::kFloat16 && dt != DType::kBFloat16) return unsupported(name + ": 1x1 GEMM path is FP16/BF16 only");
  const std::string where = name + " (1x1 conv as cuBLASLt GEMM)";
  auto mm = std::make_unique<LtMatmul>();
  const cudaDataType_t ct = lt_data_type(dt);
  // Row-major y[M, K] = x[M, C] W^T with W stored [K, C] (trans_b); the residual z as cuBLASLt's C (beta 1), so
  // the epilogue's bias and Relu apply to x W^T + z.
  FERRY_RETURN_IF_ERROR(mm->init_row_major(ct, m, c, k, /*trans_a=*/false, /*trans_b=*/true, where));
  FERRY_RETURN_IF_ERROR(mm->set_epilogue(relu ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS, bias, where));
  if (z) FERRY_RETURN_IF_ERROR(mm->set_addend(ct, m, k, z, 1.0f, where));
  mm->ops.a = w;
  mm->ops.b = x;
  mm->ops.d = y;
  FERRY_RETURN_IF_ERROR(mm->pick_algo(ctx, where));
  return mm;
}

}  // namespace ferry::cuda
