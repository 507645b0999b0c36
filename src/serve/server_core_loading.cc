// server_core_loading.cc — ServerCore::Impl's model lifecycle: building a model version (ONNX Sessions on the
// placed devices, ensembles, ferry_builtin steps) behind a scheduler, loading/unloading a model's versions
// and polling the repository for changes.
#include <algorithm>
#include <filesystem>
#include <map>
#include <mutex>
#include <shared_mutex>

#include "ferry/session.h"
#include "serve/ensemble.h"
#include "serve/ensemble_steps.h"
#include "serve/instance_placement.h"
#include "serve/model_config.h"
#include "serve/model_repository.h"
#include "serve/scheduler.h"
#include "serve/server_core_impl.h"

namespace ferry::serve {

namespace {

class SessionRunner : public ModelRunner {
 public:
  explicit SessionRunner(std::shared_ptr<Session> s) : session_(std::move(s)) {}
  Expected<std::vector<Tensor>> run(const std::vector<Tensor>& inputs) override { return session_->run(inputs); }

 private:
  std::shared_ptr<Session> session_;  // a GPU instance's `inflight` runners share it (its transfers overlap compute)
};

// A "ferry_builtin" step: inputs/outputs arrive in config order, the step wants its own order.
class BuiltinRunner : public ModelRunner {
 public:
  BuiltinRunner(std::unique_ptr<BuiltinStep> step, const ModelConfig& cfg) : step_(std::move(step)) {
    for (const IoInfo& io : step_->inputs())
      for (size_t k = 0; k < cfg.inputs.size(); ++k)
        if (cfg.inputs[k].name == io.name) in_perm_.push_back(k);
    for (const TensorConfig& t : cfg.outputs)
      for (size_t k = 0; k < step_->outputs().size(); ++k)
        if (step_->outputs()[k].name == t.name) out_perm_.push_back(k);
  }
  Expected<std::vector<Tensor>> run(const std::vector<Tensor>& inputs) override {
    std::vector<Tensor> in;
    for (size_t k : in_perm_) in.push_back(inputs[k]);
    auto out = step_->run(in);
    if (!out) return out.status();
    std::vector<Tensor> res;
    for (size_t k : out_perm_) res.push_back((*out)[k]);
    return res;
  }

 private:
  std::unique_ptr<BuiltinStep> step_;
  std::vector<size_t> in_perm_, out_perm_;
};

}  // namespace

// Ensembles and built-in steps: no model file, no Session.
Expected<std::shared_ptr<ModelVersion>> ServerCore::Impl::build_special(const ModelConfig& base,
                                                                       std::shared_ptr<ModelVersion> mv) {
  std::filesystem::path dir = std::filesystem::path(options.repository) / base.name;
  if (base.platform == "ensemble") {
    auto order = validate_ensemble(base, (dir / "config.pbtxt").string(),
                                   [this](const std::string& m) { return is_model_dir(options.repository, m); });
    if (!order) return order.status();
    mv->config = std::make_shared<const ModelConfig>(base);
    mv->scheduler = make_ensemble_scheduler(mv->config, [this](InferRequest r, InferCallback cb) {
      infer(std::move(r), std::move(cb));
    });
    return mv;
  }
  ModelConfig cfg = base;
  for (InstanceGroupConfig& g : cfg.instance_groups) {  // built-in steps run on the CPU: KIND_AUTO means KIND_CPU
    if (g.kind == "KIND_GPU")
      return unsupported("model '" + cfg.name + "': instance group '" + g.name + "' (KIND_GPU): platform ferry_builtin runs on the CPU");
    g.kind = "KIND_CPU";
    g.gpus.clear();
  }
  std::vector<std::unique_ptr<ModelRunner>> runners;
  for (int i = 0; i < std::max(1, cfg.instance_count); ++i) {
    auto step = make_builtin_step(cfg, dir.string());
    if (!step) return step.status().with_context((dir / "config.pbtxt").string());
    if (i == 0) {
      Status st = complete_model_config(cfg, (*step)->inputs(), (*step)->outputs());
      if (!st.is_ok()) return st.with_context((dir / "config.pbtxt").string());
    }
    runners.push_back(std::make_unique<BuiltinRunner>(std::move(step).value(), cfg));
  }
  SchedulerOptions sched;
  sched.max_queue_size = cfg.max_queue_size;
  mv->config = std::make_shared<const ModelConfig>(std::move(cfg));
  mv->scheduler = make_dynamic_batcher(sched, std::move(runners));
  return mv;
}

Expected<std::shared_ptr<ModelVersion>> ServerCore::Impl::build_version(const ModelConfig& base, int64_t v) {
  auto mv = std::make_shared<ModelVersion>();
  mv->version = v;
  mv->version_str = std::to_string(v);
  if (base.platform == "ensemble" || base.platform == "ferry_builtin") return build_special(base, mv);
  if (base.platform != "onnxruntime_onnx")
    return unsupported("model '" + base.name + "': platform '" + base.platform + "' is not served yet");
  std::string path = (std::filesystem::path(options.repository) / base.name / mv->version_str / base.default_model_filename).string();
  ModelConfig cfg = base;
  auto placed = place_instances(cfg, probe_gpus);
  if (!placed) return placed.status();
  std::vector<std::unique_ptr<ModelRunner>> runners;
  for (size_t i = 0; i < placed->size(); ++i) {
    const InstancePlacement& at = (*placed)[i];
    SessionOptions so;
    so.threads = base.threads > 0 ? base.threads : options.threads_per_instance;
    so.device = at.device;
    if (at.device != "cpu") {
      so.precision = cfg.precision;
      so.cuda_graph = cfg.cuda_graph;
      so.device_programs = cfg.device_programs;
    }
    auto s = Session::load(path, so);
    if (!s) {
      std::string where = "model '" + base.name + "' version " + mv->version_str;
      if (at.device == "cpu") return s.status().with_context(where);
      // The device backend says NotFound for a missing device: not a missing model (HTTP 404) here.
      where += ", instance group '" + at.group + "' on " + at.device;
      if (s.status().code() == StatusCode::kNotFound) return unsupported(where + ": " + s.status().message());
      return s.status().with_context(where);
    }
    if (i == 0) {
      Status st = complete_model_config(cfg, (*s)->inputs(), (*s)->outputs());
      if (!st.is_ok()) return st;
    }
    std::shared_ptr<Session> session = std::move(s).value();
    const int threads = at.device == "cpu" ? 1 : cfg.inflight;  // scheduler threads on this instance's Session
    for (int k = 0; k < threads; ++k) runners.push_back(std::make_unique<SessionRunner>(session));
  }
  SchedulerOptions sched;
  sched.batching = cfg.max_batch_size > 0 && cfg.dynamic_batching;
  sched.max_batch_size = cfg.max_batch_size;
  sched.preferred_batch_sizes = cfg.preferred_batch_sizes;
  sched.max_queue_delay_us = cfg.max_queue_delay_us;
  sched.max_queue_size = cfg.max_queue_size;
  mv->config = std::make_shared<const ModelConfig>(std::move(cfg));
  mv->scheduler = make_dynamic_batcher(sched, std::move(runners));
  return mv;
}

Status ServerCore::Impl::load(const std::string& name) {
  std::lock_guard<std::mutex> serial(load_mu);
  auto set_failed = [&](const Status& s) {
    std::unique_lock<std::shared_mutex> lock(mu);
    ModelEntry& e = models[name];
    e.expected = true;
    if (e.versions.empty()) e.state = ModelState::kUnavailable;
    e.reason = s.message();
    return s;
  };
  auto cfg = read_model_config(options.repository, name);
  if (!cfg) {
    if (cfg.status().code() == StatusCode::kNotFound && !is_model_dir(options.repository, name)) return cfg.status();
    return set_failed(cfg.status());
  }
  std::string fp = model_fingerprint(options.repository, name);
  std::vector<int64_t> versions = select_versions(versions_on_disk(options.repository, *cfg), *cfg);
  if (versions.empty())
    return set_failed(not_found("model '" + name + "': no version directory holding '" + cfg->default_model_filename +
                                "' matches the version policy"));
  {
    std::unique_lock<std::shared_mutex> lock(mu);
    ModelEntry& e = models[name];
    e.expected = true;
    if (e.versions.empty()) e.state = ModelState::kLoading;
  }
  std::map<int64_t, std::shared_ptr<ModelVersion>> fresh;
  for (int64_t v : versions) {
    auto mv = build_version(*cfg, v);
    if (!mv) {
      for (auto& [k, m] : fresh) m->scheduler->stop();
      return set_failed(mv.status());
    }
    (*mv)->state = ModelState::kReady;
    fresh[v] = std::move(mv).value();
  }
  std::map<int64_t, std::shared_ptr<ModelVersion>> old;
  {
    std::unique_lock<std::shared_mutex> lock(mu);
    ModelEntry& e = models[name];
    old.swap(e.versions);
    e.versions = std::move(fresh);
    e.state = ModelState::kReady;
    e.reason.clear();
    e.fingerprint = fp;
  }
  // New requests already go to the fresh versions; the old ones finish what they queued.
  for (auto& [v, m] : old) {
    m->state = ModelState::kUnloading;
    m->scheduler->stop();
    m->state = ModelState::kUnavailable;
  }
  return Status::ok();
}

Status ServerCore::Impl::unload(const std::string& name, bool forget_expected) {
  std::lock_guard<std::mutex> serial(load_mu);
  std::map<int64_t, std::shared_ptr<ModelVersion>> old;
  {
    std::unique_lock<std::shared_mutex> lock(mu);
    auto it = models.find(name);
    if (it == models.end()) {
      if (!is_model_dir(options.repository, name)) return not_found("model '" + name + "' is not in the repository");
      return Status::ok();
    }
    old.swap(it->second.versions);
    it->second.state = ModelState::kUnavailable;
    it->second.reason = "unloaded";
    if (forget_expected) it->second.expected = false;
    for (auto& [v, m] : old) m->state = ModelState::kUnloading;
  }
  for (auto& [v, m] : old) {
    m->scheduler->stop();
    m->state = ModelState::kUnavailable;
  }
  return Status::ok();
}

void ServerCore::Impl::poll_once() {
  auto names = list_repository_models(options.repository);
  if (!names) return;
  std::vector<std::string> to_load, to_unload;
  {
    std::shared_lock<std::shared_mutex> lock(mu);
    for (const auto& n : *names) {
      auto it = models.find(n);
      if (it == models.end() || it->second.fingerprint != model_fingerprint(options.repository, n)) to_load.push_back(n);
    }
    for (const auto& [n, e] : models)
      if (std::find(names->begin(), names->end(), n) == names->end() && e.expected) to_unload.push_back(n);
  }
  for (const auto& n : to_load) (void)load(n);
  for (const auto& n : to_unload) (void)unload(n, true);
}

}  // namespace ferry::serve
