// fuse_conv_act_add.cc — a residual Add after an activated conv folds into the conv:
//   Add(FusedConv(x, W, B; activation=a), z) -> FusedConv(x, W, B, z; activation=a, z_after_activation=1)
// i.e. Y = act(conv + B) + Z, the bottleneck ending of YOLO/CSP blocks (Conv -> SiLU -> Add). The kernel adds Z
// in the same pass that applies the activation (oneDNN post-ops [eltwise, sum], or conv_act.h for SiLU), so the
// separate Add's full read-read-write pass over the tensor disappears.
// Runs after fuse_conv_activation (which makes the activated FusedConv) and before conv_channels_last.
// Conditions: the FusedConv has an activation, no Z yet, channels_last 0; its output feeds only the Add and is not
// a graph output; both Add inputs are float32 with the same static shape (no broadcasting; value_info proves it).
#include <memory>

#include "passes/conv_fusions.h"
#include "passes/fusion_util.h"
#include "passes/graph_edit.h"

namespace ferry {

namespace {

bool accepts_post_sum(const Node& n) {
  if (n.op_type != "FusedConv" || n.domain != "ferry") return false;
  return n.attr_string("activation", "none") != "none" && !n.has_input(3) && n.attr_int("channels_last", 0) == 0 &&
         n.attr_int("z_after_activation", 0) == 0 && n.has_input(0);
}

bool same_static_dims(const SymShape& a, const SymShape& b) {
  if (!a.rank_known || !b.rank_known || a.rank() != b.rank()) return false;
  for (int i = 0; i < a.rank(); ++i) {
    const Dim& x = a.dims[static_cast<size_t>(i)];
    const Dim& y = b.dims[static_cast<size_t>(i)];
    if (x.known() != y.known() || (x.known() ? x.value != y.value : (x.symbol.empty() || x.symbol != y.symbol)))
      return false;
  }
  return true;
}

// Index of the conv to fuse into and which Add input it produces; {-1, -1} when none.
std::pair<int, int> match(const Graph& g, const Node& add) {
  if (!add.domain.empty() || add.inputs.size() != 2 || !add.has_output(0) || add.inputs[0] == add.inputs[1])
    return {-1, -1};
  const ValueType* a = g.type_of(add.inputs[0]);
  const ValueType* b = g.type_of(add.inputs[1]);
  if (!a || !b || a->dtype != DType::kFloat || b->dtype != DType::kFloat) return {-1, -1};
  if (!same_static_dims(a->shape, b->shape)) return {-1, -1};
  FusionView v(g);
  for (int k = 1; k >= 0; --k) {  // prefer the later operand: usually the block's main branch
    const std::string& in = add.inputs[static_cast<size_t>(k)];
    if (!v.single_use(in) || is_graph_output(g, in)) continue;
    const Node* c = v.producer(in, "FusedConv", "ferry");
    if (c && accepts_post_sum(*c)) return {static_cast<int>(c - g.nodes.data()), k};
  }
  return {-1, -1};
}

class FuseConvActAdd : public RewriteRule {
 public:
  std::string name() const override { return "fuse_conv_act_add"; }
  std::vector<std::string> op_types() const override { return {"Add"}; }
  bool matches(const Model& model, const Node& node) const override { return match(model.graph, node).first >= 0; }

  Expected<bool> apply(Model& model, size_t i) override {
    Graph& g = model.graph;
    auto [p, k] = match(g, g.nodes[i]);
    if (p < 0) return false;
    const std::string z = g.nodes[i].inputs[static_cast<size_t>(1 - k)];
    Node& conv = g.nodes[static_cast<size_t>(p)];
    conv.inputs.resize(4);
    conv.inputs[3] = z;
    Attr after;
    after.kind = Attr::Kind::kInt;
    after.i = 1;
    conv.attrs["z_after_activation"] = after;
    conv.outputs[0] = g.nodes[i].outputs[0];
    std::vector<bool> dead(g.nodes.size(), false);
    dead[i] = true;
    erase_nodes(g, dead);
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fuse_conv_act_add() {
  return std::make_unique<RulePass>(std::make_unique<FuseConvActAdd>());
}

}  // namespace ferry
