#include "ferry/session.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <new>

#include "ir/onnx_import.h"
#include "ops/op_registry.h"
#include "passes/pass.h"
#include "runtime/device_executor.h"
#include "runtime/executor.h"
#include "runtime/shape_inference.h"

namespace ferry {

std::string IoInfo::shape_string() const {
  if (!rank_known) return "?";
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ",";
    if (dims[i] >= 0) s += std::to_string(dims[i]);
    else s += dim_names[i].empty() ? "?" : dim_names[i];
  }
  return s + "]";
}

struct Session::Impl {
  Model model;
  std::unique_ptr<CompiledGraph> plan;
  std::unique_ptr<ThreadPool> pool;
  std::vector<IoInfo> inputs, outputs;
  CompiledGraph::NodeObserver observer;
  std::unique_ptr<DeviceExecutor> device;  // set when SessionOptions::device is an accelerator
};

namespace {

IoInfo io_info(const Graph& g, const std::string& name) {
  IoInfo info;
  info.name = name;
  if (const ValueType* vt = g.type_of(name)) {
    info.dtype = vt->dtype;
    info.rank_known = vt->shape.rank_known;
    for (const Dim& d : vt->shape.dims) {
      info.dims.push_back(d.known() ? d.value : -1);
      info.dim_names.push_back(d.symbol);
    }
  }
  return info;
}

// Every node (subgraphs too) must name a known operator with a valid input/output count before any pass looks
// at it: passes match patterns by op type and index inputs without re-checking arity.
Status check_operators(const Graph& g) {
  const OpRegistry& ops = OpRegistry::global();
  for (const Node& n : g.nodes) {
    const OpSchema* schema = ops.find(n.domain, n.op_type);
    if (!schema)
      return unsupported("node " + n.display_name() + ": operator " + (n.domain.empty() ? "" : n.domain + ".") +
                         n.op_type + " (opset " + std::to_string(n.opset) + ") is not supported");
    FERRY_RETURN_IF_ERROR(check_node_arity(*schema, n));
    for (const auto& [key, a] : n.attrs) {
      if (a.g) FERRY_RETURN_IF_ERROR(check_operators(*a.g));
      for (const auto& sg : a.graphs) FERRY_RETURN_IF_ERROR(check_operators(*sg));
    }
  }
  return Status::ok();
}

// FERRY_LOAD_PROFILE=1 prints where session creation spends its time, phase by phase, on stderr.
class LoadProfile {
 public:
  LoadProfile() : on_(std::getenv("FERRY_LOAD_PROFILE") != nullptr), t_(now()) {}
  bool on() const { return on_; }
  // Prints `phase` with the time since the previous mark.
  void mark(const char* phase) {
    auto t = now();
    if (on_) std::fprintf(stderr, "[load] %-28s %8.2f ms\n", phase, ms(t_, t));
    t_ = t;
  }
  void print(const char* phase, double ms) const {
    if (on_) std::fprintf(stderr, "[load] %-28s %8.2f ms\n", phase, ms);
  }

 private:
  static std::chrono::steady_clock::time_point now() { return std::chrono::steady_clock::now(); }
  static double ms(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
  }
  bool on_;
  std::chrono::steady_clock::time_point t_;
};

// The device executor keeps its own copy of the unoptimized model: it re-optimizes per input shapes.
Status open_device(const Model& model, const SessionOptions& options, std::unique_ptr<DeviceExecutor>* device) {
  std::string kind;
  int ordinal = 0;
  FERRY_RETURN_IF_ERROR(parse_device(options.device, &kind, &ordinal));
  FERRY_ASSIGN_OR_RETURN(DType precision, parse_precision(options.precision));
  if (kind == "cpu") {
    if (precision != DType::kFloat) return invalid_argument("precision " + options.precision + " needs --device cuda");
    return Status::ok();
  }
  if (options.device_programs < 1)
    return invalid_argument("device_programs must be at least 1, got " + std::to_string(options.device_programs));
  DeviceOptions o{ordinal, precision, options.cuda_graph, options.device_transfers, options.device_programs};
  FERRY_ASSIGN_OR_RETURN(*device, DeviceExecutor::create(model, options.device, o, options.opt_level));
  return Status::ok();
}

Expected<std::unique_ptr<Session::Impl>> build(Model model, const SessionOptions& options, LoadProfile& prof) {
  auto impl = std::make_unique<Session::Impl>();
  impl->model = std::move(model);
  Graph& g = impl->model.graph;
  // Declared graph interface types, captured before inference refines intermediate value_info.
  for (const auto& in : g.inputs) impl->inputs.push_back(io_info(g, in));
  FERRY_RETURN_IF_ERROR(g.topo_sort());
  FERRY_RETURN_IF_ERROR(g.verify());
  FERRY_RETURN_IF_ERROR(check_operators(g));
  FERRY_RETURN_IF_ERROR(open_device(impl->model, options, &impl->device));
  prof.mark("sort+verify+check");
  if (options.opt_level > 0) {
    PassManager pm;
    add_passes_for_level(pm, static_cast<OptLevel>(std::min(options.opt_level, 3)));
    auto optimized = pm.run(impl->model);
    if (!optimized) return optimized.status();
    if (prof.on()) {
      for (const auto& [pass, ms] : optimized->ms) prof.print(("  pass " + pass).c_str(), ms);
      prof.print("  (iterations)", optimized->iterations);
    }
    prof.mark("passes");
  }
  auto report = infer_graph_types(g, {});
  if (!report) return report.status();
  prof.mark("infer types");
  for (const auto& out : g.outputs) impl->outputs.push_back(io_info(g, out));
  auto plan = CompiledGraph::compile(g, {});
  if (!plan) return plan.status();
  impl->plan = std::move(plan).value();
  prof.mark("compile (kernels, prepack)");
  impl->pool = std::make_unique<ThreadPool>(options.threads);
  prof.mark("thread pool");
  return impl;
}

void print_import(const LoadProfile& prof, const ImportTimings& t) {
  prof.print("  read file", t.read_ms);
  prof.print("  protobuf parse", t.parse_ms);
  prof.print("  convert to IR", t.convert_ms);
}

}  // namespace

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;

Expected<std::unique_ptr<Session>> Session::load(const std::string& path, const SessionOptions& options) {
  LoadProfile prof;
  ImportTimings timings;
  auto model = load_onnx_model(path, &timings);
  if (!model) return model.status();
  print_import(prof, timings);
  prof.mark("import");
  auto impl = build(std::move(model).value(), options, prof);
  if (!impl) return impl.status();
  return std::unique_ptr<Session>(new Session(std::move(impl).value()));
}

Expected<std::unique_ptr<Session>> Session::load_from_memory(const void* data, size_t size,
                                                             const SessionOptions& options) {
  LoadProfile prof;
  ImportTimings timings;
  auto model = parse_onnx_model(data, size, "", &timings);
  if (!model) return model.status();
  print_import(prof, timings);
  prof.mark("import");
  auto impl = build(std::move(model).value(), options, prof);
  if (!impl) return impl.status();
  return std::unique_ptr<Session>(new Session(std::move(impl).value()));
}

const std::vector<IoInfo>& Session::inputs() const { return impl_->inputs; }
const std::vector<IoInfo>& Session::outputs() const { return impl_->outputs; }
int Session::threads() const { return impl_->pool->threads(); }

void Session::set_node_observer(std::function<void(const NodeEvent&)> observer) {
  if (!observer) {
    impl_->observer = nullptr;
    return;
  }
  impl_->observer = [fn = std::move(observer)](const Node& n, int64_t start, int64_t end) {
    fn(NodeEvent{n.name.empty() ? "#" + std::to_string(n.index) : n.name, n.op_type, start, end});
  };
}

DeviceRunTimings Session::last_device_timings() const {
  if (!impl_->device) return {};
  DeviceTimings t = impl_->device->last_timings();
  return {t.enqueue_ms, t.h2d_ms, t.compute_ms, t.d2h_ms};
}

std::string Session::device_summary() const { return impl_->device ? impl_->device->summary() : "cpu"; }

Expected<std::vector<Tensor>> Session::run(const std::vector<Tensor>& inputs) {
  const auto& decl = impl_->inputs;
  if (inputs.size() != decl.size())
    return invalid_argument("model takes " + std::to_string(decl.size()) + " inputs, got " + std::to_string(inputs.size()));
  for (size_t i = 0; i < inputs.size(); ++i) {
    const IoInfo& d = decl[i];
    const Tensor& t = inputs[i];
    if (d.dtype != DType::kUndefined && t.dtype() != d.dtype)
      return invalid_argument("input '" + d.name + "': dtype " + dtype_name(t.dtype()) + ", expected " + dtype_name(d.dtype));
    if (!d.rank_known) continue;
    if (t.rank() != static_cast<int>(d.dims.size()))
      return invalid_argument("input '" + d.name + "': shape " + shape_to_string(t.shape()) + " has rank " +
                              std::to_string(t.rank()) + ", expected " + d.shape_string());
    for (size_t k = 0; k < d.dims.size(); ++k)
      if (d.dims[k] >= 0 && t.shape()[k] != d.dims[k])
        return invalid_argument("input '" + d.name + "': shape " + shape_to_string(t.shape()) + ", expected " +
                                d.shape_string());
  }
  try {
    if (impl_->device) return impl_->device->run(inputs, *impl_->pool);
    return impl_->plan->run(inputs, *impl_->pool, impl_->observer ? &impl_->observer : nullptr);
  } catch (const std::bad_alloc&) {
    return out_of_memory("out of memory while running the model");
  }
}

}  // namespace ferry
