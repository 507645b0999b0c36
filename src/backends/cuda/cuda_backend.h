// cuda_backend.h — the NVIDIA GPU backend (CUDA runtime, cuDNN, cuBLASLt) behind DeviceBackend.
//
//   FERRY_ASSIGN_OR_RETURN(auto backend, cuda::make_cuda_backend({.device = 0, .precision = DType::kFloat16}));
//
// What it runs: Conv (fused with a residual Add and Relu), pooling, Gemm/MatMul (bias/Relu epilogues), the
// elementwise/activation/softmax/transpose/reduce ops cuDNN's tensor functions cover, and the view ops
// (Reshape, Flatten, Squeeze, Unsqueeze, Identity) as aliases; static shapes only (the runtime specializes the
// graph to the input shapes first). A program owns: one stream, a cuDNN and a cuBLASLt handle, one device
// arena planned from liveness (memory_plan.h), one weight buffer, one workspace, one pinned staging buffer —
// all allocated in compile(), none while running. Built only with FERRY_CUDA=ON (FERRY_HAVE_CUDA defined).
#pragma once

#include <memory>

#include "backends/device_backend.h"

namespace ferry::cuda {

// Errors: NotFound naming the device when no GPU is visible or the ordinal is out of range.
Expected<std::unique_ptr<DeviceBackend>> make_cuda_backend(const DeviceOptions& options);

}  // namespace ferry::cuda
