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
// A third step (anchored at a seq-major SdpAttention) splits the heads in the kernel: each of Q0, K0, V0 =
// Reshape(Slice(P, [a], [b], axes [-1]), shape) with P [S, N, C] and the Reshape giving [S, N * H, w] (H = (b - a)
// / w) and Y read only by a Reshape -> SdpAttention(Pq, Pk, Pv, num_heads = H, head_dim, v_head_dim, offsets =
// the three a's), Y [S, N, H * dv] (same memory): the Slice copies go, and the shape arithmetic that only fed the
// Reshapes is left dead.
#include <algorithm>
#include <optional>

#include "passes/fuse_transformer.h"
#include "passes/attr_util.h"
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

// The single integer of a constant 1-element int32/int64 tensor.
std::optional<int64_t> int_scalar(const FusionView& v, const std::string& value) {
  const Tensor* t = v.constant(value);
  if (!t || t->numel() != 1) return std::nullopt;
  if (t->dtype() == DType::kInt64) return t->data<int64_t>()[0];
  if (t->dtype() == DType::kInt32) return t->data<int32_t>()[0];
  return std::nullopt;
}

// Element i of a 3-element shape tensor: a constant, or a Concat (axis 0) of three 1-element pieces whose i-th
// piece is constant.
std::optional<int64_t> shape_elem(const FusionView& v, const std::string& shape, int i) {
  if (const Tensor* t = v.constant(shape)) {
    if (t->dtype() != DType::kInt64 || t->numel() != 3) return std::nullopt;
    return t->data<int64_t>()[i];
  }
  const Node* cat = v.producer(shape, "Concat");
  if (!cat || cat->inputs.size() != 3 || cat->attr_int("axis", 0) != 0) return std::nullopt;
  for (const std::string& in : cat->inputs) {
    const ValueType* t = v.graph().type_of(in);
    if (!t || !t->shape.rank_known || t->shape.rank() != 1 || !(t->shape.dims[0] == Dim(1))) return std::nullopt;
  }
  return int_scalar(v, cat->inputs[static_cast<size_t>(i)]);
}

// One operand of a seq-major attention read as heads of a packed projection (see the header comment).
struct HeadSource {
  std::string packed;
  int64_t offset = 0, heads = 0, width = 0;
  std::vector<const Node*> nodes;  // the Reshape and the Slice
};

std::optional<HeadSource> head_source(const Graph& g, const FusionView& v, const std::string& value) {
  const Node* rs = v.producer(value, "Reshape");
  if (!rs || !v.single_use(value) || rs->inputs.size() < 2) return std::nullopt;
  const Node* sl = v.producer(rs->inputs[0], "Slice");
  if (!sl || !v.single_use(rs->inputs[0]) || sl->inputs.size() < 4) return std::nullopt;
  const ValueType* pt = g.type_of(sl->inputs[0]);
  if (!pt || pt->dtype != DType::kFloat || !pt->shape.rank_known || pt->shape.rank() != 3) return std::nullopt;
  const Dim &s = pt->shape.dims[0], &c = pt->shape.dims[2];
  // The Reshape's target [S, ?, w]: the sequence axis kept (0 copies it unless allowzero) and w a constant.
  auto s0 = shape_elem(v, rs->inputs[1], 0), w = shape_elem(v, rs->inputs[1], 2);
  if (!s.known() || !c.known() || !s0 || !w || *w <= 0 || (*s0 != s.value && !(*s0 == 0 && rs->attr_int("allowzero", 0) == 0)))
    return std::nullopt;
  auto a = int_scalar(v, sl->inputs[1]), b = int_scalar(v, sl->inputs[2]), axis = int_scalar(v, sl->inputs[3]);
  if (!a || !b || !axis || (*axis != -1 && *axis != 2)) return std::nullopt;
  if (sl->inputs.size() > 4 && !sl->inputs[4].empty()) {
    auto step = int_scalar(v, sl->inputs[4]);
    if (!step || *step != 1) return std::nullopt;
  }
  auto clamp = [&](int64_t x) { return std::clamp<int64_t>(x < 0 ? x + c.value : x, 0, c.value); };
  const int64_t lo = clamp(*a), hi = clamp(*b);
  if (hi <= lo || (hi - lo) % *w != 0) return std::nullopt;
  return HeadSource{sl->inputs[0], lo, (hi - lo) / *w, *w, {rs, sl}};
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
    if (n.op_type == "SdpAttention") return n.domain == "ferry" && n.attr_int("num_heads", 0) == 0;
    return n.domain.empty() && n.inputs.size() == 2;
  }

  Expected<bool> apply(Model& model, size_t index) override {
    Graph& g = model.graph;
    FusionView v(g);
    if (g.nodes[index].op_type == "SdpAttention")
      return g.nodes[index].attr_int("seq_major", 0) == 0 ? absorb_transposes(g, v, g.nodes[index])
                                                          : split_heads(g, v, g.nodes[index]);
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

  static bool split_heads(Graph& g, const FusionView& v, const Node& att) {
    if (att.inputs.size() != 3 || !v.single_use(att.outputs[0])) return false;
    const Node* reader = v.consumers(att.outputs[0])[0];
    if (reader->op_type != "Reshape" || !reader->domain.empty() || reader->inputs[0] != att.outputs[0]) return false;
    auto q = head_source(g, v, att.inputs[0]), k = head_source(g, v, att.inputs[1]),
         vv = head_source(g, v, att.inputs[2]);
    if (!q || !k || !vv || q->heads != k->heads || q->heads != vv->heads || q->width != k->width) return false;
    Node fused = att;
    fused.inputs = {q->packed, k->packed, vv->packed};
    fused.attrs["num_heads"] = int_attr(q->heads);
    fused.attrs["head_dim"] = int_attr(q->width);
    fused.attrs["v_head_dim"] = int_attr(vv->width);
    fused.attrs["offsets"] = ints_attr({q->offset, k->offset, vv->offset});
    std::vector<const Node*> nodes = {&att};
    for (const HeadSource* h : {&*q, &*k, &*vv}) nodes.insert(nodes.end(), h->nodes.begin(), h->nodes.end());
    // Y is now [S, N, H * dv] (was [S, N * H, dv]: the same memory); keep its recorded type honest.
    const ValueType* pt = g.type_of(q->packed);
    if (pt && pt->shape.rank_known && pt->shape.rank() == 3)
      g.value_info[att.outputs[0]] =
          ValueType{pt->dtype, SymShape::from_dims({pt->shape.dims[0], pt->shape.dims[1], Dim(q->heads * vv->width)})};
    replace_pattern(g, nodes, &att, std::move(fused));
    return true;
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
