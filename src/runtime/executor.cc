#include "runtime/executor.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <unordered_set>

namespace ferry {

namespace {

// Shape inference of one step, kept from the previous run: when the inputs have the same dtypes and shapes (and,
// for inference that reads input values, the same values of its small non-constant inputs) the inferred output
// types are reused instead of inferring again. Whether inference reads values is found once per miss by
// inferring a second time without the non-constant values: if the result differs, the values matter.
struct StepCache {
  bool valid = false;
  std::vector<DType> dtypes;  // per node input; kUndefined when absent
  std::vector<Shape> shapes;
  std::vector<Tensor> values;  // per node input: a copy to compare when inference reads it, else undefined
  std::vector<ValueType> outputs;

  bool hit(const std::vector<const Tensor*>& ins) const {
    if (!valid || ins.size() != dtypes.size()) return false;
    for (size_t i = 0; i < ins.size(); ++i) {
      const Tensor* t = ins[i];
      if (!t) {
        if (dtypes[i] != DType::kUndefined) return false;
        continue;
      }
      if (t->dtype() != dtypes[i] || t->shape() != shapes[i]) return false;
      const Tensor& v = values[i];
      if (v.defined() && t->raw_data() != v.raw_data() && std::memcmp(t->raw_data(), v.raw_data(), v.nbytes()) != 0)
        return false;
    }
    return true;
  }
};

}  // namespace

struct CompiledGraph::Frame {
  const CompiledGraph* plan;
  std::vector<Tensor> values;
  const Frame* parent;
  std::vector<StepCache>* cache = nullptr;  // per step; set while this run holds the graph's ArenaState lock

  const Tensor* lookup(const std::string& name) const {
    for (const Frame* f = this; f; f = f->parent) {
      auto it = f->plan->slot_of_.find(name);
      if (it != f->plan->slot_of_.end() && f->values[static_cast<size_t>(it->second)].defined())
        return &f->values[static_cast<size_t>(it->second)];
    }
    return nullptr;
  }
};

namespace {

class FrameSubgraphRunner : public SubgraphRunner {
 public:
  FrameSubgraphRunner(const std::unordered_map<const Graph*, std::unique_ptr<CompiledGraph>>& subs,
                      const CompiledGraph::Frame* frame, ThreadPool& pool)
      : subs_(subs), frame_(frame), pool_(pool) {}
  Expected<std::vector<Tensor>> run(const Graph& graph, const std::vector<Tensor>& inputs) override {
    auto it = subs_.find(&graph);
    if (it == subs_.end()) return internal_error("subgraph '" + graph.name + "' was not compiled");
    return it->second->run_in(inputs, pool_, frame_);
  }

 private:
  const std::unordered_map<const Graph*, std::unique_ptr<CompiledGraph>>& subs_;
  const CompiledGraph::Frame* frame_;
  ThreadPool& pool_;
};

ValueType type_of_tensor(const Tensor& t) { return {t.dtype(), SymShape::from_shape(t.shape())}; }

// Ops whose CPU kernels may write output 0 over an input of the same shape and dtype: each y[i] is computed from
// x[i] (and a broadcast operand) before y[i] is stored (UnaryKernel loops and their SSE2 paths, Clip,
// broadcast2 for Add/Sub/Mul/Div). The second number is how many leading inputs may be the reused one.
struct InPlaceOp {
  const char* op;
  int candidates;
};
constexpr InPlaceOp kInPlaceOps[] = {
    {"Relu", 1},      {"LeakyRelu", 1}, {"Sigmoid", 1},     {"Tanh", 1},     {"Clip", 1},      {"Neg", 1},
    {"Abs", 1},       {"Exp", 1},       {"Log", 1},         {"Sqrt", 1},     {"Reciprocal", 1}, {"Erf", 1},
    {"Elu", 1},       {"Selu", 1},      {"HardSigmoid", 1}, {"HardSwish", 1}, {"Softplus", 1}, {"Swish", 1},
    {"Gelu", 1},      {"Mish", 1},      {"Floor", 1},       {"Ceil", 1},     {"Round", 1},     {"Add", 2},
    {"Sub", 2},       {"Mul", 2},       {"Div", 2},
};

// ferry.FusedConv may write Y over its residual Z (input 3): the oneDNN sum post-op accumulates into Y, so Y == Z
// saves conv_dnnl.cc's copy of Z into Y (the reference kernel reads z[i] before storing y[i]). Not with SiLU/sigmoid
// applied before Z (conv_act.h adds Z after the conv has already overwritten Y). Returns the candidate's index.
int in_place_first_input(const Node& node) {
  if (node.domain != "ferry" || node.op_type != "FusedConv" || node.inputs.size() < 4 || node.inputs[3].empty())
    return 0;
  const std::string act = node.attr_string("activation", "none");
  if (node.attr_int("z_after_activation", 0) != 0 && (act == "silu" || act == "sigmoid")) return -1;
  return 3;
}

int in_place_candidates(const Node& node) {
  if (in_place_first_input(node) > 0) return 1;
  if (!node.domain.empty() && node.domain != "ai.onnx") return 0;
  for (const InPlaceOp& p : kInPlaceOps)
    if (node.op_type == p.op) return p.candidates;
  return 0;
}

int memory_plan_mode() {  // 0 off, 1 on, 2 on and print each plan, 3 check (each recording is followed by a planned run)
  const char* v = std::getenv("FERRY_MEMORY_PLAN");
  if (!v) return 1;
  if (std::strcmp(v, "0") == 0 || std::strcmp(v, "off") == 0) return 0;
  if (std::strcmp(v, "check") == 0) return 3;
  return std::strcmp(v, "verbose") == 0 ? 2 : 1;
}

// Arena placement of one step output: its own bytes [offset, offset+bytes) when planned, and the range
// [lo, hi) its value may occupy (its root's region; lo == kNone: it must not be in the arena at all).
struct OutRegion {
  size_t offset = MemoryPlan::kNone, bytes = 0;
  size_t lo = MemoryPlan::kNone, hi = 0;
};

// Recording run: heap outputs, remembering which pointer each ctx.output() call returned.
class RecordingMemory : public OutputMemory {
 public:
  explicit RecordingMemory(std::vector<const void*>* allocated) : allocated_(allocated) {}
  Tensor allocate(int i, DType dtype, const Shape& shape) override {
    Tensor t = Tensor::empty(dtype, shape);
    if (i >= 0 && static_cast<size_t>(i) < allocated_->size()) (*allocated_)[static_cast<size_t>(i)] = t.raw_data();
    return t;
  }

 private:
  std::vector<const void*>* allocated_;
};

// Planned run: outputs are views into the arena when the plan has room for them.
class ArenaMemory : public OutputMemory {
 public:
  ArenaMemory(const std::shared_ptr<void>& arena, char* base) : arena_(arena), base_(base) {}
  void set_step(const std::vector<OutRegion>* regions, const std::vector<const Tensor*>* inputs) {
    regions_ = regions;
    inputs_ = inputs;
  }
  Tensor allocate(int i, DType dtype, const Shape& shape) override {
    if (!regions_ || i < 0 || static_cast<size_t>(i) >= regions_->size() || dtype == DType::kString) return {};
    const OutRegion& r = (*regions_)[static_cast<size_t>(i)];
    if (r.offset == MemoryPlan::kNone) return {};
    size_t bytes = dtype_size(dtype);
    for (int64_t d : shape) {
      if (d <= 0 || static_cast<size_t>(d) > r.bytes) return {};  // also rules out overflow below
      bytes *= static_cast<size_t>(d);
      if (bytes > r.bytes) return {};
    }
    if (bytes == 0) return {};
    char* p = base_ + r.offset;
    // An input in these bytes (planned in place) must be exactly the same array, else the kernel would read
    // elements it already overwrote (a broadcast input, a shape that changed with the data).
    for (const Tensor* x : *inputs_) {
      if (!x || x->dtype() == DType::kString) continue;
      const char* xp = static_cast<const char*>(x->raw_data());
      if (xp + x->nbytes() <= p || xp >= p + bytes || x->nbytes() == 0) continue;
      if (xp != p || x->dtype() != dtype || x->shape() != shape) return {};
    }
    return Tensor::view(dtype, shape, arena_, p);
  }

 private:
  const std::shared_ptr<void>& arena_;
  char* base_;
  const std::vector<OutRegion>* regions_ = nullptr;
  const std::vector<const Tensor*>* inputs_ = nullptr;
};

}  // namespace

struct CompiledGraph::ArenaState {
  std::mutex mu;
  int mode = 1;
  std::vector<DType> key_dtypes;  // input dtypes and shapes the plan was recorded for
  std::vector<Shape> key_shapes;
  bool ready = false;  // regions are valid for the key
  bool stale = false;  // the last planned run departed from the plan: record again
  int departures = 0;  // planned runs that departed from the plan; planning gives up after a few
  std::shared_ptr<void> arena;
  char* base = nullptr;
  size_t capacity = 0;
  std::vector<std::vector<OutRegion>> regions;  // per step, per output
  MemoryPlan plan;
  std::vector<StepCache> cache;  // per step: the last run's shape inference

  bool matches(const std::vector<Tensor>& inputs) const {
    if (inputs.size() != key_shapes.size()) return false;
    for (size_t i = 0; i < inputs.size(); ++i)
      if (inputs[i].dtype() != key_dtypes[i] || inputs[i].shape() != key_shapes[i]) return false;
    return true;
  }
  bool owns(const void* p, size_t n) const {
    const char* c = static_cast<const char*>(p);
    return base && c + n > base && c < base + capacity;
  }
};

// What a recording run learns: one PlanItem per step output, and the storage ranges seen so far.
struct CompiledGraph::Recording {
  std::vector<PlanItem> items;
  std::vector<std::pair<int, int>> where;  // per item: (step, output)
  std::vector<int> item_of_slot;           // slot -> item, -1 for inputs/constants/absent
  std::map<uintptr_t, std::pair<uintptr_t, int>> ranges;  // storage start -> (end, item; -1 = not produced here)
  std::vector<int> live;            // per root item with a range: its values (itself, views) the frame still holds
  std::vector<uintptr_t> start_of;  // per root item with a range: where its storage starts

  // The item (or -1 for external storage) whose storage contains [p, p+n); -2 when none does.
  int owner_of(const void* p, size_t n) const {
    uintptr_t a = reinterpret_cast<uintptr_t>(p);
    auto it = ranges.upper_bound(a);
    if (it == ranges.begin()) return -2;
    --it;
    return a + n <= it->second.first ? it->second.second : -2;
  }
  void add_range(const void* p, size_t n, int item) {
    if (n == 0) return;
    uintptr_t a = reinterpret_cast<uintptr_t>(p);
    ranges[a] = {a + n, item};
  }
  // The frame let go of `slot`: once a root and all its views are gone its bytes may be reused by the allocator,
  // so its range is forgotten (else a new buffer there would look like a view of a dead value).
  void released(int slot) {
    int item = item_of_slot[static_cast<size_t>(slot)];
    if (item < 0) return;
    size_t root = static_cast<size_t>(root_of(item));
    if (live[root] <= 0 || --live[root] > 0) return;
    auto it = ranges.find(start_of[root]);
    if (it != ranges.end() && it->second.second == static_cast<int>(root)) ranges.erase(it);
  }
  int root_of(int item) const {
    while (item >= 0 && items[static_cast<size_t>(item)].alias_of >= 0) item = items[static_cast<size_t>(item)].alias_of;
    return item;
  }
};

CompiledGraph::CompiledGraph(const Graph& g) : graph_(g) {}
CompiledGraph::~CompiledGraph() = default;

int CompiledGraph::slot(const std::string& name) {
  auto it = slot_of_.find(name);
  if (it != slot_of_.end()) return it->second;
  int s = static_cast<int>(slot_names_.size());
  slot_of_[name] = s;
  slot_names_.push_back(name);
  return s;
}

Expected<std::unique_ptr<CompiledGraph>> CompiledGraph::compile(const Graph& graph,
                                                                const std::vector<std::string>& outer_scope) {
  std::unique_ptr<CompiledGraph> cg(new CompiledGraph(graph));
  const OpRegistry& ops = OpRegistry::global();
  const KernelRegistry& kernels = KernelRegistry::global();
  for (const auto& [name, t] : graph.initializers) cg->constants_.emplace_back(cg->slot(name), &t);
  for (const auto& in : graph.inputs) cg->input_slots_.push_back(cg->slot(in));
  for (const auto& ref : graph.outer_refs) cg->outer_slots_.push_back(cg->slot(ref));
  std::vector<std::string> scope = outer_scope;
  for (const auto& in : graph.inputs) scope.push_back(in);
  for (const auto& [name, t] : graph.initializers) scope.push_back(name);
  for (const Node& n : graph.nodes)
    for (const auto& o : n.outputs) scope.push_back(o);

  std::unordered_map<int, size_t> last_use;
  for (const Node& node : graph.nodes) {
    Step step;
    step.node = &node;
    step.schema = ops.find(node.domain, node.op_type);
    const CpuKernelFactory* factory = kernels.find(node.domain, node.op_type);
    if (!step.schema || !factory)
      return unsupported("node " + node.display_name() + ": operator " +
                         (node.domain.empty() ? "" : node.domain + ".") + node.op_type + " (opset " +
                         std::to_string(node.opset) + ") is not supported");
    auto kernel = (*factory)(node);
    if (!kernel) return kernel.status();
    step.kernel = std::move(kernel).value();
    for (const auto& in : node.inputs) step.inputs.push_back(in.empty() ? -1 : cg->slot(in));
    for (const auto& out : node.outputs) step.outputs.push_back(out.empty() ? -1 : cg->slot(out));
    for (int s : step.inputs)
      if (s >= 0) last_use[s] = cg->steps_.size();
    for (const auto& [key, a] : node.attrs) {
      std::vector<const Graph*> subs;
      if (a.g) subs.push_back(a.g.get());
      for (const auto& g : a.graphs) subs.push_back(g.get());
      for (const Graph* g : subs) {
        for (const auto& ref : g->outer_refs) {
          auto it = cg->slot_of_.find(ref);
          if (it != cg->slot_of_.end()) last_use[it->second] = cg->steps_.size();
        }
        auto sub = compile(*g, scope);
        if (!sub) return sub.status().with_context("in subgraph '" + key + "' of node " + node.display_name());
        cg->subgraphs_[g] = std::move(sub).value();
      }
    }
    cg->steps_.push_back(std::move(step));
  }
  cg->last_use_.assign(cg->slot_names_.size(), -1);
  for (const auto& [s, step_index] : last_use) cg->last_use_[static_cast<size_t>(s)] = static_cast<int>(step_index);
  std::unordered_set<int> keep(cg->output_slots_.begin(), cg->output_slots_.end());
  for (const auto& out : graph.outputs) {
    cg->output_slots_.push_back(cg->slot(out));
    keep.insert(cg->slot(out));
  }
  for (const auto& [s, t] : cg->constants_) keep.insert(s);
  for (int s : cg->outer_slots_) keep.insert(s);
  for (const auto& [s, step_index] : last_use)
    if (!keep.count(s)) cg->steps_[step_index].release.push_back(s);
  cg->is_output_.assign(cg->slot_names_.size(), 0);
  for (int s : cg->output_slots_) cg->is_output_[static_cast<size_t>(s)] = 1;
  cg->is_const_.assign(cg->slot_names_.size(), 0);
  for (const auto& [s, t] : cg->constants_) cg->is_const_[static_cast<size_t>(s)] = 1;
  cg->arena_ = std::make_unique<ArenaState>();  // mode 0: no planning, but the lock still guards the step cache
  cg->arena_->mode = memory_plan_mode();
  cg->arena_->cache.resize(cg->steps_.size());
  return cg;
}

Expected<std::vector<Tensor>> CompiledGraph::run(const std::vector<Tensor>& inputs, ThreadPool& pool,
                                                 const NodeObserver* observer) const {
  return run_in(inputs, pool, nullptr, observer);
}

namespace {
int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Expected<std::vector<Tensor>> CompiledGraph::run_in(const std::vector<Tensor>& inputs, ThreadPool& pool,
                                                    const Frame* parent, const NodeObserver* observer) const {
  if (inputs.size() != input_slots_.size())
    return invalid_argument("graph '" + graph_.name + "' takes " + std::to_string(input_slots_.size()) +
                            " inputs, got " + std::to_string(inputs.size()));
  Frame frame{this, std::vector<Tensor>(slot_names_.size()), parent};
  for (const auto& [s, t] : constants_) frame.values[static_cast<size_t>(s)] = *t;
  for (size_t i = 0; i < inputs.size(); ++i) frame.values[static_cast<size_t>(input_slots_[i])] = inputs[i];
  if (parent) {
    for (int s : outer_slots_) {
      const Tensor* t = parent->lookup(slot_names_[static_cast<size_t>(s)]);
      if (!t) return invalid_argument("subgraph '" + graph_.name + "' reads '" + slot_names_[static_cast<size_t>(s)] +
                                      "', which no enclosing graph defines");
      frame.values[static_cast<size_t>(s)] = *t;
    }
  }
  // Only top-level runs plan memory; a concurrent run (or a subgraph) takes the plain heap path.
  std::unique_lock<std::mutex> lock;
  if (!parent && arena_) lock = std::unique_lock<std::mutex>(arena_->mu, std::try_to_lock);
  if (!lock.owns_lock()) return run_frame(frame, pool, observer, nullptr, nullptr);
  ArenaState& a = *arena_;
  frame.cache = &a.cache;
  if (a.mode == 0) return run_frame(frame, pool, observer, nullptr, nullptr);
  if (a.ready && !a.stale && a.matches(inputs)) {
    auto result = run_frame(frame, pool, observer, nullptr, &a);
    if (a.stale) ++a.departures;
    return result;
  }
  if (a.departures >= 4) return run_frame(frame, pool, observer, nullptr, nullptr);  // the plan keeps failing
  Recording rec;
  rec.item_of_slot.assign(slot_names_.size(), -1);
  for (const Tensor& t : frame.values)
    if (t.defined() && t.dtype() != DType::kString) rec.add_range(t.raw_data(), t.nbytes(), -1);
  a.ready = false;
  std::vector<Tensor> initial = frame.values;  // for FERRY_MEMORY_PLAN=check
  auto result = run_frame(frame, pool, observer, &rec, nullptr);
  if (!result) return result;
  a.key_dtypes.clear();
  a.key_shapes.clear();
  for (const Tensor& t : inputs) {
    a.key_dtypes.push_back(t.dtype());
    a.key_shapes.push_back(t.shape());
  }
  build_plan(a, rec);
  if (a.mode != 3 || !a.ready) return result;
  // Check mode (tests): run again on the plan just made and return that run's outputs, so one-shot runners
  // (conformance, zoo checks) exercise the arena path; report results that differ from the heap run.
  Frame again{this, std::move(initial), parent, &a.cache};
  auto planned = run_frame(again, pool, observer, nullptr, &a);
  if (!planned) return planned;
  for (size_t i = 0; i < planned->size(); ++i) {
    const Tensor &x = (*result)[i], &y = (*planned)[i];
    if (x.dtype() != DType::kString && (x.shape() != y.shape() || std::memcmp(x.raw_data(), y.raw_data(), x.nbytes())))
      std::fprintf(stderr, "ferry: memory plan check: graph output '%s' differs between the heap and arena runs\n",
                   graph_.outputs[i].c_str());
  }
  return planned;
}

Expected<std::vector<Tensor>> CompiledGraph::run_frame(Frame& frame, ThreadPool& pool, const NodeObserver* observer,
                                                       Recording* rec, ArenaState* arena) const {
  FrameSubgraphRunner sub_runner(subgraphs_, &frame, pool);
  std::vector<const void*> allocated;
  RecordingMemory recording_memory(&allocated);
  std::shared_ptr<void> no_arena;
  ArenaMemory arena_memory(arena ? arena->arena : no_arena, arena ? arena->base : nullptr);
  std::vector<ValueType> inferred;  // this step's output types when there is no cache
  for (size_t k = 0; k < steps_.size(); ++k) {
    const Step& step = steps_[k];
    const Node& node = *step.node;
    std::vector<const Tensor*> in_ptrs(step.inputs.size());
    for (size_t i = 0; i < step.inputs.size(); ++i) {
      int s = step.inputs[i];
      const Tensor* t = s >= 0 ? &frame.values[static_cast<size_t>(s)] : nullptr;
      if (t && !t->defined()) {
        return internal_error("node " + node.display_name() + ": input '" + node.inputs[i] + "' has no value");
      }
      in_ptrs[i] = t;
    }
    int64_t start = observer ? now_ns() : 0;
    StepCache* cache = frame.cache ? &(*frame.cache)[k] : nullptr;
    if (!cache || !cache->hit(in_ptrs)) FERRY_RETURN_IF_ERROR(infer_step(step, in_ptrs, cache, &inferred));
    std::vector<Tensor> outs(node.outputs.size());
    KernelContext kctx(node, in_ptrs, cache ? cache->outputs : inferred, &outs, &pool, &sub_runner);
    if (rec) {
      allocated.assign(outs.size(), nullptr);
      kctx.set_output_memory(&recording_memory);
    } else if (arena) {
      arena_memory.set_step(&arena->regions[k], &in_ptrs);
      kctx.set_output_memory(&arena_memory);
    }
    Status st;
    try {
      st = step.kernel->run(kctx);
    } catch (const std::bad_alloc&) {
      st = out_of_memory("node " + node.display_name() + ": out of memory");
    }
    FERRY_RETURN_IF_ERROR(st);
    for (size_t i = 0; i < outs.size(); ++i) {
      int s = step.outputs[i];
      if (s < 0) continue;
      if (!outs[i].defined())
        return internal_error("node " + node.display_name() + ": kernel did not produce output " + std::to_string(i));
      if (arena && outs[i].dtype() != DType::kString && arena->owns(outs[i].raw_data(), outs[i].nbytes())) {
        // Arena bytes outside the value's planned region would be overwritten under it: keep a heap copy.
        const OutRegion& r = arena->regions[k][i];
        const char* p = static_cast<const char*>(outs[i].raw_data());
        if (r.lo == MemoryPlan::kNone || p < arena->base + r.lo || p + outs[i].nbytes() > arena->base + r.hi) {
          outs[i] = outs[i].clone();
          arena->stale = true;
        }
      }
    }
    if (rec) record_step(*rec, k, outs, in_ptrs, allocated);
    for (size_t i = 0; i < outs.size(); ++i)
      if (step.outputs[i] >= 0) frame.values[static_cast<size_t>(step.outputs[i])] = std::move(outs[i]);
    for (int s : step.release) {
      if (rec) rec->released(s);  // before the bytes can be reused
      frame.values[static_cast<size_t>(s)] = Tensor();
    }
    if (observer) (*observer)(node, start, now_ns());
  }
  std::vector<Tensor> result;
  for (size_t i = 0; i < output_slots_.size(); ++i) {
    const Tensor* t = &frame.values[static_cast<size_t>(output_slots_[i])];
    if (!t->defined() && frame.parent) t = frame.parent->lookup(graph_.outputs[i]);
    if (!t || !t->defined()) return internal_error("graph output '" + graph_.outputs[i] + "' has no value");
    result.push_back(*t);
    if (arena && t->dtype() != DType::kString && arena->owns(t->raw_data(), t->nbytes())) {
      result.back() = t->clone();  // never hand arena bytes to the caller
      arena->stale = true;
    }
  }
  return result;
}

Status CompiledGraph::infer_step(const Step& step, const std::vector<const Tensor*>& ins, void* cache_slot,
                                 std::vector<ValueType>* inferred) const {
  const Node& node = *step.node;
  std::vector<ValueType> in_types(ins.size());
  for (size_t i = 0; i < ins.size(); ++i)
    if (ins[i]) in_types[i] = type_of_tensor(*ins[i]);
  InferContext ictx(node, in_types, ins);
  FERRY_RETURN_IF_ERROR(infer_node(*step.schema, ictx));
  auto* cache = static_cast<StepCache*>(cache_slot);
  if (!cache) {
    *inferred = ictx.outputs();
    return Status::ok();
  }
  cache->valid = false;
  cache->outputs = ictx.outputs();
  // Does the result depend on the values of non-constant inputs? Infer again without them.
  std::vector<const Tensor*> shapes_only = ins;
  bool has_values = false;
  for (size_t i = 0; i < ins.size(); ++i) {
    int s = step.inputs[i];
    if (ins[i] && !is_const_[static_cast<size_t>(s)]) {
      shapes_only[i] = nullptr;
      has_values = true;
    }
  }
  bool reads_values = false;
  if (has_values) {
    InferContext blind(node, in_types, shapes_only);
    if (!infer_node(*step.schema, blind).is_ok()) {
      reads_values = true;
    } else {
      for (size_t o = 0; o < cache->outputs.size() && !reads_values; ++o) {
        const ValueType &x = cache->outputs[o], &y = blind.outputs()[o];
        reads_values = x.dtype != y.dtype || x.shape.rank_known != y.shape.rank_known || x.shape.dims != y.shape.dims;
      }
    }
  }
  cache->dtypes.assign(ins.size(), DType::kUndefined);
  cache->shapes.assign(ins.size(), Shape{});
  cache->values.assign(ins.size(), Tensor());
  for (size_t i = 0; i < ins.size(); ++i) {
    if (!ins[i]) continue;
    cache->dtypes[i] = ins[i]->dtype();
    cache->shapes[i] = ins[i]->shape();
    if (!reads_values || shapes_only[i]) continue;  // constants keep their values
    // Inference read values: remember the small ones to compare; a large or string input makes it uncacheable.
    if (ins[i]->dtype() == DType::kString || ins[i]->numel() > kMaxCachedValues) return Status::ok();
    cache->values[i] = ins[i]->clone();
  }
  cache->valid = true;
  return Status::ok();
}

void CompiledGraph::record_step(Recording& rec, size_t k, const std::vector<Tensor>& outs,
                                const std::vector<const Tensor*>& ins, const std::vector<const void*>& allocated) const {
  const Step& step = steps_[k];
  for (size_t i = 0; i < outs.size(); ++i) {
    int s = step.outputs[i];
    if (s < 0) continue;
    const Tensor& t = outs[i];
    PlanItem item;
    item.def = static_cast<int>(k);
    item.last = std::max(item.def, last_use_[static_cast<size_t>(s)]);
    item.pinned = is_output_[static_cast<size_t>(s)] != 0;
    const bool strings = t.dtype() == DType::kString;
    item.bytes = strings ? 0 : t.nbytes();
    const int index = static_cast<int>(rec.items.size());
    if (item.bytes > 0) {
      int owner = t.raw_data() == allocated[i] ? -2 : rec.owner_of(t.raw_data(), item.bytes);
      if (owner >= 0) {
        item.alias_of = owner;
        ++rec.live[static_cast<size_t>(rec.root_of(owner))];
      } else if (owner == -2) {
        item.arena_ok = t.raw_data() == allocated[i];
        rec.add_range(t.raw_data(), item.bytes, index);
        rec.live.push_back(1);
        rec.start_of.push_back(reinterpret_cast<uintptr_t>(t.raw_data()));
      } else {
        item.bytes = 0;  // a view of an input or initializer: not ours to place
      }
    }
    if (rec.live.size() == rec.items.size()) {  // not a root with a range
      rec.live.push_back(0);
      rec.start_of.push_back(0);
    }
    rec.items.push_back(item);
    rec.where.emplace_back(static_cast<int>(k), static_cast<int>(i));
    rec.item_of_slot[static_cast<size_t>(s)] = index;
  }
  // In-place candidate: output 0 over a same-typed input root that no other input of this node views.
  const int candidates = in_place_candidates(*step.node);
  if (candidates == 0 || outs.empty() || step.outputs[0] < 0) return;
  PlanItem& out = rec.items[static_cast<size_t>(rec.item_of_slot[static_cast<size_t>(step.outputs[0])])];
  if (!out.arena_ok || out.alias_of >= 0) return;
  int best = -1;
  const int first = std::max(0, in_place_first_input(*step.node));
  for (int c = first; c < first + candidates && c < static_cast<int>(ins.size()); ++c) {
    int s = step.inputs[static_cast<size_t>(c)];
    if (s < 0 || !ins[static_cast<size_t>(c)]) continue;
    int item = rec.item_of_slot[static_cast<size_t>(s)];
    if (item < 0 || rec.items[static_cast<size_t>(item)].alias_of >= 0 || !rec.items[static_cast<size_t>(item)].arena_ok)
      continue;
    const Tensor& x = *ins[static_cast<size_t>(c)];
    if (x.dtype() != outs[0].dtype() || x.shape() != outs[0].shape()) continue;
    bool shared = false;
    for (size_t j = 0; j < step.inputs.size(); ++j) {
      int sj = step.inputs[j];
      if (sj < 0 || sj == s || rec.item_of_slot[static_cast<size_t>(sj)] < 0) continue;
      if (rec.root_of(rec.item_of_slot[static_cast<size_t>(sj)]) == item) shared = true;
    }
    if (shared) continue;
    if (best < 0 || last_use_[static_cast<size_t>(s)] == static_cast<int>(k)) best = item;
    if (last_use_[static_cast<size_t>(s)] == static_cast<int>(k)) break;
  }
  out.in_place_of = best;
}

void CompiledGraph::build_plan(ArenaState& a, Recording& rec) const {
  a.plan = plan_memory(rec.items);
  const MemoryPlan& p = a.plan;
  if (a.capacity < p.arena_bytes) {
    a.arena.reset();
    void* mem = p.arena_bytes ? std::aligned_alloc(kArenaAlign, p.arena_bytes) : nullptr;
    if (!mem) {
      a.base = nullptr;
      a.capacity = 0;
      return;  // no arena this time: stay on the heap path (ready stays false, next run records again)
    }
    a.arena = std::shared_ptr<void>(mem, [](void* q) { std::free(q); });
    a.base = static_cast<char*>(mem);
    a.capacity = p.arena_bytes;
  }
  a.regions.assign(steps_.size(), {});
  for (size_t k = 0; k < steps_.size(); ++k) a.regions[k].resize(steps_[k].outputs.size());
  for (size_t i = 0; i < rec.items.size(); ++i) {
    OutRegion& r = a.regions[static_cast<size_t>(rec.where[i].first)][static_cast<size_t>(rec.where[i].second)];
    r.offset = p.offset[i];
    r.bytes = rec.items[i].bytes;
    size_t root = static_cast<size_t>(p.root[i]);
    if (p.offset[root] != MemoryPlan::kNone) {
      r.lo = p.offset[root];
      r.hi = r.lo + rec.items[root].bytes;
    }
  }
  a.ready = true;
  a.stale = false;
  if (a.mode >= 2) std::fprintf(stderr, "ferry: memory plan for graph '%s': %s\n", graph_.name.c_str(), p.summary().c_str());
}

MemoryPlan CompiledGraph::memory_plan() const {
  if (!arena_) return {};
  std::lock_guard<std::mutex> lock(arena_->mu);
  return arena_->plan;
}

}  // namespace ferry
