// transpose_sink.cc — moves a Transpose below a unary elementwise op when another Transpose reads that op:
//   x -> Transpose(p) -> U -> Transpose(q)   becomes   x -> U -> Transpose(p) -> Transpose(q)
// so transpose_cancel then merges the two Transposes into one (or none: layout round trips around an activation,
// common in exported NHWC/NCHW models, vanish). U is elementwise and one-input (its extra inputs, e.g. Clip's
// bounds, are scalars), so U(transpose(x)) == transpose(U(x)). It only fires when the first Transpose's output has
// U as its single reader and U's output is read by a Transpose only, so no work is added anywhere.
#include <unordered_set>

#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace ferry {

namespace {

// Elementwise ops whose first input is the only tensor input (other inputs, if any, are scalars / attributes).
const std::unordered_set<std::string>& unary_elementwise() {
  static const std::unordered_set<std::string> ops = {
      "Relu", "LeakyRelu", "Elu", "Selu", "Celu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Softplus",
      "Softsign", "Abs", "Neg", "Exp", "Log", "Sqrt", "Reciprocal", "Erf", "Floor", "Ceil", "Round", "Sign",
      "Sin", "Cos", "Mish", "Gelu", "Clip", "Cast", "Not", "IsNaN"};
  return ops;
}

bool scalar_or_absent(const Graph& g, const Node& n, size_t input) {
  if (input >= n.inputs.size() || n.inputs[input].empty()) return true;
  const ValueType* t = g.type_of(n.inputs[input]);
  return t && t->shape.rank_known && t->shape.rank() == 0;
}

class TransposeSink : public RewriteRule {
 public:
  std::string name() const override { return "transpose_sink"; }
  std::vector<std::string> op_types() const override { return {"Transpose"}; }

  // Anchor: the first Transpose T (node index i); U = its single reader; U's readers are all Transposes.
  bool matches(const Model& model, const Node& t) const override {
    const Graph& g = model.graph;
    if (!t.domain.empty() || !t.has_input(0) || t.outputs.size() != 1 || is_graph_output(g, t.outputs[0]) ||
        read_by_subgraph(g, t.outputs[0]) || use_count(g, t.outputs[0]) != 1)
      return false;
    const Node* u = single_reader(g, t.outputs[0]);
    if (!u || !u->domain.empty() || !unary_elementwise().count(u->op_type) || u->outputs.size() != 1 ||
        u->inputs.empty() || u->inputs[0] != t.outputs[0] || is_graph_output(g, u->outputs[0]) ||
        read_by_subgraph(g, u->outputs[0]))
      return false;
    for (size_t k = 1; k < u->inputs.size(); ++k)
      if (!scalar_or_absent(g, *u, k) || u->inputs[k] == t.outputs[0]) return false;
    const auto& readers = g.index().consumers;
    auto r = readers.find(u->outputs[0]);
    if (r == readers.end() || r->second.empty()) return false;
    for (int k : r->second) {
      const Node& next = g.nodes[static_cast<size_t>(k)];
      if (next.op_type != "Transpose" || !next.domain.empty() || next.inputs[0] != u->outputs[0]) return false;
    }
    return g.type_of(t.inputs[0]) != nullptr;
  }

  Expected<bool> apply(Model& model, size_t i) override {
    Graph& g = model.graph;
    const Node* u_ptr = single_reader(g, g.nodes[i].outputs[0]);
    size_t j = static_cast<size_t>(u_ptr - g.nodes.data());
    Node t = g.nodes[i], u = g.nodes[j];
    const std::string x = t.inputs[0], old_t = t.outputs[0], out = u.outputs[0];
    const std::string moved = unique_value_name(g, out + "_pre_transpose");
    // U now reads x and writes `moved` (x's shape, U's element type); T transposes `moved` into U's old output.
    ValueType vt = *g.type_of(x);
    if (const ValueType* ut = g.type_of(out)) vt.dtype = ut->dtype;
    g.value_info[moved] = vt;
    g.value_info.erase(old_t);
    u.inputs[0] = x;
    u.outputs[0] = moved;
    t.inputs[0] = moved;
    t.outputs[0] = out;
    // T's slot (before U) gets U: everything U reads is available there; U's slot gets T.
    g.nodes[i] = std::move(u);
    g.nodes[j] = std::move(t);
    return true;
  }

 private:
  static const Node* single_reader(const Graph& g, const std::string& value) {
    const auto& readers = g.index().consumers;
    auto r = readers.find(value);
    if (r == readers.end() || r->second.size() != 1) return nullptr;
    return &g.nodes[static_cast<size_t>(r->second[0])];
  }
};

}  // namespace

std::unique_ptr<Pass> make_transpose_sink() { return std::make_unique<RulePass>(std::make_unique<TransposeSink>()); }

}  // namespace ferry
