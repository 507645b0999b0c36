// device_executor.cc — specialization, partitioning and the host side of mixed device/CPU runs.
#include "runtime/device_executor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "passes/fuse_transformer.h"
#include "passes/pass.h"
#include "runtime/executor.h"
#include "runtime/shape_inference.h"
#if FERRY_HAVE_CUDA
#include "backends/cuda/cuda_backend.h"
#endif

namespace ferry {

Status parse_device(const std::string& device, std::string* kind, int* ordinal) {
  *ordinal = 0;
  if (device == "cpu" || device.empty()) {
    *kind = "cpu";
    return Status::ok();
  }
  if (device.rfind("cuda", 0) == 0) {
    *kind = "cuda";
    if (device.size() == 4) return Status::ok();
    std::string num = device.substr(5);
    if (device[4] == ':' && !num.empty() && num.size() < 6 && std::all_of(num.begin(), num.end(), ::isdigit)) {
      *ordinal = std::stoi(num);
      return Status::ok();
    }
  }
  return invalid_argument("device '" + device + "' is not one of cpu, cuda, cuda:N");
}

Expected<DType> parse_precision(const std::string& p) {
  if (p == "fp32" || p == "float32") return DType::kFloat;
  if (p == "fp16" || p == "float16") return DType::kFloat16;
  if (p == "bf16" || p == "bfloat16") return DType::kBFloat16;
  return invalid_argument("precision '" + p + "' is not one of fp32, fp16, bf16");
}

Expected<std::unique_ptr<DeviceBackend>> create_device_backend(const std::string& device, const DeviceOptions& options) {
  std::string kind;
  int ordinal = 0;
  FERRY_RETURN_IF_ERROR(parse_device(device, &kind, &ordinal));
  if (kind != "cuda") return invalid_argument("device '" + device + "' is not an accelerator");
  DeviceOptions o = options;
  o.device = ordinal;
#if FERRY_HAVE_CUDA
  return cuda::make_cuda_backend(o);
#else
  return unsupported("device '" + device + "': this ferry was built without the CUDA backend (FERRY_CUDA=OFF)");
#endif
}

// One part of the partitioned node list: a device segment or a CPU sub-graph.
struct Part {
  bool device = false;
  size_t segment = 0;                    // device: index in the program
  std::unique_ptr<Graph> graph;          // CPU: the nodes of this part as a graph of their own
  std::unique_ptr<CompiledGraph> plan;   // CPU
  std::vector<std::string> inputs;       // host values read (device: uploads; CPU: sub-graph inputs)
  std::vector<std::string> outputs;      // host values produced (device: downloads; CPU: sub-graph outputs)
};

struct DeviceExecutor::Specialization {
  std::vector<Shape> key;
  Model model;
  std::vector<Part> parts;
  std::unique_ptr<DeviceProgram> program;
  std::mutex cpu_parts_mu;  // CPU parts (CompiledGraph) run one call at a time
  int device_nodes = 0, cpu_nodes = 0;
  std::string fusion_note;  // why this specialization runs without the transformer fusions
};

DeviceExecutor::~DeviceExecutor() = default;

Expected<std::unique_ptr<DeviceExecutor>> DeviceExecutor::create(const Model& model, const std::string& device,
                                                                 const DeviceOptions& options, int opt_level) {
  FERRY_ASSIGN_OR_RETURN(auto backend, create_device_backend(device, options));
  return create_with_backend(model, std::move(backend), options, opt_level);
}

Expected<std::unique_ptr<DeviceExecutor>> DeviceExecutor::create_with_backend(const Model& model,
                                                                             std::unique_ptr<DeviceBackend> backend,
                                                                             const DeviceOptions& options,
                                                                             int opt_level) {
  std::unique_ptr<DeviceExecutor> ex(new DeviceExecutor());
  ex->model_ = model;
  ex->opt_level_ = std::min(opt_level, 2);  // most ferry-only fused ops are CPU kernels: stop at standard ops
  const char* env = std::getenv("FERRY_DEVICE_FUSE_TRANSFORMER");
  ex->fuse_transformers_ = opt_level >= 3 && !(env && std::strcmp(env, "0") == 0);  // ...except the transformer ones
  ex->options_ = options;
  ex->options_.cached_programs = std::max(1, options.cached_programs);
  ex->backend_ = std::move(backend);
  return ex;
}

namespace {

// Values a node reads, including those its subgraphs read from the enclosing scope.
std::vector<std::string> reads_of(const Node& n) {
  std::vector<std::string> r;
  for (const auto& in : n.inputs)
    if (!in.empty()) r.push_back(in);
  for (const auto& [key, a] : n.attrs) {
    if (a.g) r.insert(r.end(), a.g->outer_refs.begin(), a.g->outer_refs.end());
    for (const auto& sg : a.graphs) r.insert(r.end(), sg->outer_refs.begin(), sg->outer_refs.end());
  }
  return r;
}

bool has_subgraph(const Node& n) {
  for (const auto& [key, a] : n.attrs)
    if (a.g || !a.graphs.empty()) return true;
  return false;
}

}  // namespace

Expected<std::unique_ptr<DeviceExecutor::Specialization>> DeviceExecutor::specialize(
    const std::vector<Tensor>& inputs) {
  std::string note;
  if (fuse_transformers_) {
    auto spec = specialize_with(inputs, true);
    if (spec || spec.status().code() == StatusCode::kOutOfMemory) return spec;
    // A fused node the backend does not take (or cannot build): the decomposed graph runs instead.
    note = "transformer fusions off: " + spec.status().to_string();
  }
  auto spec = specialize_with(inputs, false);
  if (spec) (*spec)->fusion_note = note;
  return spec;
}

Expected<std::shared_ptr<DeviceExecutor::Specialization>> DeviceExecutor::specialization_for(
    const std::vector<Tensor>& inputs) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = specs_.begin(); it != specs_.end(); ++it) {
    bool same = (*it)->key.size() == inputs.size();
    for (size_t i = 0; same && i < inputs.size(); ++i) same = (*it)->key[i] == inputs[i].shape();
    if (!same) continue;
    specs_.splice(specs_.begin(), specs_, it);
    return specs_.front();
  }
  // Free the device memory of the least recently used programs before planning a new one.
  while (static_cast<int>(specs_.size()) >= options_.cached_programs) specs_.pop_back();
  auto spec = specialize(inputs);
  if (!spec && spec.status().code() == StatusCode::kOutOfMemory && !specs_.empty()) {
    specs_.clear();  // the cached programs hold the memory: drop them and try once more
    spec = specialize(inputs);
  }
  if (!spec) return spec.status();
  ++compiles_;
  specs_.push_front(std::move(spec).value());
  return specs_.front();
}

DeviceTimings DeviceExecutor::last_timings() const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = last_timings_.find(std::this_thread::get_id());
  return it == last_timings_.end() ? DeviceTimings{} : it->second;
}

Expected<std::unique_ptr<DeviceExecutor::Specialization>> DeviceExecutor::specialize_with(
    const std::vector<Tensor>& inputs, bool fuse_transformers) {
  auto spec = std::make_unique<Specialization>();
  for (const auto& t : inputs) spec->key.push_back(t.shape());
  spec->program.reset();
  spec->model = model_;
  Graph& g = spec->model.graph;
  std::unordered_map<std::string, Shape> shapes;
  for (size_t i = 0; i < g.inputs.size() && i < inputs.size(); ++i) {
    g.value_info[g.inputs[i]].shape = SymShape::from_shape(inputs[i].shape());
    shapes[g.inputs[i]] = inputs[i].shape();
  }
  if (opt_level_ > 0) {
    PassManager pm;
    add_passes_for_level(pm, static_cast<OptLevel>(opt_level_));
    if (fuse_transformers) add_transformer_fusions(pm);
    auto optimized = pm.run(spec->model);
    if (!optimized) return optimized.status();
  }
  auto report = infer_graph_types(g, shapes);
  if (!report) return report.status();

  // Partition: maximal runs of supported nodes.
  std::vector<char> on_device(g.nodes.size(), 0);
  for (size_t i = 0; i < g.nodes.size(); ++i)
    on_device[i] = !has_subgraph(g.nodes[i]) && backend_->supports(g, g.nodes[i]);
  if (fuse_transformers)
    for (size_t i = 0; i < g.nodes.size(); ++i)
      if (g.nodes[i].domain == "ferry" && !on_device[i])
        return unsupported("node " + g.nodes[i].display_name() + ": fused op not taken by " + backend_->name());
  std::unordered_map<std::string, int> producer;
  for (const Node& n : g.nodes)
    for (const auto& o : n.outputs)
      if (!o.empty()) producer[o] = n.index;
  // Last part reading each value, and whether a CPU node or the caller reads it.
  std::unordered_set<std::string> host_read(g.outputs.begin(), g.outputs.end());
  for (const Node& n : g.nodes)
    if (!on_device[static_cast<size_t>(n.index)])
      for (const auto& r : reads_of(n)) host_read.insert(r);

  std::vector<DeviceSegmentSpec> segments;
  std::unordered_set<std::string> device_has;  // values with device storage so far
  for (size_t i = 0; i < g.nodes.size();) {
    size_t j = i;
    while (j < g.nodes.size() && on_device[j] == on_device[i]) ++j;
    Part part;
    part.device = on_device[i];
    std::unordered_set<std::string> produced, seen_in;
    std::vector<const Node*> nodes;
    for (size_t k = i; k < j; ++k) nodes.push_back(&g.nodes[k]);
    for (const Node* n : nodes) {
      for (const auto& r : reads_of(*n)) {
        if (produced.count(r) || g.initializers.count(r) || seen_in.count(r)) continue;
        if (part.device && device_has.count(r)) continue;
        seen_in.insert(r);
        part.inputs.push_back(r);
      }
      for (const auto& o : n->outputs)
        if (!o.empty()) produced.insert(o);
    }
    for (const Node* n : nodes)
      for (const auto& o : n->outputs) {
        if (o.empty()) continue;
        bool needed = false;
        if (part.device) {
          needed = host_read.count(o) > 0;
        } else {  // read by any later part or the caller
          needed = std::find(g.outputs.begin(), g.outputs.end(), o) != g.outputs.end();
          for (size_t k = j; k < g.nodes.size() && !needed; ++k)
            for (const auto& r : reads_of(g.nodes[k])) needed = needed || r == o;
        }
        if (needed) part.outputs.push_back(o);
      }
    if (part.device) {
      DeviceSegmentSpec s;
      for (const Node* n : nodes) s.nodes.push_back(n->index);
      s.uploads = part.inputs;
      s.downloads = part.outputs;
      for (const auto& v : part.inputs) device_has.insert(v);
      for (const auto& v : produced) device_has.insert(v);
      part.segment = segments.size();
      segments.push_back(std::move(s));
      spec->device_nodes += static_cast<int>(nodes.size());
    } else {
      auto sub = std::make_unique<Graph>();
      sub->name = g.name + "_cpu" + std::to_string(spec->parts.size());
      for (const Node* n : nodes) {
        sub->nodes.push_back(*n);
        for (const auto& r : reads_of(*n))
          if (auto it = g.initializers.find(r); it != g.initializers.end()) sub->initializers[r] = it->second;
      }
      sub->inputs = part.inputs;
      sub->outputs = part.outputs;
      for (const auto& [name, vt] : g.value_info)
        if (produced.count(name) || seen_in.count(name)) sub->value_info[name] = vt;
      FERRY_RETURN_IF_ERROR(sub->topo_sort());
      auto plan = CompiledGraph::compile(*sub, {});
      if (!plan) return plan.status();
      part.plan = std::move(plan).value();
      part.graph = std::move(sub);
      spec->cpu_nodes += static_cast<int>(nodes.size());
    }
    spec->parts.push_back(std::move(part));
    i = j;
  }
  if (!segments.empty()) {
    auto program = backend_->compile(g, segments);
    if (!program) return program.status();
    spec->program = std::move(program).value();
  }
  return spec;
}

Expected<std::vector<Tensor>> DeviceExecutor::run(const std::vector<Tensor>& inputs, ThreadPool& pool) {
  FERRY_ASSIGN_OR_RETURN(std::shared_ptr<Specialization> spec, specialization_for(inputs));
  const Graph& g = spec->model.graph;
  std::unique_lock<std::mutex> cpu_turn(spec->cpu_parts_mu, std::defer_lock);
  if (spec->cpu_nodes > 0) cpu_turn.lock();
  if (!options_.transfers && (spec->cpu_nodes > 0 || spec->parts.size() != 1))
    return invalid_argument(backend_->name() + ": running without data transfers needs the whole graph on the "
                            "device, but " + std::to_string(spec->cpu_nodes) + " nodes fall back to the CPU");
  std::unordered_map<std::string, Tensor> host;
  for (size_t i = 0; i < g.inputs.size() && i < inputs.size(); ++i) host[g.inputs[i]] = inputs[i];
  auto lookup = [&](const std::string& name) -> const Tensor* {
    if (auto it = host.find(name); it != host.end()) return &it->second;
    if (auto it = g.initializers.find(name); it != g.initializers.end()) return &it->second;
    return nullptr;
  };
  DeviceTimings timings;
  for (Part& part : spec->parts) {
    std::vector<const Tensor*> ins;
    std::vector<Tensor> in_values;
    for (const auto& name : part.inputs) {
      const Tensor* t = lookup(name);
      if (!t) return internal_error("device executor: value '" + name + "' is not on the host");
      ins.push_back(t);
    }
    std::vector<Tensor> outs;
    if (part.device) {
      FERRY_RETURN_IF_ERROR(spec->program->run_segment(part.segment, ins, &outs, &timings));
      if (!options_.transfers) continue;
    } else {
      for (const Tensor* t : ins) in_values.push_back(*t);
      auto r = part.plan->run(in_values, pool);
      if (!r) return r.status();
      outs = std::move(r).value();
    }
    for (size_t k = 0; k < part.outputs.size() && k < outs.size(); ++k) host[part.outputs[k]] = std::move(outs[k]);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_timings_[std::this_thread::get_id()] = timings;
  }
  std::vector<Tensor> result;
  for (const auto& name : g.outputs) {
    const Tensor* t = lookup(name);
    if (!t && !options_.transfers) {
      result.emplace_back();
      continue;
    }
    if (!t) return internal_error("device executor: graph output '" + name + "' was not produced");
    result.push_back(*t);
  }
  return result;
}

std::string DeviceExecutor::summary() const {
  std::string s = backend_->name();
  std::lock_guard<std::mutex> lock(mu_);
  if (specs_.empty()) return s + ": not specialized yet";
  const Specialization& spec = *specs_.front();
  int cpu_parts = 0;
  for (const auto& p : spec.parts) cpu_parts += !p.device;
  s += ": " + std::to_string(spec.device_nodes) + " nodes on the device, " + std::to_string(spec.cpu_nodes) +
       " on the CPU in " + std::to_string(cpu_parts) + " parts";
  if (spec.program) s += " | " + spec.program->summary();
  if (!spec.fusion_note.empty()) s += " | " + spec.fusion_note;
  if (compiles_ > 1)
    s += " | " + std::to_string(specs_.size()) + " of " + std::to_string(options_.cached_programs) +
         " input-shape programs cached, " + std::to_string(compiles_) + " compiled";
  return s;
}

}  // namespace ferry
