// fuse_gelu.cc — x * 0.5 * (1 + erf(x / sqrt(2))) -> ferry.Gelu(x).
//
// Pattern (torch 1.13, opset 13), anchored at the last Mul:
//   d = Div(x, 1.41421) | Mul(x, 0.70711);  e = Erf(d);  a = Add(e, 1);  m = Mul(x, a);  y = Mul(m, 0.5)
// The variant y = Mul(Mul(x, 0.5), a) is matched too. Intermediates must have one reader each.
#include "passes/fuse_transformer.h"
#include "passes/fusion_util.h"

namespace ferry {

namespace {

// Given a = Add(Erf(x / sqrt2), 1), returns x (or "" when `a` is not that).
std::string erf_term_input(const FusionView& v, const std::string& a, std::vector<const Node*>* nodes) {
  const Node* add = v.producer(a, "Add");
  if (!add || !v.single_use(a)) return "";
  for (int side = 0; side < 2; ++side) {
    const Node* erf = v.producer(add->inputs[side], "Erf");
    if (!erf || !is_constant_value(v, add->inputs[1 - side], 1.f) || !v.single_use(erf->outputs[0])) continue;
    const std::string& d = erf->inputs[0];
    if (!v.single_use(d)) continue;
    if (const Node* div = v.producer(d, "Div"); div && is_constant_value(v, div->inputs[1], 1.41421356f)) {
      nodes->insert(nodes->end(), {add, erf, div});
      return div->inputs[0];
    }
    if (const Node* mul = v.producer(d, "Mul")) {
      for (int s = 0; s < 2; ++s)
        if (is_constant_value(v, mul->inputs[1 - s], 0.70710678f)) {
          nodes->insert(nodes->end(), {add, erf, mul});
          return mul->inputs[s];
        }
    }
  }
  return "";
}

class FuseGelu : public RewriteRule {
 public:
  std::string name() const override { return "fuse_gelu"; }
  std::vector<std::string> op_types() const override { return {"Mul"}; }
  bool matches(const Model&, const Node& n) const override { return n.domain.empty() && n.inputs.size() == 2; }

  Expected<bool> apply(Model& model, size_t index) override {
    Graph& g = model.graph;
    FusionView v(g);
    const Node& last = g.nodes[index];
    for (int side = 0; side < 2; ++side) {
      const std::string& inner = last.inputs[side];
      const std::string& other = last.inputs[1 - side];
      const Node* mul = v.producer(inner, "Mul");
      if (!mul || !v.single_use(inner)) continue;
      std::vector<const Node*> nodes = {&last, mul};
      std::string x;
      if (is_constant_value(v, other, 0.5f)) {
        // y = Mul(Mul(x, a), 0.5)
        for (int s = 0; s < 2 && x.empty(); ++s) {
          std::vector<const Node*> more;
          std::string xi = erf_term_input(v, mul->inputs[1 - s], &more);
          if (!xi.empty() && xi == mul->inputs[s]) {
            x = xi;
            nodes.insert(nodes.end(), more.begin(), more.end());
          }
        }
      } else {
        // y = Mul(Mul(x, 0.5), a)
        for (int s = 0; s < 2 && x.empty(); ++s) {
          if (!is_constant_value(v, mul->inputs[1 - s], 0.5f)) continue;
          std::vector<const Node*> more;
          std::string xi = erf_term_input(v, other, &more);
          if (!xi.empty() && xi == mul->inputs[s]) {
            x = xi;
            nodes.insert(nodes.end(), more.begin(), more.end());
          }
        }
      }
      if (x.empty()) continue;
      const ValueType* vt = g.type_of(x);
      if (vt && vt->dtype != DType::kFloat) continue;
      Node fused = Node::make("Gelu", {x}, {last.outputs[0]});
      fused.domain = "ferry";
      fused.opset = 1;
      fused.name = last.name.empty() ? "" : last.name + "_gelu";
      replace_pattern(g, nodes, &last, std::move(fused));
      return true;
    }
    return false;
  }
};

}  // namespace

std::unique_ptr<RewriteRule> make_fuse_gelu_rule() { return std::make_unique<FuseGelu>(); }

void add_transformer_fusions(PassManager& pm) {
  pm.add_rule(make_fuse_gelu_rule());
  pm.add_rule(make_fuse_layernorm_rule());
  pm.add_rule(make_fuse_matmul_bias_rule());
  pm.add_rule(make_unpack_qkv_gather_rule());
  pm.add_rule(make_fuse_attention_rule());
  pm.add_rule(make_attention_batch_major_rule());
}

}  // namespace ferry
