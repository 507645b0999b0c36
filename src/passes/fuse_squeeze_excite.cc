// fuse_squeeze_excite.cc — an NHWC squeeze-and-excitation block becomes one ferry.SqueezeExcite:
//
//   p = ReduceMean(X, axes [1, 2], keepdims 1)                  (GlobalAveragePool after conv_channels_last)
//   h = FusedConv(p, W1, B1; channels_last 1, 1x1, activation none | relu | silu)
//   s = FusedConv(h, W2, B2; channels_last 1, 1x1, activation sigmoid)
//   Y = Mul(X, s)  (either operand order)
//   ->  Y = ferry.SqueezeExcite(X, W1, B1, W2, B2; activation)
//
// Runs after conv_channels_last (the convs must already be NHWC FusedConvs with constant weights and biases,
// group 1, no padding and no residual Z). p, h and s must each have one reader and not be graph outputs.
// EfficientNet-B0 has 16 such blocks; each was two tiny oneDNN calls plus a reduce and a broadcast Mul.
#include <memory>

#include "passes/conv_fusions.h"
#include "passes/fusion_util.h"
#include "passes/graph_edit.h"

namespace ferry {

namespace {

// A channels-last 1x1 FusedConv without padding, Z or groups, with constant [M, K, 1, 1] weights and [M] bias.
bool pointwise_conv(const FusionView& v, const Node& n) {
  if (n.attr_int("channels_last", 0) != 1 || n.attr_int("group", 1) != 1) return false;
  if (n.inputs.size() != 3 || !n.has_input(0) || !n.has_input(1) || !n.has_input(2)) return false;
  if (!n.attr_floats("activation_params").empty() || n.attr_int("z_after_activation", 0) != 0) return false;
  const std::string ap = n.attr_string("auto_pad", "NOTSET");
  if (ap != "NOTSET" && ap != "VALID") return false;
  for (int64_t p : n.attr_ints("pads"))
    if (p != 0) return false;
  const Tensor* w = v.constant(n.inputs[1]);
  const Tensor* b = v.constant(n.inputs[2]);
  return w && b && w->dtype() == DType::kFloat && b->dtype() == DType::kFloat && w->rank() == 4 &&
         w->dim(2) == 1 && w->dim(3) == 1 && b->numel() == w->dim(0);
}

bool reduces_hw(const FusionView& v, const Node& n) {
  if (n.attr_int("keepdims", 1) != 1) return false;
  std::vector<int64_t> axes = n.attr_ints("axes");
  if (n.has_input(1)) {  // opset 18: axes as an input
    const Tensor* a = v.constant(n.inputs[1]);
    if (!a || a->dtype() != DType::kInt64) return false;
    axes.assign(a->data<int64_t>(), a->data<int64_t>() + a->numel());
  }
  if (axes.size() != 2) return false;
  for (auto& a : axes)
    if (a < 0) a += 4;
  return (axes[0] == 1 && axes[1] == 2) || (axes[0] == 2 && axes[1] == 1);
}

struct Match {
  std::vector<const Node*> remove;
  std::string x, activation;
  const Node* reduce_conv = nullptr;
  const Node* expand_conv = nullptr;
};

std::optional<Match> match(const Graph& g, const Node& mul) {
  if (!mul.domain.empty() || mul.inputs.size() != 2 || !mul.has_output(0)) return std::nullopt;
  FusionView v(g);
  for (int k = 0; k < 2; ++k) {
    const std::string& s = mul.inputs[static_cast<size_t>(k)];
    const std::string& x = mul.inputs[static_cast<size_t>(1 - k)];
    const Node* expand = v.producer(s, "FusedConv", "ferry");
    if (!expand || !v.single_use(s) || !pointwise_conv(v, *expand)) continue;
    if (expand->attr_string("activation", "none") != "sigmoid") continue;
    const Node* reduce = v.producer(expand->inputs[0], "FusedConv", "ferry");
    if (!reduce || !v.single_use(expand->inputs[0]) || !pointwise_conv(v, *reduce)) continue;
    const std::string act = reduce->attr_string("activation", "none");
    if (act != "none" && act != "relu" && act != "silu") continue;
    const Node* mean = v.producer(reduce->inputs[0], "ReduceMean");
    if (!mean || !v.single_use(reduce->inputs[0]) || mean->inputs.empty() || mean->inputs[0] != x) continue;
    // X is float and rank 4 even when its type is not recorded (conv_channels_last leaves the new NHWC values
    // untyped until inference runs again): the reducing FusedConv reads the rank-preserving mean of X.
    if (!reduces_hw(v, *mean) || (v.rank(x) != -1 && v.rank(x) != 4)) continue;
    const Tensor* w1 = v.constant(reduce->inputs[1]);
    const Tensor* w2 = v.constant(expand->inputs[1]);
    if (w2->dim(0) != w1->dim(1) || w2->dim(1) != w1->dim(0)) continue;
    const ValueType* xt = g.type_of(x);
    if (xt && xt->dtype != DType::kFloat && xt->dtype != DType::kUndefined) continue;
    if (xt && xt->shape.rank_known && xt->shape.dims[3].known() && xt->shape.dims[3].value != w1->dim(1)) continue;
    return Match{{mean, reduce, expand, &mul}, x, act, reduce, expand};
  }
  return std::nullopt;
}

class FuseSqueezeExcite : public RewriteRule {
 public:
  std::string name() const override { return "fuse_squeeze_excite"; }
  std::vector<std::string> op_types() const override { return {"Mul"}; }
  bool matches(const Model& model, const Node& node) const override { return match(model.graph, node).has_value(); }

  Expected<bool> apply(Model& model, size_t i) override {
    Graph& g = model.graph;
    auto m = match(g, g.nodes[i]);
    if (!m) return false;
    Node se = Node::make("SqueezeExcite", {m->x, m->reduce_conv->inputs[1], m->reduce_conv->inputs[2],
                                          m->expand_conv->inputs[1], m->expand_conv->inputs[2]},
                         {g.nodes[i].outputs[0]});
    se.domain = "ferry";
    se.opset = 1;
    se.name = g.nodes[i].name.empty() ? m->expand_conv->name : g.nodes[i].name;
    Attr a;
    a.kind = Attr::Kind::kString;
    a.s = m->activation;
    se.attrs["activation"] = a;
    replace_pattern(g, m->remove, &g.nodes[i], std::move(se));
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fuse_squeeze_excite() {
  return std::make_unique<RulePass>(std::make_unique<FuseSqueezeExcite>());
}

}  // namespace ferry
