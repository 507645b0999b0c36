// perf_grpc.cc — PerfClient over gRPC (KServe v2 `inference.GRPCInferenceService`, raw_input_contents).
//
// Each client owns its channel (a local subchannel pool, so concurrency slots do not share one HTTP/2 connection,
// as with one HTTP connection per slot) and one prepared ModelInferRequest that every infer() sends.
#include <grpcpp/grpcpp.h>

#include <chrono>

#include "grpc_service.grpc.pb.h"
#include "tools/cli/perf_client.h"

namespace ferry::cli {

namespace {

Status from_grpc(const grpc::Status& s, const std::string& what) {
  if (s.ok()) return Status::ok();
  StatusCode c = s.error_code() == grpc::StatusCode::NOT_FOUND          ? StatusCode::kNotFound
                 : s.error_code() == grpc::StatusCode::INVALID_ARGUMENT ? StatusCode::kInvalidArgument
                                                                        : StatusCode::kInternal;
  return Status(c, what + ": gRPC " + std::to_string(static_cast<int>(s.error_code())) + " " + s.error_message());
}

class GrpcPerfClient final : public PerfClient {
 public:
  explicit GrpcPerfClient(const PerfTarget& t) : t_(t) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetMaxReceiveMessageSize(-1);
    args.SetMaxSendMessageSize(-1);
    stub_ = inference::GRPCInferenceService::NewStub(
        grpc::CreateCustomChannel(t.host + ":" + std::to_string(t.port), grpc::InsecureChannelCredentials(), args));
  }

  Expected<std::vector<PerfInput>> model_inputs() override {
    inference::ModelMetadataRequest req;
    req.set_name(t_.model);
    req.set_version(t_.version);
    inference::ModelMetadataResponse res;
    grpc::ClientContext ctx;
    set_deadline(&ctx);
    FERRY_RETURN_IF_ERROR(from_grpc(stub_->ModelMetadata(&ctx, req, &res), "ModelMetadata '" + t_.model + "'"));
    std::vector<PerfInput> out;
    for (const auto& in : res.inputs()) {
      PerfInput p;
      p.name = in.name();
      p.datatype = in.datatype();
      p.shape.assign(in.shape().begin(), in.shape().end());
      out.push_back(std::move(p));
    }
    return out;
  }

  Status set_inputs(const std::vector<PerfInput>& inputs) override {
    req_.Clear();
    req_.set_model_name(t_.model);
    req_.set_model_version(t_.version);
    for (const PerfInput& in : inputs) {
      auto* t = req_.add_inputs();
      t->set_name(in.name);
      t->set_datatype(in.datatype);
      for (int64_t d : in.shape) t->add_shape(d);
      req_.add_raw_input_contents(in.data);
    }
    return Status::ok();
  }

  Status infer() override {
    inference::ModelInferResponse res;
    grpc::ClientContext ctx;
    set_deadline(&ctx);
    return from_grpc(stub_->ModelInfer(&ctx, req_, &res), "ModelInfer");
  }

  Expected<ServerStats> stats() override {
    inference::ModelStatisticsRequest req;
    req.set_name(t_.model);
    req.set_version(t_.version);
    inference::ModelStatisticsResponse res;
    grpc::ClientContext ctx;
    set_deadline(&ctx);
    FERRY_RETURN_IF_ERROR(from_grpc(stub_->ModelStatistics(&ctx, req, &res), "ModelStatistics"));
    ServerStats s;
    for (const auto& m : res.model_stats()) {
      if (m.name() != t_.model) continue;
      const auto& is = m.inference_stats();
      s.inference_count += m.inference_count();
      s.execution_count += m.execution_count();
      s.success_count += is.success().count();
      s.success_ns += is.success().ns();
      s.fail_count += is.fail().count();
      s.fail_ns += is.fail().ns();
      s.queue_count += is.queue().count();
      s.queue_ns += is.queue().ns();
      s.compute_input_ns += is.compute_input().ns();
      s.compute_infer_ns += is.compute_infer().ns();
      s.compute_output_ns += is.compute_output().ns();
    }
    return s;
  }

 private:
  void set_deadline(grpc::ClientContext* ctx) const {
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(t_.timeout_ms));
  }

  PerfTarget t_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
  inference::ModelInferRequest req_;
};

}  // namespace

Expected<std::unique_ptr<PerfClient>> make_grpc_perf_client(const PerfTarget& target) {
  return std::unique_ptr<PerfClient>(new GrpcPerfClient(target));
}

}  // namespace ferry::cli
