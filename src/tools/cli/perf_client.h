// perf_client.h — the load generator's view of a KServe v2 server: one blocking connection per client.
//
// `ferry perf` runs one PerfClient per concurrency slot (thread-per-slot), so a client is never shared between
// threads. Two transports implement it: HTTP/1.1 keep-alive with the binary-tensor extension (perf_http.cc) and
// gRPC `inference.GRPCInferenceService` (perf_grpc.cc over serve/grpc/grpc_client.h).
//
//   PerfTarget t{"127.0.0.1", 8000, "tiny_add"};
//   FERRY_ASSIGN_OR_RETURN(auto c, make_http_perf_client(t));
//   FERRY_ASSIGN_OR_RETURN(auto inputs, c->model_inputs());     // name, datatype, shape (-1 = variable)
//   ... fill PerfInput::data; c->set_inputs(inputs);
//   FERRY_RETURN_IF_ERROR(c->infer());                          // one request, outputs read and dropped
//   FERRY_ASSIGN_OR_RETURN(ServerStats s, c->stats());          // cumulative, from the statistics extension
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ferry/status.h"
#include "ferry/tensor.h"

namespace ferry::cli {

struct PerfTarget {
  std::string host = "127.0.0.1";
  int port = 8000;
  std::string model;
  std::string version;  // "" = the server's choice
  int timeout_ms = 30000;
  bool http_json = false;  // HTTP only: send JSON tensors instead of the binary-tensor extension
};

// One model input as sent: KServe datatype, concrete shape, raw little-endian row-major bytes (BYTES elements are
// 4-byte length prefixed, as on the wire).
struct PerfInput {
  std::string name;
  std::string datatype;
  Shape shape;
  std::string data;
};

// Cumulative server statistics of one model (all versions summed), Triton's statistics extension.
struct ServerStats {
  uint64_t inference_count = 0, execution_count = 0;
  uint64_t success_count = 0, success_ns = 0;
  uint64_t fail_count = 0, fail_ns = 0;
  uint64_t queue_count = 0, queue_ns = 0;
  uint64_t compute_input_ns = 0, compute_infer_ns = 0, compute_output_ns = 0;
};
ServerStats operator-(const ServerStats& a, const ServerStats& b);
// Parses the JSON of /v2/models/{m}/stats ({"model_stats":[...]}); rows of other models are ignored.
Expected<ServerStats> parse_stats_json(const std::string& json, const std::string& model);

class PerfClient {
 public:
  virtual ~PerfClient() = default;
  // Model inputs from the metadata endpoint (datatype, shape with -1 for variable dims; data empty).
  virtual Expected<std::vector<PerfInput>> model_inputs() = 0;
  // Prepares the request sent by every infer() (encoded once).
  virtual Status set_inputs(const std::vector<PerfInput>& inputs) = 0;
  // One inference; the response must be a success. Reconnects once after a dropped keep-alive connection.
  virtual Status infer() = 0;
  virtual Expected<ServerStats> stats() = 0;
};

Expected<std::unique_ptr<PerfClient>> make_http_perf_client(const PerfTarget& target);
Expected<std::unique_ptr<PerfClient>> make_grpc_perf_client(const PerfTarget& target);

}  // namespace ferry::cli
