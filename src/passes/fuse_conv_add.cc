// fuse_conv_add.cc — the residual Add of ResNet-style blocks folds into the conv that produces one of its
// inputs: Add(Conv(x, W, B), z) -> ferry.FusedConv(x, W, B, z) (oneDNN sum post-op, Y = conv + z). A later
// Relu then folds in too (fuse_conv_activation.cc), giving act(conv + z) in one primitive.
// Conditions: the conv is a float32 Conv or a FusedConv with no activation and no Z yet; its output feeds only
// the Add and is not a graph output; both Add inputs have the same static shape (no broadcasting), which the
// inferred types in value_info prove (fold_shapes runs whole-graph inference before this pass).
#include <memory>

#include "passes/graph_edit.h"
#include "passes/conv_fusions.h"
#include "passes/fusion_util.h"

namespace ferry {

namespace {

bool conv_accepts_sum(const Graph& g, const Node& n) {
  if (n.op_type == "FusedConv" && n.domain == "ferry")
    return n.attr_string("activation", "none") == "none" && !n.has_input(3);
  if (n.op_type != "Conv" || !n.domain.empty() || n.inputs.size() < 2) return false;
  const Tensor* w = initializer_of(g, n.inputs[1]);
  const ValueType* wt = g.type_of(n.inputs[1]);
  if (w) return w->dtype() == DType::kFloat && w->rank() >= 3 && w->rank() <= 5;
  return wt && wt->dtype == DType::kFloat && wt->shape.is_concrete() && wt->shape.rank() >= 3;
}

bool same_dims(const SymShape& a, const SymShape& b) {
  if (!a.rank_known || !b.rank_known || a.rank() != b.rank()) return false;
  for (int i = 0; i < a.rank(); ++i) {
    const Dim& x = a.dims[static_cast<size_t>(i)];
    const Dim& y = b.dims[static_cast<size_t>(i)];
    if (x.known() != y.known() || (x.known() ? x.value != y.value : (x.symbol.empty() || x.symbol != y.symbol)))
      return false;
  }
  return true;
}

// Index of the conv to fuse into and which Add input it produces; -1 when none.
std::pair<int, int> match(const Graph& g, const Node& add) {
  if (!add.domain.empty() || add.inputs.size() != 2 || !add.has_output(0)) return {-1, -1};
  if (add.inputs[0] == add.inputs[1]) return {-1, -1};
  const ValueType* a = g.type_of(add.inputs[0]);
  const ValueType* b = g.type_of(add.inputs[1]);
  if (!a || !b || a->dtype != DType::kFloat || b->dtype != DType::kFloat) return {-1, -1};
  if (!a->shape.rank_known || !same_dims(a->shape, b->shape)) return {-1, -1};
  FusionView v(g);
  for (int k = 1; k >= 0; --k) {  // prefer the later operand: usually the block's main branch
    const std::string& in = add.inputs[static_cast<size_t>(k)];
    if (!v.single_use(in)) continue;
    const Node* c = v.producer(in, "Conv");
    if (!c) c = v.producer(in, "FusedConv", "ferry");
    if (c && conv_accepts_sum(g, *c)) return {static_cast<int>(c - g.nodes.data()), k};
  }
  return {-1, -1};
}

class FuseConvAdd : public RewriteRule {
 public:
  std::string name() const override { return "fuse_conv_add"; }
  std::vector<std::string> op_types() const override { return {"Add"}; }
  bool matches(const Model& model, const Node& node) const override { return match(model.graph, node).first >= 0; }

  Expected<bool> apply(Model& model, size_t i) override {
    Graph& g = model.graph;
    auto [p, k] = match(g, g.nodes[i]);
    if (p < 0) return false;
    const std::string z = g.nodes[i].inputs[static_cast<size_t>(1 - k)];
    Node& conv = g.nodes[static_cast<size_t>(p)];
    if (conv.op_type == "Conv") {
      conv.op_type = "FusedConv";
      conv.domain = "ferry";
      conv.opset = 1;
    }
    conv.inputs.resize(4);
    conv.inputs[3] = z;
    conv.outputs[0] = g.nodes[i].outputs[0];
    std::vector<bool> dead(g.nodes.size(), false);
    dead[i] = true;
    erase_nodes(g, dead);
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fuse_conv_add() { return std::make_unique<RulePass>(std::make_unique<FuseConvAdd>()); }

}  // namespace ferry
