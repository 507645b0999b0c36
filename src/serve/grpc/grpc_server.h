// serve/grpc/grpc_server.h — the gRPC frontend of `ferry serve`: KServe v2 `inference.GRPCInferenceService`.
//
// A thin translation layer over ServerCore (serve/server_core.h): every RPC turns its protobuf request into the
// core's plain structs and the answer back into protobuf; nothing here owns models, queues or sessions. The service
// uses gRPC's callback API, so ModelInfer holds no thread while the model runs: the core's completion callback
// finishes the RPC from the scheduler thread.
//
//   auto core = ferry::serve::ServerCore::create(opts);
//   ferry::serve::GrpcOptions g;
//   g.address = "127.0.0.1:0";                                   // port 0: pick a free port
//   auto grpc = ferry::serve::GrpcServer::start(**core, g);       // Expected<std::unique_ptr<GrpcServer>>
//   std::cout << "gRPC on port " << (*grpc)->port() << "\n";
//   ...
//   (*grpc)->shutdown();   // before the core shuts down: in-flight RPCs finish first
//
// Served: ServerLive, ServerReady, ModelReady, ServerMetadata, ModelMetadata, ModelInfer (raw_input_contents or
// typed InferTensorContents in; raw_output_contents out, as Triton answers), ModelConfig, ModelStatistics,
// RepositoryIndex, RepositoryModelLoad, RepositoryModelUnload, and ModelStreamInfer (bidirectional stream: one
// response per request in completion order; a failed request is a response with error_message set).
// Status mapping: NotFound -> NOT_FOUND, InvalidArgument -> INVALID_ARGUMENT, Unsupported -> UNIMPLEMENTED,
// InferResponse::unavailable -> UNAVAILABLE, anything else -> INTERNAL.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "ferry/status.h"

namespace ferry::serve {

class ServerCore;

struct GrpcOptions {
  std::string address = "0.0.0.0:8001";    // host:port; port 0 binds an ephemeral port
  int max_message_bytes = 256 << 20;        // largest request/response message accepted
  int max_concurrent_streams = 1024;        // per HTTP/2 connection
};

class GrpcServer {
 public:
  // Binds and starts serving `core` (which must outlive the server). InvalidArgument when the address cannot be
  // bound.
  static Expected<std::unique_ptr<GrpcServer>> start(ServerCore& core, const GrpcOptions& options);
  ~GrpcServer();  // shutdown()
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  int port() const;
  // Stops accepting RPCs and waits up to `deadline_ms` for in-flight ones (then cancels them). Idempotent.
  void shutdown(int64_t deadline_ms = 5000);

  struct Impl;

 private:
  explicit GrpcServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::serve
