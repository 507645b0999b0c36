#include "runtime/executor.h"

#include <chrono>
#include <new>
#include <unordered_set>

namespace ferry {

struct CompiledGraph::Frame {
  const CompiledGraph* plan;
  std::vector<Tensor> values;
  const Frame* parent;

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

}  // namespace

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
  std::unordered_set<int> keep(cg->output_slots_.begin(), cg->output_slots_.end());
  for (const auto& out : graph.outputs) {
    cg->output_slots_.push_back(cg->slot(out));
    keep.insert(cg->slot(out));
  }
  for (const auto& [s, t] : cg->constants_) keep.insert(s);
  for (int s : cg->outer_slots_) keep.insert(s);
  for (const auto& [s, step_index] : last_use)
    if (!keep.count(s)) cg->steps_[step_index].release.push_back(s);
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
  FrameSubgraphRunner sub_runner(subgraphs_, &frame, pool);
  for (const Step& step : steps_) {
    const Node& node = *step.node;
    std::vector<const Tensor*> in_ptrs;
    std::vector<ValueType> in_types;
    for (size_t i = 0; i < step.inputs.size(); ++i) {
      int s = step.inputs[i];
      const Tensor* t = s >= 0 ? &frame.values[static_cast<size_t>(s)] : nullptr;
      if (t && !t->defined()) {
        return internal_error("node " + node.display_name() + ": input '" + node.inputs[i] + "' has no value");
      }
      in_ptrs.push_back(t);
      in_types.push_back(t ? type_of_tensor(*t) : ValueType{});
    }
    int64_t start = observer ? now_ns() : 0;
    InferContext ictx(node, in_types, in_ptrs);
    FERRY_RETURN_IF_ERROR(infer_node(*step.schema, ictx));
    std::vector<Tensor> outs(node.outputs.size());
    KernelContext kctx(node, in_ptrs, ictx.outputs(), &outs, &pool, &sub_runner);
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
      frame.values[static_cast<size_t>(s)] = std::move(outs[i]);
    }
    for (int s : step.release) frame.values[static_cast<size_t>(s)] = Tensor();
    if (observer) (*observer)(node, start, now_ns());
  }
  std::vector<Tensor> result;
  for (size_t i = 0; i < output_slots_.size(); ++i) {
    const Tensor* t = &frame.values[static_cast<size_t>(output_slots_[i])];
    if (!t->defined() && parent) t = parent->lookup(graph_.outputs[i]);
    if (!t || !t->defined()) return internal_error("graph output '" + graph_.outputs[i] + "' has no value");
    result.push_back(*t);
  }
  return result;
}

}  // namespace ferry
