// fuse_attention.cc — the scaled-dot-product core of attention -> ferry.SdpAttention.
//
// Pattern (torch 1.13 nn.MultiheadAttention at opset 13), anchored at the second MatMul:
//   q' = Div(Q, c) | Mul(Q, c')     (or the scores scaled instead: Div/Mul(MatMul(Q, KT), c))
//   P  = Softmax(MatMul(q', KT), axis = -1)
//   Y  = MatMul(P, V)
// with Q, KT, V all of known rank 3 ([N,S,d], [N,d,T], [N,T,dv]) and c a float scalar constant.
// The fused kernel never materializes the [N,S,T] scores. A second step (anchored at the SdpAttention) absorbs
// the transposes torch puts around it: Q = Transpose(Q0, [1,0,2]), KT = Transpose(K0, [1,2,0]),
// V = Transpose(V0, [1,0,2]) and Y read only by Transpose(Y, [1,0,2]) -> SdpAttention(Q0, K0, V0, seq_major=1).
#include "passes/fuse_transformer.h"
#include "passes/fusion_util.h"

namespace ferry {

namespace {

// If `value` = Div(x, c) or Mul(x, c) (c scalar) with one reader, returns x and multiplies *scale.
std::string strip_scale(const FusionView& v, const std::string& value, float* scale, std::vector<const Node*>* nodes) {
  if (!v.single_use(value)) return "";
  if (const Node* div = v.producer(value, "Div")) {
    auto c = v.scalar(div->inputs[1]);
    if (c && *c != 0.f) {
      *scale /= *c;
      nodes->push_back(div);
      return div->inputs[0];
    }
  }
  if (const Node* mul = v.producer(value, "Mul")) {
    for (int s = 0; s < 2; ++s)
      if (auto c = v.scalar(mul->inputs[1 - s])) {
        *scale *= *c;
        nodes->push_back(mul);
        return mul->inputs[s];
      }
  }
  return "";
}

bool softmax_last_axis(const FusionView& v, const Node& sm) {
  int64_t axis = sm.attr_int("axis", sm.opset < 13 ? 1 : -1);
  return axis == -1 || axis == 2;  // inputs are rank 3 (checked by the caller)
}

class FuseAttention : public RewriteRule {
 public:
  std::string name() const override { return "fuse_attention"; }
  std::vector<std::string> op_types() const override { return {"MatMul", "SdpAttention"}; }
  bool matches(const Model&, const Node& n) const override {
    if (n.op_type == "SdpAttention") return n.domain == "ferry" && n.attr_int("seq_major", 0) == 0;
    return n.domain.empty() && n.inputs.size() == 2;
  }

  Expected<bool> apply(Model& model, size_t index) override {
    Graph& g = model.graph;
    FusionView v(g);
    if (g.nodes[index].op_type == "SdpAttention") return absorb_transposes(g, v, g.nodes[index]);
    const Node& mm2 = g.nodes[index];
    const std::string& vv = mm2.inputs[1];
    const Node* sm = v.producer(mm2.inputs[0], "Softmax");
    if (!sm || !v.single_use(mm2.inputs[0]) || !softmax_last_axis(v, *sm)) return false;
    std::vector<const Node*> nodes = {&mm2, sm};
    float scale = 1.f;
    std::string scores = sm->inputs[0];
    if (!v.producer(scores, "MatMul")) {
      scores = strip_scale(v, scores, &scale, &nodes);
      if (scores.empty()) return false;
    }
    const Node* mm1 = v.producer(scores, "MatMul");
    if (!mm1 || !v.single_use(scores)) return false;
    nodes.push_back(mm1);
    std::string q = mm1->inputs[0];
    const std::string& kt = mm1->inputs[1];
    if (scale == 1.f) {
      std::string inner = strip_scale(v, q, &scale, &nodes);
      if (!inner.empty()) q = inner;
    }
    for (const std::string* s : std::vector<const std::string*>{&q, &kt, &vv}) {
      const ValueType* t = g.type_of(*s);
      if (!t || t->dtype != DType::kFloat || !t->shape.rank_known || t->shape.rank() != 3) return false;
    }
    Node fused = Node::make("SdpAttention", {q, kt, vv}, {mm2.outputs[0]});
    fused.domain = "ferry";
    fused.opset = 1;
    fused.name = mm2.name.empty() ? "" : mm2.name + "_attention";
    Attr a;
    a.kind = Attr::Kind::kFloat;
    a.f = scale;
    fused.attrs["scale"] = a;
    replace_pattern(g, nodes, &mm2, std::move(fused));
    return true;
  }

 private:
  static const Node* transpose_of(const FusionView& v, const std::string& value, std::vector<int64_t> perm) {
    const Node* t = v.producer(value, "Transpose");
    return t && v.single_use(value) && t->attr_ints("perm") == perm ? t : nullptr;
  }

  static bool absorb_transposes(Graph& g, const FusionView& v, const Node& att) {
    const Node* tq = transpose_of(v, att.inputs[0], {1, 0, 2});
    const Node* tk = transpose_of(v, att.inputs[1], {1, 2, 0});
    const Node* tv = transpose_of(v, att.inputs[2], {1, 0, 2});
    if (!tq || !tk || !tv || !v.single_use(att.outputs[0])) return false;
    const Node* ty = v.consumers(att.outputs[0])[0];
    if (ty->op_type != "Transpose" || !ty->domain.empty() || ty->attr_ints("perm") != std::vector<int64_t>{1, 0, 2})
      return false;
    Node fused = att;
    fused.inputs = {tq->inputs[0], tk->inputs[0], tv->inputs[0]};
    fused.outputs = ty->outputs;
    Attr a;
    a.kind = Attr::Kind::kInt;
    a.i = 1;
    fused.attrs["seq_major"] = a;
    replace_pattern(g, {tq, tk, tv, &att, ty}, ty, std::move(fused));
    return true;
  }
};

}  // namespace

std::unique_ptr<RewriteRule> make_fuse_attention_rule() { return std::make_unique<FuseAttention>(); }

}  // namespace ferry
