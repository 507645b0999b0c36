// ensemble.cc — ensemble validation (unknown step model, unmapped tensor, cycle) and the ensemble scheduler.
#include "serve/ensemble.h"

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>

#include "serve/stats.h"

namespace ferry::serve {

namespace {
std::string step_name(const ModelConfig& cfg, size_t i) {
  return "ensemble '" + cfg.name + "' step " + std::to_string(i + 1) + " ('" + cfg.ensemble_steps[i].model_name + "')";
}
}  // namespace

Expected<std::vector<size_t>> validate_ensemble(const ModelConfig& cfg, const std::string& origin,
                                                const std::function<bool(const std::string&)>& model_exists) {
  const auto& steps = cfg.ensemble_steps;
  if (steps.empty()) return invalid_argument(origin + ": ensemble '" + cfg.name + "' has no step");
  if (cfg.inputs.empty() || cfg.outputs.empty())
    return invalid_argument(origin + ": ensemble '" + cfg.name + "' must declare its input and output tensors");
  for (const auto* ts : {&cfg.inputs, &cfg.outputs})
    for (const TensorConfig& t : *ts)
      if (t.dtype == DType::kUndefined)
        return invalid_argument(origin + ": ensemble '" + cfg.name + "': tensor '" + t.name + "' needs a data_type");
  std::map<std::string, size_t> producer;  // ensemble tensor -> step index
  std::set<std::string> inputs;
  for (const TensorConfig& t : cfg.inputs) inputs.insert(t.name);
  for (size_t i = 0; i < steps.size(); ++i) {
    const EnsembleStep& s = steps[i];
    if (s.model_name == cfg.name) return invalid_argument(origin + ": " + step_name(cfg, i) + " runs the ensemble itself");
    if (!model_exists(s.model_name))
      return not_found(origin + ": " + step_name(cfg, i) + ": model '" + s.model_name + "' is not in the repository");
    if (s.input_map.empty()) return invalid_argument(origin + ": " + step_name(cfg, i) + " has an empty input_map");
    if (s.output_map.empty()) return invalid_argument(origin + ": " + step_name(cfg, i) + " has an empty output_map");
    for (const auto& [out, tensor] : s.output_map) {
      if (inputs.count(tensor))
        return invalid_argument(origin + ": " + step_name(cfg, i) + " writes ensemble input '" + tensor + "'");
      auto [it, fresh] = producer.emplace(tensor, i);
      if (!fresh)
        return invalid_argument(origin + ": tensor '" + tensor + "' is produced by both " + step_name(cfg, it->second) +
                                " and step " + std::to_string(i + 1));
    }
  }
  std::vector<std::set<size_t>> deps(steps.size());
  for (size_t i = 0; i < steps.size(); ++i)
    for (const auto& [in, tensor] : steps[i].input_map) {
      if (inputs.count(tensor)) continue;
      auto it = producer.find(tensor);
      if (it == producer.end())
        return invalid_argument(origin + ": " + step_name(cfg, i) + ": input '" + in + "' reads tensor '" + tensor +
                                "', which is neither an ensemble input nor any step's output");
      deps[i].insert(it->second);
    }
  for (const TensorConfig& t : cfg.outputs)
    if (!producer.count(t.name) && !inputs.count(t.name))
      return invalid_argument(origin + ": ensemble output '" + t.name + "' is not produced by any step's output_map");
  // Kahn's algorithm; what is left over lies on a cycle.
  std::vector<size_t> order, indeg(steps.size());
  for (size_t i = 0; i < steps.size(); ++i) indeg[i] = deps[i].size();
  std::vector<bool> done(steps.size());
  for (bool progress = true; progress;) {
    progress = false;
    for (size_t i = 0; i < steps.size(); ++i) {
      if (done[i] || indeg[i]) continue;
      done[i] = true;
      progress = true;
      order.push_back(i);
      for (size_t j = 0; j < steps.size(); ++j)
        if (deps[j].count(i)) --indeg[j];
    }
  }
  if (order.size() != steps.size()) {
    std::string cyc;
    for (size_t i = 0; i < steps.size(); ++i)
      if (!done[i]) cyc += (cyc.empty() ? "" : ", ") + std::to_string(i + 1) + " ('" + steps[i].model_name + "')";
    return invalid_argument(origin + ": ensemble '" + cfg.name + "' has a cycle through steps " + cyc);
  }
  return order;
}

namespace {

class EnsembleScheduler : public Scheduler {
 public:
  EnsembleScheduler(std::shared_ptr<const ModelConfig> cfg, InferFn infer) : cfg_(std::move(cfg)), infer_(std::move(infer)) {
    const auto& steps = cfg_->ensemble_steps;
    std::map<std::string, size_t> producer;
    for (size_t i = 0; i < steps.size(); ++i)
      for (const auto& [o, t] : steps[i].output_map) producer[t] = i;
    deps_.resize(steps.size());
    for (size_t i = 0; i < steps.size(); ++i)
      for (const auto& [in, t] : steps[i].input_map)
        if (auto it = producer.find(t); it != producer.end()) deps_[i].insert(it->second);
  }
  ~EnsembleScheduler() override { stop(); }

  Status enqueue(std::unique_ptr<Job>& job) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return invalid_argument("ensemble '" + cfg_->name + "' is unloading");
      ++inflight_;
    }
    auto run = std::make_shared<Run>();
    run->job = std::move(job);
    run->start_ns = now_ns();
    run->pending.assign(deps_.size(), 0);
    run->started.assign(deps_.size(), false);
    for (size_t i = 0; i < deps_.size(); ++i) run->pending[i] = deps_[i].size();
    for (size_t k = 0; k < cfg_->inputs.size(); ++k) run->tensors[cfg_->inputs[k].name] = run->job->inputs[k];
    run->job->inputs.clear();
    launch_ready(run);
    return Status::ok();
  }

  int64_t inflight() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return inflight_;
  }

  void stop() override {
    std::unique_lock<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.wait(lock, [this] { return inflight_ == 0; });
  }

 private:
  struct Run {
    std::mutex mu;
    std::unique_ptr<Job> job;
    std::map<std::string, Tensor> tensors;
    std::vector<size_t> pending;
    std::vector<bool> started;
    size_t finished = 0;
    bool failed = false;
    int64_t start_ns = 0;
  };

  void launch_ready(const std::shared_ptr<Run>& run) {
    std::vector<std::pair<size_t, InferRequest>> ready;
    {
      std::lock_guard<std::mutex> lock(run->mu);
      if (run->failed) return;
      for (size_t i = 0; i < deps_.size(); ++i) {
        if (run->started[i] || run->pending[i]) continue;
        run->started[i] = true;
        const EnsembleStep& s = cfg_->ensemble_steps[i];
        InferRequest r;
        r.model_name = s.model_name;
        if (s.model_version > 0) r.model_version = std::to_string(s.model_version);
        r.id = run->job->id;
        for (const auto& [in, t] : s.input_map) r.inputs.push_back({in, run->tensors.at(t)});
        for (const auto& [out, t] : s.output_map) r.outputs.push_back(out);
        ready.emplace_back(i, std::move(r));
      }
    }
    if (ready.empty()) return;
    // A step rejected inline can finish the whole request (and release it) while later steps are still being
    // launched: hold an extra reference so stop() cannot return (and destroy this scheduler) meanwhile.
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++inflight_;
    }
    for (auto& [i, req] : ready) {
      size_t step = i;
      infer_(std::move(req), [this, run, step](InferResponse&& res) { on_step_done(run, step, std::move(res)); });
    }
    release();
  }

  void on_step_done(const std::shared_ptr<Run>& run, size_t step, InferResponse&& res) {
    const EnsembleStep& s = cfg_->ensemble_steps[step];
    bool complete = false;
    {
      std::lock_guard<std::mutex> lock(run->mu);
      if (run->failed) return;
      if (!res.status.is_ok()) {
        run->failed = true;
        Status st(res.status.code(), step_name(*cfg_, step) + ": " + res.status.message());
        lock_free_fail(run, st, res.unavailable);
        return;
      }
      for (NamedTensor& nt : res.outputs) {
        auto it = s.output_map.find(nt.name);
        if (it != s.output_map.end()) run->tensors[it->second] = std::move(nt.tensor);
      }
      for (size_t j = 0; j < deps_.size(); ++j)
        if (deps_[j].count(step)) --run->pending[j];
      complete = ++run->finished == deps_.size();
    }
    if (complete) finish(run);
    else launch_ready(run);
  }

  // Called with run->mu held; the job's callback runs after the lock is dropped by moving the job out.
  void lock_free_fail(const std::shared_ptr<Run>& run, const Status& st, bool unavailable) {
    std::unique_ptr<Job> job = std::move(run->job);
    run->tensors.clear();
    // fail_job calls the frontend's callback: quick by contract, so calling it under run->mu is safe (nothing
    // else takes run->mu once failed is set).
    fail_job(std::move(job), st, unavailable);
    release();
  }

  void finish(const std::shared_ptr<Run>& run) {
    std::unique_ptr<Job> job;
    std::map<std::string, Tensor> tensors;
    {
      std::lock_guard<std::mutex> lock(run->mu);
      job = std::move(run->job);
      tensors.swap(run->tensors);
    }
    InferResponse r;
    for (const std::string& name : job->output_names) {
      auto it = tensors.find(name);
      if (it == tensors.end()) {
        fail_job(std::move(job), internal_error("ensemble '" + cfg_->name + "': no step produced output '" + name + "'"), false);
        release();
        return;
      }
      r.outputs.push_back({name, it->second});
    }
    int64_t t = now_ns();
    job->stats->record_execution(job->batch, 1, 0, t - run->start_ns, 0);
    job->stats->success.add(t - job->received_ns);
    job->stats->pending.fetch_sub(1, std::memory_order_relaxed);
    r.model_name = std::move(job->model_name);
    r.model_version = std::move(job->model_version);
    r.id = std::move(job->id);
    InferCallback done = std::move(job->done);
    job.reset();
    done(std::move(r));
    release();
  }

  void release() {
    std::lock_guard<std::mutex> lock(mu_);
    if (--inflight_ == 0) cv_.notify_all();
  }

  std::shared_ptr<const ModelConfig> cfg_;
  InferFn infer_;
  std::vector<std::set<size_t>> deps_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int64_t inflight_ = 0;
  bool stopping_ = false;
};

}  // namespace

std::unique_ptr<Scheduler> make_ensemble_scheduler(std::shared_ptr<const ModelConfig> cfg, InferFn infer) {
  return std::make_unique<EnsembleScheduler>(std::move(cfg), std::move(infer));
}

}  // namespace ferry::serve
