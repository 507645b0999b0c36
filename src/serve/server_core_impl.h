// server_core_impl.h — internal to ServerCore: the per-model state (ModelVersion, ModelEntry) and the
// ServerCore::Impl definition shared by server_core.cc (public API, request validation, inference dispatch)
// and server_core_loading.cc (model-version building, load/unload, repository polling). Not a public header.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>

#include "serve/model_config.h"
#include "serve/scheduler.h"
#include "serve/server_core.h"
#include "serve/stats.h"

namespace ferry::serve {

struct ModelVersion {
  int64_t version = 0;
  std::string version_str;
  std::shared_ptr<const ModelConfig> config;
  std::unique_ptr<Scheduler> scheduler;
  std::shared_ptr<ModelStats> stats = std::make_shared<ModelStats>();
  std::atomic<ModelState> state{ModelState::kLoading};
};

struct ModelEntry {
  std::map<int64_t, std::shared_ptr<ModelVersion>> versions;  // loaded (ready or draining)
  ModelState state = ModelState::kUnknown;                    // when no version is loaded
  std::string reason;
  std::string fingerprint;
  bool expected = false;  // should be loaded (readiness)
};

struct ServerCore::Impl {
  ServerOptions options;
  mutable std::shared_mutex mu;  // guards models; infer holds it shared while enqueueing
  std::map<std::string, ModelEntry> models;
  std::mutex load_mu;  // serializes load/unload
  std::atomic<bool> live{true};
  std::atomic<int64_t> inflight{0};
  std::mutex poll_mu;
  std::condition_variable poll_cv;
  std::thread poll_thread;
  bool poll_stop = false;

  Expected<std::shared_ptr<ModelVersion>> build_version(const ModelConfig& base, int64_t v);
  Status load(const std::string& name);
  Status unload(const std::string& name, bool forget_expected);
  void poll_once();
  Expected<std::shared_ptr<ModelVersion>> find(const std::string& name, const std::string& version) const;
  Status make_job(const ModelVersion& mv, InferRequest& req, Job& job) const;
  void infer(InferRequest request, InferCallback done);
  Expected<std::shared_ptr<ModelVersion>> build_special(const ModelConfig& base, std::shared_ptr<ModelVersion> mv);
};

}  // namespace ferry::serve
