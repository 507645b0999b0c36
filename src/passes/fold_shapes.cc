// fold_shapes.cc — replaces Shape/Size of values whose static shape is known by int64 initializers.
//
// Runs whole-graph type/shape inference first (runtime/shape_inference.h), so it also types intermediates for
// the passes after it. Only known dims fold: a Shape over a symbolic dim ("batch") stays, but the common export
// idiom Shape -> Gather(constant index) folds when the gathered dims are known (bert's sequence length).
#include <algorithm>
#include <memory>

#include "ops/op_registry.h"
#include "passes/graph_edit.h"
#include "passes/passes.h"
#include "runtime/shape_inference.h"

namespace ferry {

namespace {

// The dims a Shape node reports (honouring start/end), or false when its input rank is unknown.
bool shape_dims(const Node& n, const SymShape& s, std::vector<Dim>* out) {
  if (!s.rank_known) return false;
  int64_t r = s.rank();
  int64_t start = n.attr_int("start", 0), end = n.attr_int("end", r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = std::clamp<int64_t>(start, 0, r);
  end = std::clamp<int64_t>(end, start, r);
  out->assign(s.dims.begin() + start, s.dims.begin() + end);
  return true;
}

std::optional<Tensor> dims_tensor(const std::vector<Dim>& dims, bool scalar) {
  std::vector<int64_t> v;
  for (const Dim& d : dims) {
    if (!d.known()) return std::nullopt;
    v.push_back(d.value);
  }
  if (scalar) return Tensor::scalar_int64(v.at(0));
  return Tensor::from_vector<int64_t>(DType::kInt64, {static_cast<int64_t>(v.size())}, v);
}

class FoldShapes : public Pass {
 public:
  std::string name() const override { return "fold_shapes"; }

  Expected<bool> run(Model& model) override {
    Graph& g = model.graph;
    if (!infer_graph_types(g, {})) return false;  // an unsupported op: leave the graph to fail at load
    auto producers = build_producers(g);
    std::vector<bool> dead(g.nodes.size(), false);
    bool changed = false;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& n = g.nodes[i];
      if (!n.domain.empty() || !n.has_input(0) || !n.has_output(0) || n.outputs.size() != 1) continue;
      if (is_graph_output(g, n.outputs[0]) || g.initializers.count(n.outputs[0])) continue;
      std::optional<Tensor> value = fold(g, n, producers);
      if (!value) continue;
      add_initializer(g, n.outputs[0], std::move(*value));
      dead[i] = true;
      changed = true;
    }
    if (!changed) return false;
    erase_nodes(g, dead);
    drop_unused_initializers(g);
    return true;
  }

 private:
  static std::optional<Tensor> fold(const Graph& g, const Node& n, const std::unordered_map<std::string, int>& producers) {
    const ValueType* in = g.type_of(n.inputs[0]);
    if (n.op_type == "Size") {
      if (!in || !in->shape.is_concrete()) return std::nullopt;
      return Tensor::scalar_int64(shape_numel(in->shape.to_shape()));
    }
    std::vector<Dim> dims;
    if (n.op_type == "Shape") {
      if (!in || !shape_dims(n, in->shape, &dims)) return std::nullopt;
      return dims_tensor(dims, false);
    }
    // Gather(Shape(x), constant indices, axis 0) when the gathered dims are known.
    if (n.op_type != "Gather" || n.inputs.size() != 2 || n.attr_int("axis", 0) != 0) return std::nullopt;
    auto p = producers.find(n.inputs[0]);
    if (p == producers.end()) return std::nullopt;
    const Node& shape = g.nodes[static_cast<size_t>(p->second)];
    if (shape.op_type != "Shape" || !shape.domain.empty() || !shape.has_input(0)) return std::nullopt;
    const ValueType* src = g.type_of(shape.inputs[0]);
    const Tensor* idx = initializer_of(g, n.inputs[1]);
    if (!src || !idx || idx->rank() > 1 || !shape_dims(shape, src->shape, &dims)) return std::nullopt;
    auto indices = constant_ints(g, n.inputs[1]);
    if (!indices) return std::nullopt;
    std::vector<Dim> picked;
    const int64_t r = static_cast<int64_t>(dims.size());
    for (int64_t k : *indices) {
      if (k < -r || k >= r) return std::nullopt;
      picked.push_back(dims[static_cast<size_t>(k < 0 ? k + r : k)]);
    }
    if (picked.empty()) return std::nullopt;
    return dims_tensor(picked, idx->rank() == 0);
  }
};

}  // namespace

std::unique_ptr<Pass> make_fold_shapes() { return std::make_unique<FoldShapes>(); }

}  // namespace ferry
