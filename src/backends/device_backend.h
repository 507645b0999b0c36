// device_backend.h — the small interface between the runtime and an accelerator backend (CUDA today).
//
// The runtime (src/runtime/device_executor.cc) owns partitioning, in the GetCapability style: it specializes
// the optimized graph to concrete input shapes, asks the backend which nodes it supports (supports(), with
// static shapes and dtypes in graph.value_info), cuts the node list into maximal runs of supported nodes
// ("device segments") and CPU fallback runs, and computes for each device segment the host values it reads
// (uploads) and the values later CPU nodes or the caller need (downloads). The backend compiles all device
// segments at once into a DeviceProgram (memory planned, weights converted and copied, per-node plans cached)
// and runs one segment at a time.
//
//   FERRY_ASSIGN_OR_RETURN(auto backend, create_device_backend("cuda:0", {.precision = DType::kFloat16}));
//   if (backend->supports(graph, node)) ...
//   FERRY_ASSIGN_OR_RETURN(auto program, backend->compile(graph, segments));
//   FERRY_RETURN_IF_ERROR(program->run_segment(0, host_inputs, &host_outputs, &timings));
//
// Contract (ExecuTorch style):
//   * supports() is pure and cheap; `graph` has concrete shapes for every value the node touches. It may
//     demand that parameter inputs (shapes, axes, weights) are initializers.
//   * compile() may allocate all device memory the program will ever need; run_segment() allocates none
//     (Status OutOfMemory names the device when compile() cannot). The graph must outlive the program.
//   * Host tensors crossing the interface are in the graph's declared dtypes (FP32 for float values), whatever
//     precision the backend computes in.
//   * run_segment() may be called from several threads at once (requests in flight on one program): the backend
//     overlaps one call's transfers with another's compute and keeps each call's data apart.
//   * Errors are Status values naming the node or device; nothing throws or aborts.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ferry/status.h"
#include "ferry/tensor.h"
#include "ir/graph.h"

namespace ferry {

struct DeviceOptions {
  int device = 0;                      // ordinal, from "cuda:N"
  DType precision = DType::kFloat;     // kFloat, kFloat16 or kBFloat16: activations and weights on the device
  bool cuda_graph = false;             // capture each device segment into a CUDA graph on its first run
  bool transfers = true;               // false: run_segment() skips H2D/D2H (bench --no-data-transfers)
  int cached_programs = 4;             // input-shape specializations kept compiled (least recently used dropped)
};

// One device segment: graph node indices in run order, the values copied in before it and out after it.
struct DeviceSegmentSpec {
  std::vector<int> nodes;
  std::vector<std::string> uploads;
  std::vector<std::string> downloads;
};

// Timings of the run_segment() calls of one run, milliseconds (device events; enqueue is host time).
struct DeviceTimings {
  double enqueue_ms = 0;  // host time spent issuing the work (launches, copies into pinned staging)
  double h2d_ms = 0;
  double compute_ms = 0;
  double d2h_ms = 0;
};

class DeviceProgram {
 public:
  virtual ~DeviceProgram() = default;
  // Runs segment `k`. `inputs[i]` is the host tensor of spec.uploads[i]; on success `outputs` holds one host
  // tensor per spec.downloads and this call's timings are added to *timings (when not null). Blocks until the
  // outputs are on the host. With transfers off, inputs are ignored (the device keeps the last ones) and outputs
  // are left empty. Thread-safe.
  virtual Status run_segment(size_t k, const std::vector<const Tensor*>& inputs, std::vector<Tensor>* outputs,
                             DeviceTimings* timings) = 0;
  // One line: device, precision, arena and weight bytes, fused node count.
  virtual std::string summary() const = 0;
};

class DeviceBackend {
 public:
  virtual ~DeviceBackend() = default;
  virtual std::string name() const = 0;  // "cuda:0 (NVIDIA H100 80GB HBM3)"
  virtual bool supports(const Graph& graph, const Node& node) const = 0;
  virtual Expected<std::unique_ptr<DeviceProgram>> compile(const Graph& graph,
                                                           const std::vector<DeviceSegmentSpec>& segments) = 0;
};

// "cuda" or "cuda:N". Errors: Unsupported when ferry was built without that backend; NotFound naming the
// device when there is no GPU or N is out of range.
Expected<std::unique_ptr<DeviceBackend>> create_device_backend(const std::string& device, const DeviceOptions& options);

}  // namespace ferry
