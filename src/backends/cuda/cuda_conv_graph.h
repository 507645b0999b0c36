// cuda_conv_graph.h — NHWC FP16/BF16 convolutions with fused epilogues through cuDNN 9's backend (graph) API.
//
//   ConvGraphDesc d{...};                        // shapes, geometry, bias / residual / activation
//   auto exec = build_conv_graph(ctx, d, {x, w, b, z, y}, "node conv1");
//   if (exec) ... (*exec)->execute(handle) per run; else fall back to the legacy cuDNN calls
//
// One operation graph per op: conv (FP32 accumulation) -> + bias -> + residual z -> Relu / Clip(0, hi), virtual
// FP32 intermediates, one real output. Engine configs come from heuristics mode A; the first few that finalize
// within the workspace are timed once on the op's own buffers and the fastest kept. Plans are cached per
// configuration key in the program (BuildContext::cached), so equal convs share one plan; each op owns a variant
// pack with its fixed arena pointers, so a run is one cudnnBackendExecute (capturable into a CUDA graph).
// FERRY_CUDNN_GRAPH=0 disables the path (legacy API everywhere); FERRY_CUDNN_GRAPH_VERBOSE=1 prints why a conv
// fell back and which engine each configuration got. Grouped convs stay on the legacy API (the only engine
// offered for depthwise + Clip ran 3-6 ms per conv at batch 256 on the H100) unless FERRY_CUDNN_GRAPH_GROUPED=1.
#pragma once

#include <cudnn.h>

#include <memory>
#include <string>

#include "backends/cuda/cuda_ops.h"

namespace ferry::cuda {

struct ConvGraphDesc {
  enum class Act { kNone, kRelu, kClip };
  DType dtype = DType::kFloat16;
  int64_t x[4] = {};  // N, C (stored channels), H, W; NHWC storage
  int64_t w[4] = {};  // K, C / group (stored), R, S; OHWI storage
  int64_t y[4] = {};  // N, K, P, Q; NHWC storage
  int pads[2] = {}, strides[2] = {1, 1}, dilations[2] = {1, 1};
  bool bias = true;
  bool residual = false;
  Act act = Act::kNone;
  double clip_hi = 0;  // Act::kClip: y = min(max(v, 0), clip_hi)
  // Act::kClip as Relu then a pointwise MIN with ConvGraphPointers::hi ([1, K, 1, 1] filled with clip_hi): the
  // runtime-fusion engines reject the Relu's upper clip on some convs (1x1 expand convs of mobilenet_v2).
  bool clip_as_min = false;
  std::string key() const;
};

struct ConvGraphPointers {
  void* x = nullptr;
  void* w = nullptr;
  void* b = nullptr;
  void* z = nullptr;
  void* y = nullptr;
  void* hi = nullptr;  // clip_as_min: K values of clip_hi in the storage type
};

class ConvGraphExec {
 public:
  virtual ~ConvGraphExec() = default;
  virtual Status execute(cudnnHandle_t handle) = 0;
  virtual std::string engine() const = 0;  // "engine N, M candidates" for logs
};

// Unsupported when cuDNN has no engine for this graph (the caller falls back); other errors name `name`.
Expected<std::unique_ptr<ConvGraphExec>> build_conv_graph(BuildContext& ctx, const ConvGraphDesc& d,
                                                          const ConvGraphPointers& p, const std::string& name);
bool conv_graph_enabled();
bool conv_graph_verbose();

}  // namespace ferry::cuda
