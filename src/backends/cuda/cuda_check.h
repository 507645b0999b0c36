// cuda_check.h — CUDA / cuDNN / cuBLASLt return codes as ferry Status values.
//
//   FERRY_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(...), "upload of 'x'");
//   FERRY_CUDNN_RETURN_IF_ERROR(cudnnConvolutionForward(...), node.display_name());
//
// cudaErrorMemoryAllocation becomes OutOfMemory, everything else Internal; the message names the call site
// given by the caller (a node, a value or the device).
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <string>

#include "ferry/status.h"

namespace ferry::cuda {

inline Status cuda_status(cudaError_t e, const std::string& where) {
  if (e == cudaSuccess) return Status::ok();
  std::string m = where + ": CUDA error " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
  return e == cudaErrorMemoryAllocation ? out_of_memory(m) : internal_error(m);
}
inline Status cudnn_status(cudnnStatus_t e, const std::string& where) {
  if (e == CUDNN_STATUS_SUCCESS) return Status::ok();
  std::string m = where + ": cuDNN error " + cudnnGetErrorString(e);
  if (e == CUDNN_STATUS_ALLOC_FAILED) return out_of_memory(m);
  if (e == CUDNN_STATUS_NOT_SUPPORTED) return unsupported(m);
  return internal_error(m);
}
inline Status cublas_status(cublasStatus_t e, const std::string& where) {
  if (e == CUBLAS_STATUS_SUCCESS) return Status::ok();
  std::string m = where + ": cuBLASLt error " + std::to_string(static_cast<int>(e));
  if (e == CUBLAS_STATUS_ALLOC_FAILED) return out_of_memory(m);
  if (e == CUBLAS_STATUS_NOT_SUPPORTED) return unsupported(m);
  return internal_error(m);
}

}  // namespace ferry::cuda

#define FERRY_CUDA_RETURN_IF_ERROR(expr, where) FERRY_RETURN_IF_ERROR(::ferry::cuda::cuda_status((expr), (where)))
#define FERRY_CUDNN_RETURN_IF_ERROR(expr, where) FERRY_RETURN_IF_ERROR(::ferry::cuda::cudnn_status((expr), (where)))
#define FERRY_CUBLAS_RETURN_IF_ERROR(expr, where) FERRY_RETURN_IF_ERROR(::ferry::cuda::cublas_status((expr), (where)))
