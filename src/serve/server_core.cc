// server_core.cc — ServerCore: dtype names, the public API (lifecycle, readiness, metadata, statistics),
// request validation and inference dispatch. Model loading lives in server_core_loading.cc.
#include "serve/server_core.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "serve/model_config.h"
#include "serve/model_repository.h"
#include "serve/scheduler.h"
#include "serve/server_core_impl.h"
#include "serve/stats.h"

namespace ferry::serve {

// ------------------------------------------------------------------------------------------------ dtypes
namespace {
struct DtypeRow {
  DType t;
  const char* kserve;
  const char* triton;
};
constexpr DtypeRow kDtypes[] = {
    {DType::kBool, "BOOL", "TYPE_BOOL"},      {DType::kUInt8, "UINT8", "TYPE_UINT8"},
    {DType::kUInt16, "UINT16", "TYPE_UINT16"}, {DType::kUInt32, "UINT32", "TYPE_UINT32"},
    {DType::kUInt64, "UINT64", "TYPE_UINT64"}, {DType::kInt8, "INT8", "TYPE_INT8"},
    {DType::kInt16, "INT16", "TYPE_INT16"},   {DType::kInt32, "INT32", "TYPE_INT32"},
    {DType::kInt64, "INT64", "TYPE_INT64"},   {DType::kFloat16, "FP16", "TYPE_FP16"},
    {DType::kFloat, "FP32", "TYPE_FP32"},     {DType::kDouble, "FP64", "TYPE_FP64"},
    {DType::kString, "BYTES", "TYPE_STRING"}, {DType::kBFloat16, "BF16", "TYPE_BF16"},
};
}  // namespace

std::string_view kserve_datatype(DType t) {
  for (const auto& r : kDtypes)
    if (r.t == t) return r.kserve;
  return "";
}
DType dtype_from_kserve(std::string_view s) {
  for (const auto& r : kDtypes)
    if (s == r.kserve) return r.t;
  return DType::kUndefined;
}
std::string_view triton_config_dtype(DType t) {
  for (const auto& r : kDtypes)
    if (r.t == t) return r.triton;
  return "TYPE_INVALID";
}
DType dtype_from_triton_config(std::string_view s) {
  for (const auto& r : kDtypes)
    if (s == r.triton) return r.t;
  return DType::kUndefined;
}

const char* model_state_name(ModelState s) {
  switch (s) {
    case ModelState::kUnknown: return "UNKNOWN";
    case ModelState::kLoading: return "LOADING";
    case ModelState::kReady: return "READY";
    case ModelState::kUnloading: return "UNLOADING";
    case ModelState::kUnavailable: return "UNAVAILABLE";
  }
  return "UNKNOWN";
}

// ------------------------------------------------------------------------------- lookup and validation
Expected<std::shared_ptr<ModelVersion>> ServerCore::Impl::find(const std::string& name, const std::string& version) const {
  auto it = models.find(name);
  if (it == models.end() || (it->second.versions.empty() && it->second.state == ModelState::kUnknown))
    return not_found("unknown model '" + name + "'");
  const auto& vs = it->second.versions;
  if (version.empty()) {
    for (auto v = vs.rbegin(); v != vs.rend(); ++v)
      if (v->second->state == ModelState::kReady) return v->second;
    return not_found("model '" + name + "' has no ready version");
  }
  for (const auto& [v, m] : vs)
    if (m->version_str == version) return m;
  return not_found("model '" + name + "' has no version '" + version + "'");
}

Status ServerCore::Impl::make_job(const ModelVersion& mv, InferRequest& req, Job& job) const {
  const ModelConfig& cfg = *mv.config;
  const std::string& m = cfg.name;
  bool batched = cfg.max_batch_size > 0;
  job.inputs.resize(cfg.inputs.size());
  int64_t batch = -1;
  for (NamedTensor& nt : req.inputs) {
    size_t k = 0;
    while (k < cfg.inputs.size() && cfg.inputs[k].name != nt.name) ++k;
    if (k == cfg.inputs.size()) return invalid_argument("model '" + m + "': unexpected input '" + nt.name + "'");
    if (job.inputs[k].defined()) return invalid_argument("model '" + m + "': input '" + nt.name + "' given twice");
    const TensorConfig& tc = cfg.inputs[k];
    const Tensor& t = nt.tensor;
    if (t.dtype() != tc.dtype)
      return invalid_argument("model '" + m + "': input '" + nt.name + "' has datatype " +
                              std::string(kserve_datatype(t.dtype())) + ", expected " + std::string(kserve_datatype(tc.dtype)));
    size_t off = batched ? 1 : 0;
    bool ok = t.rank() == static_cast<int>(tc.dims.size() + off);
    for (size_t i = 0; ok && i < tc.dims.size(); ++i) ok = tc.dims[i] < 0 || tc.dims[i] == t.shape()[i + off];
    if (!ok) {
      std::string want = batched ? "[-1" : "[";
      for (size_t i = 0; i < tc.dims.size(); ++i) want += (i || batched ? "," : "") + std::to_string(tc.dims[i]);
      return invalid_argument("model '" + m + "': input '" + nt.name + "' has shape " + shape_to_string(t.shape()) +
                              ", expected " + want + "]");
    }
    if (batched) {
      int64_t b = t.dim(0);
      if (b < 1 || b > cfg.max_batch_size)
        return invalid_argument("model '" + m + "': input '" + nt.name + "' batch size " + std::to_string(b) +
                                " outside [1, " + std::to_string(cfg.max_batch_size) + "]");
      if (batch >= 0 && b != batch) return invalid_argument("model '" + m + "': inputs disagree on the batch size");
      batch = b;
    }
    job.inputs[k] = std::move(nt.tensor);
  }
  for (size_t k = 0; k < cfg.inputs.size(); ++k)
    if (!job.inputs[k].defined()) return invalid_argument("model '" + m + "': missing input '" + cfg.inputs[k].name + "'");
  job.batch = batched ? batch : 1;
  if (req.outputs.empty()) {
    for (size_t k = 0; k < cfg.outputs.size(); ++k) {
      job.outputs.push_back(static_cast<int>(k));
      job.output_names.push_back(cfg.outputs[k].name);
    }
  } else {
    for (const std::string& o : req.outputs) {
      size_t k = 0;
      while (k < cfg.outputs.size() && cfg.outputs[k].name != o) ++k;
      if (k == cfg.outputs.size()) return invalid_argument("model '" + m + "': unknown output '" + o + "'");
      job.outputs.push_back(static_cast<int>(k));
      job.output_names.push_back(o);
    }
  }
  int64_t timeout_us = cfg.queue_timeout_us;
  if (req.timeout_us > 0 && (cfg.allow_timeout_override || timeout_us == 0)) timeout_us = req.timeout_us;
  job.deadline_ns = timeout_us > 0 ? job.received_ns + timeout_us * 1000 : 0;
  return Status::ok();
}

// ------------------------------------------------------------------------------------------- public API
ServerCore::ServerCore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ServerCore::~ServerCore() { shutdown(0); }

Expected<std::unique_ptr<ServerCore>> ServerCore::create(const ServerOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  auto names = list_repository_models(options.repository);
  if (!names) return names.status();
  std::vector<std::string> startup;
  if (options.control_mode == ModelControlMode::kExplicit) {
    for (const auto& n : options.startup_models) {
      if (n == "*") startup = *names;
      else if (std::find(startup.begin(), startup.end(), n) == startup.end()) startup.push_back(n);
    }
  } else {
    startup = *names;
  }
  for (const auto& n : *names) impl->models[n];  // known, state kUnknown
  for (const auto& n : startup) {
    Status s = impl->load(n);
    if (s.code() == StatusCode::kNotFound && !is_model_dir(options.repository, n)) return s;
  }
  Impl* raw = impl.get();
  if (options.control_mode == ModelControlMode::kPoll) {
    int interval = std::max(1, options.poll_interval_s);
    impl->poll_thread = std::thread([raw, interval] {
      std::unique_lock<std::mutex> lock(raw->poll_mu);
      while (!raw->poll_cv.wait_for(lock, std::chrono::seconds(interval), [raw] { return raw->poll_stop; })) {
        lock.unlock();
        raw->poll_once();
        lock.lock();
      }
    });
  }
  return std::unique_ptr<ServerCore>(new ServerCore(std::move(impl)));
}

bool ServerCore::live() const { return impl_->live.load(); }

bool ServerCore::ready() const {
  if (!impl_->live.load()) return false;
  std::shared_lock<std::shared_mutex> lock(impl_->mu);
  if (!impl_->options.strict_readiness) return true;
  for (const auto& [n, e] : impl_->models) {
    if (!e.expected) continue;
    bool any = false;
    for (const auto& [v, m] : e.versions) any = any || m->state == ModelState::kReady;
    if (!any) return false;
  }
  return true;
}

ServerMetadata ServerCore::server_metadata() const {
  ServerMetadata md;
  md.version = "0.1.0";
  md.extensions = {"binary_tensor_data", "model_repository", "model_configuration", "statistics"};
  return md;
}

Expected<ModelMetadata> ServerCore::model_metadata(const std::string& name, const std::string& version) const {
  std::shared_lock<std::shared_mutex> lock(impl_->mu);
  auto mv = impl_->find(name, version);
  if (!mv) return mv.status();
  const ModelConfig& cfg = *(*mv)->config;
  ModelMetadata md;
  md.name = name;
  for (const auto& [v, m] : impl_->models.at(name).versions)
    if (m->state == ModelState::kReady) md.versions.push_back(m->version_str);
  md.platform = cfg.platform;
  auto conv = [&](const std::vector<TensorConfig>& ts, std::vector<TensorMetadata>& out) {
    for (const auto& t : ts) {
      TensorMetadata tm{t.name, std::string(kserve_datatype(t.dtype)), {}};
      if (cfg.max_batch_size > 0) tm.shape.push_back(-1);
      tm.shape.insert(tm.shape.end(), t.dims.begin(), t.dims.end());
      out.push_back(std::move(tm));
    }
  };
  conv(cfg.inputs, md.inputs);
  conv(cfg.outputs, md.outputs);
  return md;
}

bool ServerCore::model_ready(const std::string& name, const std::string& version) const {
  std::shared_lock<std::shared_mutex> lock(impl_->mu);
  auto mv = impl_->find(name, version);
  return mv && (*mv)->state == ModelState::kReady && impl_->live.load();
}

Expected<std::string> ServerCore::model_config_json(const std::string& name, const std::string& version) const {
  std::shared_lock<std::shared_mutex> lock(impl_->mu);
  auto mv = impl_->find(name, version);
  if (!mv) return mv.status();
  return serve::model_config_json(*(*mv)->config);
}

std::vector<ModelIndexEntry> ServerCore::repository_index(bool ready_only) const {
  std::vector<ModelIndexEntry> rows;
  auto names = list_repository_models(impl_->options.repository);
  std::shared_lock<std::shared_mutex> lock(impl_->mu);
  std::vector<std::string> all = names ? *names : std::vector<std::string>{};
  for (const auto& [n, e] : impl_->models)
    if (std::find(all.begin(), all.end(), n) == all.end()) all.push_back(n);
  std::sort(all.begin(), all.end());
  for (const auto& n : all) {
    auto it = impl_->models.find(n);
    if (it == impl_->models.end() || it->second.versions.empty()) {
      ModelIndexEntry r{n, "", it == impl_->models.end() ? ModelState::kUnknown : it->second.state,
                        it == impl_->models.end() ? "" : it->second.reason};
      if (!ready_only || r.state == ModelState::kReady) rows.push_back(std::move(r));
      continue;
    }
    for (const auto& [v, m] : it->second.versions) {
      ModelIndexEntry r{n, m->version_str, m->state.load(), ""};
      if (!ready_only || r.state == ModelState::kReady) rows.push_back(std::move(r));
    }
  }
  return rows;
}

Status ServerCore::load_model(const std::string& name) {
  if (impl_->options.control_mode != ModelControlMode::kExplicit)
    return unsupported("explicit model load/unload is not allowed: model control mode is not 'explicit'");
  if (!impl_->live.load()) return unsupported("server is shutting down");
  if (!is_model_dir(impl_->options.repository, name)) return not_found("model '" + name + "' is not in the repository");
  return impl_->load(name);
}

Status ServerCore::unload_model(const std::string& name) {
  if (impl_->options.control_mode != ModelControlMode::kExplicit)
    return unsupported("explicit model load/unload is not allowed: model control mode is not 'explicit'");
  return impl_->unload(name, true);
}

Expected<std::string> ServerCore::statistics_json(const std::string& name, const std::string& version) const {
  nlohmann::json rows = nlohmann::json::array();
  std::shared_lock<std::shared_mutex> lock(impl_->mu);
  if (!name.empty()) {
    auto mv = impl_->find(name, version);
    if (!mv) return mv.status();
    if (version.empty()) {
      for (const auto& [v, m] : impl_->models.at(name).versions) rows.push_back(m->stats->json(name, m->version_str));
    } else {
      rows.push_back((*mv)->stats->json(name, (*mv)->version_str));
    }
  } else {
    for (const auto& [n, e] : impl_->models)
      for (const auto& [v, m] : e.versions) rows.push_back(m->stats->json(n, m->version_str));
  }
  return nlohmann::json{{"model_stats", rows}}.dump();
}

std::string ServerCore::metrics_text() const {
  std::map<std::string, std::string> families;
  {
    std::shared_lock<std::shared_mutex> lock(impl_->mu);
    for (const auto& [n, e] : impl_->models)
      for (const auto& [v, m] : e.versions) m->stats->prometheus(families, n, m->version_str);
  }
  std::string out;
  for (const auto& [name, lines] : families) {
    const char* type = name == "ferry_inference_batch_size" ? "histogram"
                       : name == "ferry_inference_pending_request_count" ? "gauge" : "counter";
    out += "# TYPE " + name + " " + type + "\n" + lines;
  }
  out += "# TYPE ferry_inflight_requests gauge\nferry_inflight_requests " + std::to_string(inflight()) + "\n";
  out += "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes " +
         std::to_string(process_rss_bytes()) + "\n";
  return out;
}

void ServerCore::infer(InferRequest request, InferCallback done) { impl_->infer(std::move(request), std::move(done)); }

void ServerCore::Impl::infer(InferRequest request, InferCallback done) {
  Impl& im = *this;
  auto job = std::make_unique<Job>();
  job->received_ns = request.received_ns > 0 ? request.received_ns : now_ns();
  job->model_name = request.model_name;
  job->model_version = request.model_version;
  job->id = request.id;
  im.inflight.fetch_add(1);
  job->done = [&im, done = std::move(done)](InferResponse&& r) {
    done(std::move(r));
    im.inflight.fetch_sub(1);
  };
  auto reject = [&](const Status& s, bool unavailable) { fail_job(std::move(job), s, unavailable); };
  if (!im.live.load()) return reject(invalid_argument("server is shutting down"), true);
  std::shared_lock<std::shared_mutex> lock(im.mu);
  auto mv = im.find(request.model_name, request.model_version);
  if (!mv) {
    lock.unlock();
    return reject(mv.status(), false);
  }
  ModelVersion& m = **mv;
  job->model_version = m.version_str;
  job->stats = m.stats;
  m.stats->pending.fetch_add(1, std::memory_order_relaxed);
  if (m.state != ModelState::kReady) {
    lock.unlock();
    return reject(invalid_argument("model '" + request.model_name + "' is not ready"), true);
  }
  Status s = im.make_job(m, request, *job);
  if (!s.is_ok()) {
    lock.unlock();
    return reject(s, false);
  }
  s = m.scheduler->enqueue(job);
  lock.unlock();
  if (!s.is_ok()) reject(s, true);
}

std::future<InferResponse> ServerCore::infer(InferRequest request) {
  auto promise = std::make_shared<std::promise<InferResponse>>();
  std::future<InferResponse> f = promise->get_future();
  infer(std::move(request), [promise](InferResponse&& r) { promise->set_value(std::move(r)); });
  return f;
}

int64_t ServerCore::inflight() const { return impl_->inflight.load(); }

void ServerCore::shutdown(int64_t drain_ms) {
  Impl& im = *impl_;
  bool was_live = im.live.exchange(false);
  {
    std::lock_guard<std::mutex> lock(im.poll_mu);
    im.poll_stop = true;
  }
  im.poll_cv.notify_all();
  if (im.poll_thread.joinable()) im.poll_thread.join();
  if (!was_live && drain_ms > 0) return;
  int64_t deadline = now_ns() + drain_ms * 1000000;
  while (im.inflight.load() > 0 && now_ns() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  std::vector<std::string> names;
  {
    std::shared_lock<std::shared_mutex> lock(im.mu);
    for (const auto& [n, e] : im.models) names.push_back(n);
  }
  for (const auto& n : names) (void)im.unload(n, false);
}

}  // namespace ferry::serve
