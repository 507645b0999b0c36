// serve/grpc/grpc_server.cc — GRPCInferenceService on gRPC's callback API, every RPC through ServerCore.
#include "serve/grpc/grpc_server.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <list>
#include <mutex>
#include <thread>
#include <vector>

#include "grpc_service.grpc.pb.h"
#include "serve/grpc/grpc_tensors.h"
#include "serve/server_core.h"

namespace ferry::serve {

namespace {

using grpc::CallbackServerContext;
using grpc::ServerUnaryReactor;

// Finishes a unary RPC at once with `s`.
ServerUnaryReactor* finish(CallbackServerContext* ctx, const grpc::Status& s) {
  ServerUnaryReactor* r = ctx->DefaultReactor();
  r->Finish(s);
  return r;
}

Status json_to_message(const std::string& json, google::protobuf::Message* m, const char* what) {
  google::protobuf::util::JsonParseOptions o;
  o.ignore_unknown_fields = true;
  auto st = google::protobuf::util::JsonStringToMessage(json, m, o);
  if (!st.ok()) return internal_error(std::string(what) + ": cannot convert the core's JSON: " + st.ToString());
  return Status::ok();
}

void fill_tensor_metadata(const std::vector<TensorMetadata>& in,
                          google::protobuf::RepeatedPtrField<inference::ModelMetadataResponse::TensorMetadata>* out) {
  for (const TensorMetadata& t : in) {
    auto* o = out->Add();
    o->set_name(t.name);
    o->set_datatype(t.datatype);
    for (int64_t d : t.shape) o->add_shape(d);
  }
}

// ModelStreamInfer: every request read from the stream goes to the core; responses are written in completion
// order, one write outstanding at a time. The reactor finishes (and later deletes itself in OnDone) only when the
// client half-closed (or cancelled), no inference is pending and every response was written, so no core callback
// can outlive it.
class StreamInfer final : public grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse> {
 public:
  explicit StreamInfer(ServerCore& core) : core_(core) { StartRead(&req_); }

  void OnReadDone(bool ok) override {
    if (!ok) {
      std::lock_guard<std::mutex> l(mu_);
      reads_done_ = true;
      maybe_finish_locked();
      return;
    }
    InferRequest r;
    Status st = infer_request_from_proto(req_, &r);
    if (!st.is_ok()) {
      inference::ModelStreamInferResponse res;
      res.set_error_message(st.message());
      std::lock_guard<std::mutex> l(mu_);
      push_locked(std::move(res));
    } else {
      {
        std::lock_guard<std::mutex> l(mu_);
        ++pending_;
      }
      core_.infer(std::move(r), [this](InferResponse&& out) {
        inference::ModelStreamInferResponse res;
        Status s = out.status;
        if (s.is_ok() && !out.unavailable) s = infer_response_to_proto(out, res.mutable_infer_response());
        if (!s.is_ok() || out.unavailable) res.set_error_message(s.message().empty() ? "unavailable" : s.message());
        std::lock_guard<std::mutex> l(mu_);
        --pending_;
        push_locked(std::move(res));
      });
    }
    StartRead(&req_);  // the request was copied out above: req_ can be reused
  }

  void OnWriteDone(bool) override {
    std::lock_guard<std::mutex> l(mu_);
    out_.pop_front();
    if (!out_.empty()) StartWrite(&out_.front());
    else writing_ = false;
    maybe_finish_locked();
  }

  void OnDone() override { delete this; }

 private:
  void push_locked(inference::ModelStreamInferResponse res) {
    out_.push_back(std::move(res));  // deque: the element being written keeps its address
    if (!writing_) {
      writing_ = true;
      StartWrite(&out_.front());
    }
    maybe_finish_locked();
  }

  void maybe_finish_locked() {
    if (reads_done_ && pending_ == 0 && !writing_ && out_.empty() && !finished_) {
      finished_ = true;
      Finish(grpc::Status::OK);
    }
  }

  ServerCore& core_;
  inference::ModelInferRequest req_;
  std::mutex mu_;
  std::deque<inference::ModelStreamInferResponse> out_;
  int64_t pending_ = 0;
  bool reads_done_ = false, writing_ = false, finished_ = false;
};

class InferenceService final : public inference::GRPCInferenceService::CallbackService {
 public:
  explicit InferenceService(ServerCore& core) : core_(core) {}

  ServerUnaryReactor* ServerLive(CallbackServerContext* ctx, const inference::ServerLiveRequest*,
                                 inference::ServerLiveResponse* res) override {
    res->set_live(core_.live());
    return finish(ctx, grpc::Status::OK);
  }

  ServerUnaryReactor* ServerReady(CallbackServerContext* ctx, const inference::ServerReadyRequest*,
                                  inference::ServerReadyResponse* res) override {
    res->set_ready(core_.ready());
    return finish(ctx, grpc::Status::OK);
  }

  ServerUnaryReactor* ModelReady(CallbackServerContext* ctx, const inference::ModelReadyRequest* req,
                                 inference::ModelReadyResponse* res) override {
    res->set_ready(core_.model_ready(req->name(), req->version()));
    return finish(ctx, grpc::Status::OK);
  }

  ServerUnaryReactor* ServerMetadata(CallbackServerContext* ctx, const inference::ServerMetadataRequest*,
                                     inference::ServerMetadataResponse* res) override {
    serve::ServerMetadata m = core_.server_metadata();
    res->set_name(m.name);
    res->set_version(m.version);
    for (const std::string& e : m.extensions) res->add_extensions(e);
    return finish(ctx, grpc::Status::OK);
  }

  ServerUnaryReactor* ModelMetadata(CallbackServerContext* ctx, const inference::ModelMetadataRequest* req,
                                    inference::ModelMetadataResponse* res) override {
    Expected<serve::ModelMetadata> m = core_.model_metadata(req->name(), req->version());
    if (!m) return finish(ctx, to_grpc_status(m.status()));
    res->set_name(m->name);
    for (const std::string& v : m->versions) res->add_versions(v);
    res->set_platform(m->platform);
    fill_tensor_metadata(m->inputs, res->mutable_inputs());
    fill_tensor_metadata(m->outputs, res->mutable_outputs());
    return finish(ctx, grpc::Status::OK);
  }

  ServerUnaryReactor* ModelInfer(CallbackServerContext* ctx, const inference::ModelInferRequest* req,
                                 inference::ModelInferResponse* res) override {
    InferRequest r;
    // gRPC owns `req` but nobody reads it after this: its raw contents are moved into the tensors (zero-copy).
    Status st = infer_request_from_proto(const_cast<inference::ModelInferRequest&>(*req), &r);
    if (!st.is_ok()) return finish(ctx, to_grpc_status(st));
    ServerUnaryReactor* reactor = ctx->DefaultReactor();
    // The reactor, `req` and `res` stay valid until Finish(); the core calls back exactly once.
    core_.infer(std::move(r), [reactor, res](InferResponse&& out) {
      if (!out.status.is_ok() || out.unavailable) {
        reactor->Finish(to_grpc_status(out.status, out.unavailable));
        return;
      }
      reactor->Finish(to_grpc_status(infer_response_to_proto(out, res)));
    });
    return reactor;
  }

  grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>* ModelStreamInfer(
      CallbackServerContext*) override {
    return new StreamInfer(core_);
  }

  ServerUnaryReactor* ModelConfig(CallbackServerContext* ctx, const inference::ModelConfigRequest* req,
                                  inference::ModelConfigResponse* res) override {
    Expected<std::string> json = core_.model_config_json(req->name(), req->version());
    if (!json) return finish(ctx, to_grpc_status(json.status()));
    return finish(ctx, to_grpc_status(json_to_message(*json, res->mutable_config(), "ModelConfig")));
  }

  ServerUnaryReactor* ModelStatistics(CallbackServerContext* ctx, const inference::ModelStatisticsRequest* req,
                                      inference::ModelStatisticsResponse* res) override {
    Expected<std::string> json = core_.statistics_json(req->name(), req->version());
    if (!json) return finish(ctx, to_grpc_status(json.status()));
    return finish(ctx, to_grpc_status(json_to_message(*json, res, "ModelStatistics")));
  }

  ServerUnaryReactor* RepositoryIndex(CallbackServerContext* ctx, const inference::RepositoryIndexRequest* req,
                                      inference::RepositoryIndexResponse* res) override {
    for (const ModelIndexEntry& e : core_.repository_index(req->ready())) {
      auto* m = res->add_models();
      m->set_name(e.name);
      m->set_version(e.version);
      m->set_state(model_state_name(e.state));
      m->set_reason(e.reason);
    }
    return finish(ctx, grpc::Status::OK);
  }

  ServerUnaryReactor* RepositoryModelLoad(CallbackServerContext* ctx, const inference::RepositoryModelLoadRequest* req,
                                          inference::RepositoryModelLoadResponse*) override {
    // load_model blocks until the model is loaded: run it off gRPC's callback threads.
    return run_detached(ctx, [this, name = req->model_name()] { return core_.load_model(name); });
  }

  ServerUnaryReactor* RepositoryModelUnload(CallbackServerContext* ctx,
                                            const inference::RepositoryModelUnloadRequest* req,
                                            inference::RepositoryModelUnloadResponse*) override {
    return run_detached(ctx, [this, name = req->model_name()] { return core_.unload_model(name); });
  }

  // Waits for the detached load/unload threads (called after the gRPC server stopped).
  void join_workers() {
    std::list<Worker> w;
    {
      std::lock_guard<std::mutex> l(mu_);
      w.swap(workers_);
    }
    for (Worker& x : w) x.thread.join();
  }

 private:
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };

  // Runs a blocking core call on its own thread and finishes the RPC from there. Threads that already finished
  // are joined on the next call, so the list stays as long as the number of loads/unloads in progress.
  template <typename Fn>
  ServerUnaryReactor* run_detached(CallbackServerContext* ctx, Fn fn) {
    ServerUnaryReactor* reactor = ctx->DefaultReactor();
    std::lock_guard<std::mutex> l(mu_);
    for (auto it = workers_.begin(); it != workers_.end();) {
      if (it->done->load()) {
        it->thread.join();
        it = workers_.erase(it);
      } else {
        ++it;
      }
    }
    auto done = std::make_shared<std::atomic<bool>>(false);
    workers_.push_back({std::thread([reactor, fn, done] {
                          reactor->Finish(to_grpc_status(fn()));
                          done->store(true);
                        }),
                        done});
    return reactor;
  }

  ServerCore& core_;
  std::mutex mu_;
  std::list<Worker> workers_;  // one short-lived thread per load/unload request
};

}  // namespace

struct GrpcServer::Impl {
  std::unique_ptr<InferenceService> service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  std::once_flag stopped;
};

GrpcServer::GrpcServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GrpcServer::~GrpcServer() { shutdown(); }

Expected<std::unique_ptr<GrpcServer>> GrpcServer::start(ServerCore& core, const GrpcOptions& o) {
  auto impl = std::make_unique<Impl>();
  impl->service = std::make_unique<InferenceService>(core);
  grpc::ServerBuilder b;
  b.AddListeningPort(o.address, grpc::InsecureServerCredentials(), &impl->port);
  b.RegisterService(impl->service.get());
  b.SetMaxReceiveMessageSize(o.max_message_bytes);
  b.SetMaxSendMessageSize(o.max_message_bytes);
  b.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, o.max_concurrent_streams);
  impl->server = b.BuildAndStart();
  if (!impl->server || impl->port == 0)
    return invalid_argument("gRPC: cannot listen on '" + o.address + "' (address in use or malformed)");
  return std::unique_ptr<GrpcServer>(new GrpcServer(std::move(impl)));
}

int GrpcServer::port() const { return impl_->port; }

void GrpcServer::shutdown(int64_t deadline_ms) {
  std::call_once(impl_->stopped, [&] {
    impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(deadline_ms));
    impl_->server->Wait();
    impl_->service->join_workers();
  });
}

}  // namespace ferry::serve
