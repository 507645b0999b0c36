// fold_constants.cc — evaluates nodes whose inputs are all constants with the CPU kernels and replaces them by
// initializers; Constant nodes become initializers.
//
// Skipped: non-deterministic ops (Random*, Bernoulli, Multinomial), control flow and any node with a subgraph,
// sequence/optional ops, non-ONNX domains, nodes producing a graph output (an initializer cannot stand in for
// one in every consumer of the saved file), and results above kMaxFoldBytes (folding must not bloat a model).
// A kernel error just leaves the node in place: the same error then surfaces at run time, naming the node.
#include <algorithm>
#include <memory>
#include <new>

#include "backends/cpu/kernel.h"
#include "ops/op_registry.h"
#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace ferry {

namespace {

constexpr int64_t kMaxFoldBytes = 16 << 20;

bool foldable_op(const Node& n) {
  if (!n.domain.empty()) return false;
  static const char* kNever[] = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
                                 "Bernoulli",    "Multinomial",   "If",               "Loop",
                                 "Scan",         "Dropout",       "Optional",         "OptionalGetElement",
                                 "OptionalHasElement", "SplitToSequence", "ConcatFromSequence"};
  for (const char* op : kNever)
    if (n.op_type == op) return false;
  if (n.op_type.rfind("Sequence", 0) == 0) return false;
  for (const auto& [k, a] : n.attrs)
    if (a.g || !a.graphs.empty()) return false;
  return true;
}

class FoldConstants : public Pass {
 public:
  std::string name() const override { return "fold_constants"; }

  Expected<bool> run(Model& model) override {
    Graph& g = model.graph;
    const OpRegistry& ops = OpRegistry::global();
    const KernelRegistry& kernels = KernelRegistry::global();
    ThreadPool pool(1);
    std::vector<bool> dead(g.nodes.size(), false);
    bool changed = false;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& n = g.nodes[i];
      if (!foldable_op(n) || n.outputs.empty()) continue;
      bool ok = true;
      std::vector<const Tensor*> values;
      std::vector<ValueType> types;
      for (const auto& in : n.inputs) {
        const Tensor* t = in.empty() ? nullptr : initializer_of(g, in);
        if (!in.empty() && !t) ok = false;
        values.push_back(t);
        types.push_back(t ? ValueType{t->dtype(), SymShape::from_shape(t->shape())} : ValueType{});
      }
      for (const auto& o : n.outputs)
        if (!o.empty() && (is_graph_output(g, o) || g.initializers.count(o))) ok = false;
      if (!ok) continue;
      std::vector<Tensor> outs;
      if (!evaluate(n, ops, kernels, values, types, pool, &outs)) continue;
      for (size_t k = 0; k < outs.size(); ++k) {
        if (n.outputs[k].empty()) continue;
        add_initializer(g, n.outputs[k], std::move(outs[k]));
      }
      dead[i] = true;
      changed = true;
    }
    if (!changed) return false;
    erase_nodes(g, dead);
    drop_unused_initializers(g);
    return true;
  }

 private:
  // Runs the node's kernel on constant inputs; false when it cannot or should not be folded.
  static bool evaluate(const Node& n, const OpRegistry& ops, const KernelRegistry& kernels,
                       const std::vector<const Tensor*>& values, const std::vector<ValueType>& types,
                       ThreadPool& pool, std::vector<Tensor>* outs) {
    const OpSchema* schema = ops.find(n.domain, n.op_type);
    const CpuKernelFactory* factory = kernels.find(n.domain, n.op_type);
    if (!schema || !factory) return false;
    InferContext ictx(n, types, values);
    if (!infer_node(*schema, ictx).is_ok()) return false;
    for (const auto& o : ictx.outputs()) {
      if (!o.shape.is_concrete()) continue;  // data-dependent shapes (NonZero, Unique) are bounded by inputs
      if (shape_numel(o.shape.to_shape()) * static_cast<int64_t>(std::max<size_t>(1, dtype_size(o.dtype))) >
          kMaxFoldBytes)
        return false;
    }
    auto kernel = (*factory)(n);
    if (!kernel) return false;
    outs->assign(n.outputs.size(), Tensor());
    KernelContext kctx(n, values, ictx.outputs(), outs, &pool, nullptr);
    Status s;
    try {
      s = (*kernel)->run(kctx);
    } catch (const std::bad_alloc&) {
      return false;
    }
    if (!s.is_ok()) return false;
    for (size_t k = 0; k < outs->size(); ++k) {
      if (n.outputs[k].empty()) continue;
      const Tensor& t = (*outs)[k];
      if (!t.defined() || static_cast<int64_t>(t.nbytes()) > kMaxFoldBytes) return false;
    }
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fold_constants() { return std::make_unique<FoldConstants>(); }

}  // namespace ferry
