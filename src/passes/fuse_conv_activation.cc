// fuse_conv_activation.cc — Conv (or ferry.FusedConv without activation) followed by an elementwise activation
// becomes one ferry.FusedConv whose oneDNN primitive applies the activation as a post-op:
//   Relu, LeakyRelu(alpha), Clip(constant min/max; ReLU6), Sigmoid, HardSwish, Tanh, and SiLU written as
//   Mul(x, Sigmoid(x)) (torch's export of nn.SiLU). The conv output must feed only the activation (SiLU: only
//   the Sigmoid and the Mul) and not be a graph output. float32 only (ferry.FusedConv is float32).
#include <cfloat>
#include <memory>

#include "passes/fusion_util.h"
#include "passes/graph_edit.h"
#include "passes/attr_util.h"
#include "passes/conv_fusions.h"

namespace ferry {

namespace {

// True for a float32 Conv / FusedConv that an activation may be appended to.
bool conv_accepts_activation(const Graph& g, const Node& n) {
  if (n.op_type == "FusedConv" && n.domain == "ferry") return n.attr_string("activation", "none") == "none";
  if (n.op_type != "Conv" || !n.domain.empty() || n.inputs.size() < 2) return false;
  const ValueType* w = g.type_of(n.inputs[1]);
  const Tensor* wt = initializer_of(g, n.inputs[1]);
  const DType t = wt ? wt->dtype() : (w ? w->dtype : DType::kUndefined);
  const int rank = wt ? wt->rank() : (w && w->shape.rank_known ? w->shape.rank() : -1);
  return t == DType::kFloat && rank >= 3 && rank <= 5 && (!w || w->shape.is_concrete() || wt);
}

struct Match {
  int conv = -1;
  std::vector<const Node*> remove;  // activation nodes folded into the conv
  std::string activation;
  std::vector<float> params;
};

std::optional<Match> match(const Graph& g, const Node& act) {
  if (!act.domain.empty() || !act.has_input(0) || !act.has_output(0)) return std::nullopt;
  FusionView v(g);
  Match m;
  m.remove.push_back(&act);
  std::string x = act.inputs[0];
  if (act.op_type == "Relu") {
    m.activation = "relu";
  } else if (act.op_type == "LeakyRelu") {
    m.activation = "leaky_relu";
    m.params = {act.attr_float("alpha", 0.01f)};
  } else if (act.op_type == "Sigmoid") {
    m.activation = "sigmoid";
  } else if (act.op_type == "HardSwish") {
    m.activation = "hardswish";
  } else if (act.op_type == "Tanh") {
    m.activation = "tanh";
  } else if (act.op_type == "Clip") {
    float lo = -FLT_MAX, hi = FLT_MAX;
    if (act.opset < 11) {
      lo = act.attr_float("min", lo);
      hi = act.attr_float("max", hi);
    } else {
      for (size_t i = 1; i < 3; ++i) {
        if (!act.has_input(i)) continue;
        auto s = v.scalar(act.inputs[i]);
        if (!s) return std::nullopt;
        (i == 1 ? lo : hi) = *s;
      }
    }
    if (!(lo <= hi)) return std::nullopt;
    m.activation = "clip";
    m.params = {lo, hi};
  } else if (act.op_type == "Mul" && act.inputs.size() == 2) {  // SiLU: Mul(x, Sigmoid(x))
    for (int k = 0; k < 2 && m.activation.empty(); ++k) {
      const Node* sig = v.producer(act.inputs[static_cast<size_t>(k)], "Sigmoid");
      const std::string& other = act.inputs[static_cast<size_t>(1 - k)];
      if (!sig || sig->inputs.empty() || sig->inputs[0] != other || !v.single_use(sig->outputs[0])) continue;
      if (v.consumers(other).size() != 2 || is_graph_output(g, other)) continue;
      x = other;
      m.activation = "silu";
      m.remove.push_back(sig);
    }
    if (m.activation.empty()) return std::nullopt;
  } else {
    return std::nullopt;
  }
  if (m.activation != "silu" && !v.single_use(x)) return std::nullopt;
  const Node* conv = v.producer(x, "Conv");
  if (!conv) conv = v.producer(x, "FusedConv", "ferry");
  if (!conv || !conv_accepts_activation(g, *conv)) return std::nullopt;
  m.conv = static_cast<int>(conv - g.nodes.data());
  return m;
}

class FuseConvActivation : public RewriteRule {
 public:
  std::string name() const override { return "fuse_conv_activation"; }
  std::vector<std::string> op_types() const override {
    return {"Relu", "LeakyRelu", "Clip", "Sigmoid", "HardSwish", "Tanh", "Mul"};
  }
  bool matches(const Model& model, const Node& node) const override { return match(model.graph, node).has_value(); }

  Expected<bool> apply(Model& model, size_t i) override {
    Graph& g = model.graph;
    auto m = match(g, g.nodes[i]);
    if (!m) return false;
    Node& conv = g.nodes[static_cast<size_t>(m->conv)];
    conv.op_type = "FusedConv";
    conv.domain = "ferry";
    conv.opset = 1;
    conv.attrs["activation"] = string_attr(m->activation);
    conv.attrs["activation_params"] = floats_attr(m->params);
    conv.outputs[0] = g.nodes[i].outputs[0];
    std::vector<bool> dead(g.nodes.size(), false);
    for (const Node* r : m->remove) dead[static_cast<size_t>(r - g.nodes.data())] = true;
    erase_nodes(g, dead);
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fuse_conv_activation() {
  return std::make_unique<RulePass>(std::make_unique<FuseConvActivation>());
}

}  // namespace ferry
