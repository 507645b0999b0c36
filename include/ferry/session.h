// ferry/session.h — load an ONNX model once, run it many times.
//
//   ferry::SessionOptions opts;
//   opts.threads = 2;
//   auto session = ferry::Session::load("model.onnx", opts);
//   if (!session) { std::cerr << session.status().to_string() << "\n"; return 2; }
//   std::vector<ferry::Tensor> inputs = {ferry::Tensor::zeros(ferry::DType::kFloat, {1, 3, 224, 224})};
//   auto outputs = (*session)->run(inputs);   // Expected<std::vector<Tensor>>, graph-output order
//
// Loading parses the file, sorts and verifies the graph, infers types and shapes (symbolic dims stay symbolic),
// and builds one kernel per node. run() checks inputs against the declared types (count, dtype, rank, fixed
// dims) and returns InvalidArgument naming the input at fault. A CPU Session may be run from one thread at a time;
// a device Session (SessionOptions::device "cuda") from several at once: their requests overlap on the GPU (one's
// transfers with another's kernels; CPU fallback parts take turns).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ferry/status.h"
#include "ferry/tensor.h"

namespace ferry {

struct SessionOptions {
  int threads = 0;    // intra-op threads; 0 = all cores
  int opt_level = 3;  // graph optimizations at load: 0 none, 1 basic, 2 extended, 3 all (default: + ferry-only fused ops)
  // Accelerator: "cpu" (default), "cuda" or "cuda:N". On a device the graph is specialized to the input shapes
  // of a run and compiled; the last `device_programs` specializations stay compiled, so alternating batch sizes
  // do not recompile; unsupported nodes run on the CPU (docs/gpu.md).
  std::string device = "cpu";
  int device_programs = 4;
  std::string precision = "fp32";  // device weights/activations: fp32, fp16 or bf16; inputs/outputs stay FP32
  bool cuda_graph = false;         // capture device work into CUDA graphs (static shapes)
  bool device_transfers = true;    // false: reuse device-resident inputs, skip downloads (benchmarks only)
};

// Device time of the last run (ms): host time to issue the work, then device-event times of the copies and
// kernels, summed over device segments. All zero on the CPU.
struct DeviceRunTimings {
  double enqueue_ms = 0, h2d_ms = 0, compute_ms = 0, d2h_ms = 0;
};

// A graph input or output as declared by the model: dims < 0 are unknown, dim_names holds symbols ("N").
struct IoInfo {
  std::string name;
  DType dtype = DType::kUndefined;
  bool rank_known = false;
  std::vector<int64_t> dims;
  std::vector<std::string> dim_names;
  std::string shape_string() const;  // "[N,3,224,224]" or "?" when the rank is unknown
};

// One node execution, reported to a node observer (profiling, traces). Times are steady_clock nanoseconds.
struct NodeEvent {
  std::string node;     // node name (or "#index" when unnamed)
  std::string op_type;  // "Conv"
  int64_t start_ns = 0;
  int64_t end_ns = 0;
};

class Session {
 public:
  static Expected<std::unique_ptr<Session>> load(const std::string& path, const SessionOptions& options = {});
  static Expected<std::unique_ptr<Session>> load_from_memory(const void* data, size_t size,
                                                             const SessionOptions& options = {});
  ~Session();

  const std::vector<IoInfo>& inputs() const;
  const std::vector<IoInfo>& outputs() const;
  Expected<std::vector<Tensor>> run(const std::vector<Tensor>& inputs);
  int threads() const;
  // Calls `observer` after each top-level node runs (ferry bench --export-profile/--export-trace); an empty
  // function turns observation off. Observing costs two clock reads per node.
  void set_node_observer(std::function<void(const NodeEvent&)> observer);
  // Device runs only: timings of the calling thread's last run, and a one-line description of the partition and
  // program.
  DeviceRunTimings last_device_timings() const;
  std::string device_summary() const;

  struct Impl;

 private:
  explicit Session(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry
