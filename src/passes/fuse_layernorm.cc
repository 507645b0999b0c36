// fuse_layernorm.cc — LayerNorm over the last axis, as torch 1.13 exports it at opset 13, -> ferry.LayerNorm.
//
// Pattern, anchored at the final Add (Mul/Add operands in either order):
//   mean = ReduceMean(X, axes=[-1]);  d = Sub(X, mean);  p = Pow(d, 2);  var = ReduceMean(p, axes=[-1])
//   s = Sqrt(Add(var, eps));  n = Div(d, s);  Y = Add(Mul(n, gamma), beta)
// gamma and beta are constant 1-D [C]; ReduceMean keeps dims; every intermediate has one reader except d (two).
#include "passes/fuse_transformer.h"
#include "passes/fusion_util.h"
#include "passes/graph_edit.h"

namespace ferry {

namespace {

// True when `n` is ReduceMean(keepdims=1) over exactly the last axis of its input.
bool reduces_last_axis(const FusionView& v, const Node& n) {
  if (n.attr_int("keepdims", 1) != 1) return false;
  std::vector<int64_t> axes = n.attr_ints("axes");
  if (n.inputs.size() >= 2 && !n.inputs[1].empty()) {
    const Tensor* t = v.constant(n.inputs[1]);
    if (!t || t->numel() != 1) return false;
    if (t->dtype() == DType::kInt64) axes = {t->data<int64_t>()[0]};
    else if (t->dtype() == DType::kInt32) axes = {t->data<int32_t>()[0]};
    else return false;
  }
  if (axes.size() != 1) return false;
  if (axes[0] == -1) return true;
  int r = v.rank(n.inputs[0]);
  return r > 0 && axes[0] == r - 1;
}

// A constant 1-D float tensor of `c` elements (c < 0: any length); returns its initializer name or the value name.
bool vector_constant(const FusionView& v, const std::string& value, int64_t c) {
  const Tensor* t = v.constant(value);
  return t && t->dtype() == DType::kFloat && t->rank() == 1 && (c < 0 || t->dim(0) == c);
}

class FuseLayerNorm : public RewriteRule {
 public:
  std::string name() const override { return "fuse_layernorm"; }
  std::vector<std::string> op_types() const override { return {"Add"}; }
  bool matches(const Model&, const Node& n) const override { return n.domain.empty() && n.inputs.size() == 2; }

  Expected<bool> apply(Model& model, size_t index) override {
    Graph& g = model.graph;
    FusionView v(g);
    const Node& add = g.nodes[index];
    for (int side = 0; side < 2; ++side) {
      const Node* mul = v.producer(add.inputs[side], "Mul");
      const std::string& beta = add.inputs[1 - side];
      if (!mul || !v.single_use(add.inputs[side]) || !vector_constant(v, beta, -1)) continue;
      for (int ms = 0; ms < 2; ++ms) {
        const Node* div = v.producer(mul->inputs[ms], "Div");
        const std::string& gamma = mul->inputs[1 - ms];
        if (!div || !v.single_use(mul->inputs[ms]) || !vector_constant(v, gamma, v.constant(beta)->dim(0))) continue;
        std::vector<const Node*> nodes = {&add, mul, div};
        std::string x;
        float eps = 0;
        if (!match_core(v, *div, &nodes, &x, &eps)) continue;
        const ValueType* vt = g.type_of(x);
        if (vt && vt->dtype != DType::kFloat) continue;
        if (vt && vt->shape.rank_known && vt->shape.rank() >= 1) {
          const Dim& c = vt->shape.dims.back();
          if (c.known() && c.value != v.constant(gamma)->dim(0)) continue;
        }
        Node fused = Node::make("LayerNorm", {x, gamma, beta}, {add.outputs[0]});
        fused.domain = "ferry";
        fused.opset = 1;
        fused.name = add.name.empty() ? "" : add.name + "_layernorm";
        Attr a;
        a.kind = Attr::Kind::kFloat;
        a.f = eps;
        fused.attrs["epsilon"] = a;
        replace_pattern(g, nodes, &add, std::move(fused));
        return true;
      }
    }
    return false;
  }

 private:
  // div = Div(d, Sqrt(Add(ReduceMean(Pow(d, 2)), eps))) with d = Sub(X, ReduceMean(X)).
  static bool match_core(const FusionView& v, const Node& div, std::vector<const Node*>* nodes, std::string* x,
                         float* eps) {
    const Node* sub = v.producer(div.inputs[0], "Sub");
    const Node* sqrt = v.producer(div.inputs[1], "Sqrt");
    if (!sub || !sqrt || !v.single_use(div.inputs[1])) return false;
    const std::string& d = sub->outputs[0];
    if (v.consumers(d).size() != 2 || is_graph_output(v.graph(), d)) return false;
    const Node* mean = v.producer(sub->inputs[1], "ReduceMean");
    if (!mean || mean->inputs[0] != sub->inputs[0] || !v.single_use(sub->inputs[1]) || !reduces_last_axis(v, *mean))
      return false;
    const Node* add_eps = v.producer(sqrt->inputs[0], "Add");
    if (!add_eps || !v.single_use(sqrt->inputs[0])) return false;
    for (int s = 0; s < 2; ++s) {
      const Node* var = v.producer(add_eps->inputs[s], "ReduceMean");
      auto e = v.scalar(add_eps->inputs[1 - s]);
      if (!var || !e || !v.single_use(add_eps->inputs[s]) || !reduces_last_axis(v, *var)) continue;
      const Node* pow = v.producer(var->inputs[0], "Pow");
      if (!pow || pow->inputs[0] != d || !is_constant_value(v, pow->inputs[1], 2.f) || !v.single_use(var->inputs[0]))
        continue;
      nodes->insert(nodes->end(), {sub, sqrt, mean, add_eps, var, pow});
      *x = sub->inputs[0];
      *eps = *e;
      return true;
    }
    return false;
  }
};

}  // namespace

std::unique_ptr<RewriteRule> make_fuse_layernorm_rule() { return std::make_unique<FuseLayerNorm>(); }

}  // namespace ferry
