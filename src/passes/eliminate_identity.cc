// eliminate_identity.cc — removes nodes whose output equals their input: Identity, Dropout in inference,
// Cast to the same type, Reshape/Flatten/Squeeze/Unsqueeze/Expand whose output shape equals the input shape,
// Transpose with the identity permutation, and Squeeze(Unsqueeze(x, a), a) / Unsqueeze(Squeeze(x, a), a) pairs.
//
// Shape-based matches need static types: fold_shapes (which runs inference) comes first in every level.
#include <algorithm>
#include <memory>

#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace ferry {

namespace {

bool same_type(const Graph& g, const std::string& a, const std::string& b) {
  const ValueType* x = g.type_of(a);
  const ValueType* y = g.type_of(b);
  return x && y && x->dtype != DType::kUndefined && x->dtype == y->dtype && same_static_shape(x->shape, y->shape);
}

// Axes of Squeeze/Unsqueeze (attribute before opset 13, input after), sorted; nullopt if unknown or negative.
std::optional<std::vector<int64_t>> axes_of(const Graph& g, const Node& n) {
  std::optional<std::vector<int64_t>> axes;
  if (n.has_input(1)) axes = constant_ints(g, n.inputs[1]);
  else if (n.attr("axes")) axes = n.attr_ints("axes");
  if (!axes || axes->empty()) return std::nullopt;
  for (int64_t a : *axes)
    if (a < 0) return std::nullopt;
  std::sort(axes->begin(), axes->end());
  return axes;
}

class EliminateIdentity : public RewriteRule {
 public:
  std::string name() const override { return "eliminate_identity"; }
  std::vector<std::string> op_types() const override {
    return {"Identity", "Dropout", "Cast", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Expand", "Transpose"};
  }

  bool matches(const Model& model, const Node& n) const override { return !source(model.graph, n).empty(); }

  Expected<bool> apply(Model& model, size_t i) override {
    Graph& g = model.graph;
    std::string src = source(g, g.nodes[i]);
    if (src.empty()) return false;
    return bypass_node(g, i, src, g.nodes[i].outputs[0]);
  }

 private:
  // The value this node's output 0 equals, or "" when it is not a no-op.
  static std::string source(const Graph& g, const Node& n) {
    if (!n.domain.empty() || !n.has_input(0) || !n.has_output(0)) return "";
    for (size_t k = 1; k < n.outputs.size(); ++k)
      if (!n.outputs[k].empty() && use_count(g, n.outputs[k]) > 0) return "";  // e.g. a used Dropout mask
    const std::string& x = n.inputs[0];
    const std::string& y = n.outputs[0];
    const std::string& op = n.op_type;
    if (op == "Identity") return x;
    if (op == "Dropout") {
      if (n.attr_int("is_test", 1) == 0) return "";  // opset <= 6 training mode
      if (n.has_input(2)) {
        const Tensor* training = initializer_of(g, n.inputs[2]);
        if (!training || training->dtype() != DType::kBool || training->numel() != 1 ||
            training->data<bool>()[0])
          return "";
      }
      return x;
    }
    if (op == "Cast") {
      const ValueType* t = g.type_of(x);
      return t && static_cast<int64_t>(t->dtype) == n.attr_int("to", -1) ? x : "";
    }
    if (op == "Transpose") {
      std::vector<int64_t> perm = n.attr_ints("perm");
      const ValueType* t = g.type_of(x);
      if (!n.attr("perm")) return t && t->shape.rank_known && t->shape.rank() <= 1 ? x : "";
      for (size_t k = 0; k < perm.size(); ++k)
        if (perm[k] != static_cast<int64_t>(k)) return "";
      return x;
    }
    if (same_type(g, x, y)) return x;  // Reshape/Flatten/Squeeze/Unsqueeze/Expand to the same shape
    if (op == "Squeeze" || op == "Unsqueeze") {
      const auto& producers = g.index().producer;
      auto p = producers.find(x);
      if (p == producers.end()) return "";
      const Node& prev = g.nodes[static_cast<size_t>(p->second)];
      const char* inverse = op == "Squeeze" ? "Unsqueeze" : "Squeeze";
      if (prev.op_type != inverse || !prev.domain.empty() || !prev.has_input(0)) return "";
      auto a = axes_of(g, n), b = axes_of(g, prev);
      if (a && b && *a == *b) return prev.inputs[0];
    }
    return "";
  }
};

}  // namespace

std::unique_ptr<Pass> make_eliminate_identity() {
  return std::make_unique<RulePass>(std::make_unique<EliminateIdentity>());
}

}  // namespace ferry
