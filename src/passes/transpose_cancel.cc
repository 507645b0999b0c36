// transpose_cancel.cc — collapses chains of layout ops: Transpose(Transpose(x, p1), p2) becomes one Transpose
// with perm p[i] = p1[p2[i]], or disappears when p is the identity; Reshape(Reshape(x, s1), s2) becomes
// Reshape(x, s2) when s2 is a constant without 0 entries (a 0 would copy a dim of the intermediate, not of x).
// The first node stays for its other readers; eliminate_dead_code drops it when it has none.
#include <memory>

#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace ferry {

namespace {

// perm of a Transpose (explicit, or the reversal implied by a known rank); empty when unknown.
std::vector<int64_t> perm_of(const Graph& g, const Node& t) {
  if (t.attr("perm")) return t.attr_ints("perm");
  const ValueType* x = t.has_input(0) ? g.type_of(t.inputs[0]) : nullptr;
  if (!x || !x->shape.rank_known) return {};
  std::vector<int64_t> p;
  for (int k = x->shape.rank() - 1; k >= 0; --k) p.push_back(k);
  return p;
}

bool valid_perm(const std::vector<int64_t>& p) {
  std::vector<bool> seen(p.size(), false);
  for (int64_t v : p) {
    if (v < 0 || v >= static_cast<int64_t>(p.size()) || seen[static_cast<size_t>(v)]) return false;
    seen[static_cast<size_t>(v)] = true;
  }
  return !p.empty();
}

// The producer of n's data input when it is the same op in the default domain, else -1.
int same_op_producer(const Graph& g, const Node& n) {
  if (!n.domain.empty() || !n.has_input(0) || read_by_subgraph(g, n.inputs[0])) return -1;
  const auto& producers = g.index().producer;
  auto p = producers.find(n.inputs[0]);
  if (p == producers.end()) return -1;
  const Node& prev = g.nodes[static_cast<size_t>(p->second)];
  return prev.op_type == n.op_type && prev.domain.empty() && prev.has_input(0) ? p->second : -1;
}

class TransposeCancel : public RewriteRule {
 public:
  std::string name() const override { return "transpose_cancel"; }
  std::vector<std::string> op_types() const override { return {"Transpose", "Reshape"}; }

  bool matches(const Model& model, const Node& n) const override {
    const Graph& g = model.graph;
    int p = same_op_producer(g, n);
    if (p < 0) return false;
    const Node& prev = g.nodes[static_cast<size_t>(p)];
    if (n.op_type == "Transpose") {
      auto p1 = perm_of(g, prev), p2 = perm_of(g, n);
      return valid_perm(p1) && p1.size() == p2.size() && valid_perm(p2);
    }
    if (n.inputs.size() < 2) return false;
    auto s2 = constant_ints(g, n.inputs[1]);
    if (!s2) return false;
    for (int64_t d : *s2)
      if (d == 0) return false;
    return true;
  }

  Expected<bool> apply(Model& model, size_t i) override {
    Graph& g = model.graph;
    size_t p = static_cast<size_t>(same_op_producer(g, g.nodes[i]));
    std::string x = g.nodes[p].inputs[0];
    if (g.nodes[i].op_type == "Reshape") {
      g.nodes[i].inputs[0] = x;
      return true;
    }
    auto p1 = perm_of(g, g.nodes[p]), p2 = perm_of(g, g.nodes[i]);
    std::vector<int64_t> perm;
    bool identity = true;
    for (size_t k = 0; k < p2.size(); ++k) {
      perm.push_back(p1[static_cast<size_t>(p2[k])]);
      identity &= perm.back() == static_cast<int64_t>(k);
    }
    if (identity && bypass_node(g, i, x, g.nodes[i].outputs[0])) return true;
    Attr a;
    a.kind = Attr::Kind::kInts;
    a.ints = perm;
    g.nodes[i].attrs["perm"] = a;
    g.nodes[i].inputs[0] = x;
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> make_transpose_cancel() {
  return std::make_unique<RulePass>(std::make_unique<TransposeCancel>());
}

}  // namespace ferry
