// device_executor.h — runs a model on an accelerator backend with per-node CPU fallback.
//
//   FERRY_ASSIGN_OR_RETURN(auto ex, DeviceExecutor::create(model, "cuda:0", {.precision = DType::kFloat16}, 2));
//   FERRY_ASSIGN_OR_RETURN(std::vector<Tensor> outs, ex->run(inputs, pool));
//
// The first run with a new set of input shapes specializes the model: input shapes fixed, the optimizer run at
// (at most) the extended level so shape computations fold and only standard ops remain, types inferred. The
// node list is then cut into maximal runs of nodes the backend supports (device segments) and runs of the rest
// (CPU parts, each compiled as a small CompiledGraph). The backend compiles all device segments at once; values
// cross between host and device only at partition edges. The last specialization is cached, so repeated runs
// with the same shapes do no planning. Everything the backend does not take runs exactly as on the CPU.
// At opt level 3 (all) the transformer fusions (passes/fuse_transformer.h: ferry.LayerNorm, FusedMatMul,
// SdpAttention) run too, but no other ferry-only pass (the conv ones make CPU-only NHWC ops); if the backend does
// not take every ferry node they produce (or fails to build one), the specialization is redone without them and
// summary() says why. FERRY_DEVICE_FUSE_TRANSFORMER=0
// turns them off.
#pragma once

#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "backends/device_backend.h"
#include "core/threadpool.h"
#include "ir/graph.h"

namespace ferry {

class DeviceExecutor {
 public:
  // `model` is the verified, not yet optimized model (copied). `device`: "cuda" or "cuda:N". Creating the
  // executor opens the device, so a missing GPU or a bad ordinal fails here, naming the device.
  static Expected<std::unique_ptr<DeviceExecutor>> create(const Model& model, const std::string& device,
                                                          const DeviceOptions& options, int opt_level);
  // The same over a given backend (tests use a fake one).
  static Expected<std::unique_ptr<DeviceExecutor>> create_with_backend(const Model& model,
                                                                       std::unique_ptr<DeviceBackend> backend,
                                                                       const DeviceOptions& options, int opt_level);
  ~DeviceExecutor();

  // Thread-safe: calls from several threads overlap on the device (one call's transfers with another's compute)
  // when the whole graph runs there; with CPU fallback parts, calls for one input shape take turns.
  Expected<std::vector<Tensor>> run(const std::vector<Tensor>& inputs, ThreadPool& pool);
  // Device timings summed over the segments of the calling thread's last run (zeros before its first run).
  DeviceTimings last_timings() const;
  // "cuda:0 (NVIDIA H100) fp16: 54 device ops (...) | 2 CPU nodes in 1 part" after the first run.
  std::string summary() const;
  // Specializations compiled so far (a shape seen again while still cached is not compiled again).
  int compiles() const {
    std::lock_guard<std::mutex> lock(mu_);
    return compiles_;
  }
  int cached_programs() const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(specs_.size());
  }

  struct Specialization;

 private:
  DeviceExecutor() = default;
  Expected<std::unique_ptr<Specialization>> specialize(const std::vector<Tensor>& inputs);
  Expected<std::unique_ptr<Specialization>> specialize_with(const std::vector<Tensor>& inputs, bool fuse_transformers);
  // The compiled specialization for these input shapes: a cached one (moved to the front) or a new one, dropping
  // the least recently used beyond options_.cached_programs (all others when compiling runs out of memory).
  Expected<std::shared_ptr<Specialization>> specialization_for(const std::vector<Tensor>& inputs);

  Model model_;
  int opt_level_ = 2;
  bool fuse_transformers_ = false;
  DeviceOptions options_;
  std::unique_ptr<DeviceBackend> backend_;
  mutable std::mutex mu_;  // guards specs_, compiles_ and last_timings_ (compiling holds it)
  std::list<std::shared_ptr<Specialization>> specs_;  // most recently used first; a running call keeps its own
  int compiles_ = 0;
  std::unordered_map<std::thread::id, DeviceTimings> last_timings_;  // per calling thread
};

// Parses "cpu", "cuda", "cuda:N" into (kind, ordinal). InvalidArgument otherwise.
Status parse_device(const std::string& device, std::string* kind, int* ordinal);
// Parses "fp32", "fp16", "bf16". InvalidArgument otherwise.
Expected<DType> parse_precision(const std::string& precision);

}  // namespace ferry
