// serve/server_core.h — the frontend-independent inference server: what `ferry serve` runs behind HTTP and gRPC.
//
// A ServerCore owns a model repository (<repo>/<model>/config.pbtxt + <repo>/<model>/<version>/model.onnx), the
// lifecycle of every model version in it, one Scheduler per loaded version (the dynamic batcher or a direct
// scheduler) and the statistics of every request. Frontends (serve/http_server.cc, serve/grpc/...) only translate
// their wire format into the plain structs below and back; they never see Sessions, queues or protobuf.
//
//   ferry::serve::ServerOptions opts;
//   opts.repository = "examples/model_repository";
//   opts.control_mode = ferry::serve::ModelControlMode::kNone;     // load everything at startup
//   auto core = ferry::serve::ServerCore::create(opts);           // Expected<std::unique_ptr<ServerCore>>
//   if (!core) { std::cerr << core.status().to_string() << "\n"; return 2; }
//
//   ferry::serve::InferRequest req;
//   req.model_name = "tiny_add";
//   req.inputs.push_back({"A", ferry::Tensor::from_vector<float>(ferry::DType::kFloat, {1, 2}, {1, 2})});
//   req.inputs.push_back({"B", ferry::Tensor::from_vector<float>(ferry::DType::kFloat, {1, 2}, {3, 4})});
//   ferry::serve::InferResponse res = (*core)->infer(std::move(req)).get();   // or infer(req, callback)
//   if (!res.status.is_ok()) ...;   // res.unavailable: overload/shutdown -> HTTP 503 / gRPC UNAVAILABLE
//   const ferry::Tensor& c = res.outputs[0].tensor;
//
// Threading: every method is thread-safe. infer() never blocks on inference: it validates the request, hands it
// to the model's scheduler and returns; the callback runs later on a scheduler thread (or inline, before infer
// returns, when the request is rejected). Callbacks must be quick (post the response back to the frontend's own
// event loop) and must not call shutdown().
//
// Errors: ferry::Status. NotFound = unknown model/version/tensor (HTTP 404 / gRPC NOT_FOUND), InvalidArgument =
// malformed request (400 / INVALID_ARGUMENT), Unsupported (400 / UNIMPLEMENTED), anything else 500 / INTERNAL.
// Status has no "try later" code, so rejections caused by a full queue, a queue timeout, a model that is not
// ready, or a server that is draining set InferResponse::unavailable (503 / UNAVAILABLE) next to the Status.
//
// Statistics follow Triton's statistics extension JSON layout (model_stats[].inference_stats.{success,fail,queue,
// compute_input,compute_infer,compute_output}.{count,ns}, batch_stats[]), so perf_analyzer-like tools read them.
// "success.ns" is the whole request time inside the core (from InferRequest::received_ns, stamped by the
// frontend when the request was fully read, to the callback), so server overhead per request is
//   (success.ns - queue.ns - compute_input.ns - compute_infer.ns - compute_output.ns) / success.count.
#pragma once

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/status.h"
#include "ferry/tensor.h"

namespace ferry::serve {

// ---------------------------------------------------------------------------------------------- data types
// KServe v2 datatype strings: "BOOL", "UINT8".."UINT64", "INT8".."INT64", "FP16", "FP32", "FP64", "BF16", "BYTES".
// Returns "" for dtypes KServe cannot carry.
std::string_view kserve_datatype(DType t);
// Inverse of kserve_datatype; kUndefined for an unknown string.
DType dtype_from_kserve(std::string_view datatype);
// Triton config.pbtxt spelling ("TYPE_FP32", "TYPE_STRING", ...) <-> DType (kUndefined when unknown).
std::string_view triton_config_dtype(DType t);
DType dtype_from_triton_config(std::string_view type);

// A named tensor on the wire. BYTES tensors are DType::kString (one std::string per element).
struct NamedTensor {
  std::string name;
  Tensor tensor;
};

// --------------------------------------------------------------------------------------------- inference
struct InferRequest {
  std::string model_name;
  std::string model_version;            // "" = the highest ready version
  std::string id;                       // echoed in the response
  std::vector<NamedTensor> inputs;      // every model input, in any order
  std::vector<std::string> outputs;     // requested outputs; empty = all model outputs, in model order
  int64_t received_ns = 0;              // steady_clock ns when the frontend had the whole request; 0 = now
  int64_t timeout_us = 0;               // per-request queue timeout; 0 = the model's queue policy
};

struct InferResponse {
  Status status;                        // ok, or the error naming the model/tensor at fault
  bool unavailable = false;             // error is transient: queue full/timeout, not ready, draining (503)
  std::string model_name;
  std::string model_version;            // the version that ran
  std::string id;
  std::vector<NamedTensor> outputs;     // in the order requested
};

using InferCallback = std::function<void(InferResponse&&)>;

// ---------------------------------------------------------------------------------------------- metadata
// Tensor metadata as KServe reports it: dims -1 are variable (incl. the batch dim when max_batch_size > 0).
struct TensorMetadata {
  std::string name;
  std::string datatype;                 // KServe string, "FP32"
  std::vector<int64_t> shape;
};

struct ModelMetadata {
  std::string name;
  std::vector<std::string> versions;    // ready versions, ascending
  std::string platform;                 // "onnxruntime_onnx" or "ensemble" (Triton's names)
  std::vector<TensorMetadata> inputs;
  std::vector<TensorMetadata> outputs;
};

struct ServerMetadata {
  std::string name = "ferry";
  std::string version;
  std::vector<std::string> extensions;  // "classification", "binary_tensor_data", "model_repository", ...
};

// Lifecycle of one model version (Triton's ModelReadyState). Transitions:
//   kUnknown -> kLoading -> kReady | kUnavailable(reason);  kReady -> kUnloading -> kUnavailable.
enum class ModelState {
  kUnknown,      // in the repository, never loaded
  kLoading,      // session(s) being built; requests are rejected (unavailable)
  kReady,        // accepting requests
  kUnloading,    // draining in-flight requests; new requests are rejected (unavailable)
  kUnavailable,  // unloaded or failed to load (see reason)
};
const char* model_state_name(ModelState s);  // "UNKNOWN", "LOADING", "READY", "UNLOADING", "UNAVAILABLE"

// One row of the repository index (POST /v2/repository/index).
struct ModelIndexEntry {
  std::string name;
  std::string version;                  // "" for a model that has no loaded version
  ModelState state = ModelState::kUnknown;
  std::string reason;                   // why it is unavailable
};

// ------------------------------------------------------------------------------------------------ server
// How the model set changes after startup (Triton's --model-control-mode).
enum class ModelControlMode {
  kNone,      // load every model at startup; load/unload requests are refused
  kPoll,      // like kNone, then rescan the repository every poll_interval_s: new/changed/removed models follow
  kExplicit,  // load only `startup_models` at startup; load/unload requests decide the rest
};

struct ServerOptions {
  std::string repository;                    // the model repository directory
  ModelControlMode control_mode = ModelControlMode::kNone;
  std::vector<std::string> startup_models;   // kExplicit: loaded at startup ("*" = all)
  int poll_interval_s = 5;                   // kPoll
  int threads_per_instance = 1;              // intra-op threads of each model instance (config may override)
  bool strict_readiness = true;              // ready() only when every model that should be loaded is ready
};

class ServerCore {
 public:
  // Scans the repository and loads the startup models. A model that fails to load does not fail creation
  // (it shows as kUnavailable with its reason); a missing/unreadable repository does.
  static Expected<std::unique_ptr<ServerCore>> create(const ServerOptions& options);
  ~ServerCore();
  ServerCore(const ServerCore&) = delete;
  ServerCore& operator=(const ServerCore&) = delete;

  // Health: live until shutdown() starts; ready when live and (strict) every expected model is ready.
  bool live() const;
  bool ready() const;

  ServerMetadata server_metadata() const;
  // version "" = any/highest ready version. NotFound for an unknown model or version.
  Expected<ModelMetadata> model_metadata(const std::string& name, const std::string& version) const;
  bool model_ready(const std::string& name, const std::string& version) const;
  // The model configuration as Triton returns it from /config: the ModelConfig protobuf as JSON (with the
  // fields completed from the model when config.pbtxt was absent or partial).
  Expected<std::string> model_config_json(const std::string& name, const std::string& version) const;

  // Repository API. ready_only: only rows in kReady.
  std::vector<ModelIndexEntry> repository_index(bool ready_only) const;
  // Load (or reload, picking up a changed config/new versions) / unload a model. Unsupported in kNone/kPoll
  // mode, NotFound when the model is not in the repository. Blocks until the transition is done; unload waits
  // for in-flight requests of that model to finish. Requests to other models are not disturbed.
  Status load_model(const std::string& name);
  Status unload_model(const std::string& name);

  // Statistics in Triton's JSON layout ({"model_stats":[...]}); name "" = every model, version "" = all.
  Expected<std::string> statistics_json(const std::string& name, const std::string& version) const;
  // Prometheus text exposition (/metrics).
  std::string metrics_text() const;

  // Asynchronous inference: `done` is called exactly once.
  void infer(InferRequest request, InferCallback done);
  // Convenience wrapper over the callback form.
  std::future<InferResponse> infer(InferRequest request);

  // Number of requests accepted but not yet answered (all models).
  int64_t inflight() const;

  // Stops accepting requests (they get unavailable), waits up to `drain_ms` for in-flight ones, stops the
  // schedulers and unloads everything. Idempotent. live() is false afterwards.
  void shutdown(int64_t drain_ms = 30000);

  struct Impl;

 private:
  explicit ServerCore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::serve
