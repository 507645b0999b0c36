// fuse_qdq_conv.cc — turns the QDQ pattern around a 2-D Conv into one ferry.QConv (src/ops/qconv.cc), which the
// CPU runs as an int8 oneDNN convolution:
//
//   DequantizeLinear(x_q, sx, zx) ─┐
//   DequantizeLinear(w_q, sw)      ─┴─ Conv(+B) [-> Add(Z)] [-> Relu | Clip] [-> QuantizeLinear(sy, zy)]
//     => ferry.QConv(x_q, sx, zx, w_q, sw, B, sy?, zy?, Z?)
//
// Requirements: x_q int8/uint8 with scalar scale and zero point; w_q an int8 constant [M, C/g, kH, kW] with a
// scalar or per-output-channel (axis 0) scale and zero zero points; B a float constant; every folded
// intermediate read only by the next node of the pattern. A trailing QuantizeLinear is folded with or without a
// residual Z (the float Z is added before the requantization, as the QDQ graph does). The DequantizeLinear nodes stay for their
// other readers and go with dead-code elimination.
// Runs at level all BEFORE fold_constants (which would fold DequantizeLinear(w_q) into float weights).
#include <cfloat>
#include <memory>

#include "passes/fusion_util.h"
#include "passes/graph_edit.h"
#include "passes/qdq_fusions.h"
#include "runtime/shape_inference.h"

namespace ferry {

namespace {

bool is_8bit(DType t) { return t == DType::kInt8 || t == DType::kUInt8; }

// The name of an initializer holding `value`'s constant (adds one when the constant is a Constant node).
std::string constant_name(Graph& g, const FusionView& v, const std::string& value) {
  std::string init;
  const Tensor* t = v.constant(value, &init);
  if (!init.empty()) return init;
  std::string name = unique_value_name(g, value + "_const");
  add_initializer(g, name, *t);
  return name;
}

struct Match {
  const Node* conv = nullptr;
  const Node* dqx = nullptr;
  const Node* dqw = nullptr;
  std::vector<const Node*> chain;  // Add / activation / QuantizeLinear after the conv, in order
  std::string z, activation = "none", out;
  std::vector<float> params;
  const Node* q = nullptr;
};

// A DequantizeLinear with constant scalar scale and zero point reading an 8-bit value.
bool per_tensor_dq(const FusionView& v, const Node* dq) {
  if (!dq || dq->inputs.size() < 2) return false;
  const Tensor* s = v.constant(dq->inputs[1]);
  if (!s || s->dtype() != DType::kFloat || s->numel() != 1 || !(*s->data<float>() > 0)) return false;
  if (dq->has_input(2)) {
    const Tensor* zp = v.constant(dq->inputs[2]);
    if (!zp || zp->numel() != 1 || !is_8bit(zp->dtype())) return false;
  }
  const ValueType* t = v.graph().type_of(dq->inputs[0]);
  return t && is_8bit(t->dtype);
}

bool weight_dq(const FusionView& v, const Node* dq) {
  if (!dq || dq->inputs.size() < 2) return false;
  const Tensor* w = v.constant(dq->inputs[0]);
  const Tensor* s = v.constant(dq->inputs[1]);
  if (!w || w->dtype() != DType::kInt8 || w->rank() != 4 || !s || s->dtype() != DType::kFloat) return false;
  if (s->numel() != 1 && (s->rank() != 1 || s->numel() != w->dim(0) || dq->attr_int("axis", 1) != 0)) return false;
  for (int64_t i = 0; i < s->numel(); ++i)
    if (!(s->data<float>()[i] > 0)) return false;  // oneDNN's scales: finite and positive
  if (dq->has_input(2)) {
    const Tensor* zp = v.constant(dq->inputs[2]);
    if (!zp || zp->dtype() != DType::kInt8 || zp->numel() != s->numel()) return false;
    for (int64_t i = 0; i < zp->numel(); ++i)
      if (zp->data<int8_t>()[i] != 0) return false;
  }
  return true;
}

// The single reader of `value` when it has exactly one and is not a graph output.
const Node* only_reader(const FusionView& v, const std::string& value) {
  if (!v.single_use(value)) return nullptr;
  auto c = v.consumers(value);
  return c.size() == 1 ? c[0] : nullptr;
}

void match_chain(const FusionView& v, Match& m) {
  const Graph& g = v.graph();
  std::string cur = m.conv->outputs[0];
  const Node* n = only_reader(v, cur);
  if (n && n->op_type == "Add" && n->domain.empty() && n->inputs.size() == 2) {
    const std::string other = other_input(*n, cur);
    const ValueType* a = g.type_of(cur);
    const ValueType* b = g.type_of(other);
    if (!other.empty() && other != cur && !v.constant(other) && a && b && b->dtype == DType::kFloat &&
        same_static_shape(a->shape, b->shape)) {
      m.z = other;
      m.chain.push_back(n);
      cur = n->outputs[0];
      n = only_reader(v, cur);
    }
  }
  if (n && n->domain.empty() && n->op_type == "Relu") {
    m.activation = "relu";
  } else if (n && n->domain.empty() && n->op_type == "Clip") {
    float lo = -FLT_MAX, hi = FLT_MAX;
    bool ok = true;
    if (n->opset < 11) {
      lo = n->attr_float("min", lo);
      hi = n->attr_float("max", hi);
    } else {
      for (size_t i = 1; i < 3 && ok; ++i) {
        if (!n->has_input(i)) continue;
        auto s = v.scalar(n->inputs[i]);
        if (!s) ok = false;
        else (i == 1 ? lo : hi) = *s;
      }
    }
    if (ok && lo <= hi) {
      m.activation = "clip";
      m.params = {lo, hi};
    }
  }
  if (m.activation != "none") {
    m.chain.push_back(n);
    cur = n->outputs[0];
    n = only_reader(v, cur);
  }
  m.out = cur;
  if (n && n->domain.empty() && n->op_type == "QuantizeLinear" && n->inputs[0] == cur &&
      n->inputs.size() == 3) {
    const Tensor* s = v.constant(n->inputs[1]);
    const Tensor* zp = v.constant(n->inputs[2]);
    if (s && s->dtype() == DType::kFloat && s->numel() == 1 && *s->data<float>() > 0 && zp && zp->numel() == 1 &&
        is_8bit(zp->dtype()) && n->attr_int("saturate", 1) == 1) {
      m.q = n;
      m.chain.push_back(n);
      m.out = n->outputs[0];
    }
  }
}

std::optional<Match> match(const Graph& g, const Node& conv) {
  if (conv.op_type != "Conv" || !conv.domain.empty() || conv.inputs.size() < 2 || !conv.has_input(0)) return {};
  FusionView v(g);
  Match m;
  m.conv = &conv;
  m.dqx = v.producer(conv.inputs[0], "DequantizeLinear");
  m.dqw = v.producer(conv.inputs[1], "DequantizeLinear");
  if (!per_tensor_dq(v, m.dqx) || !weight_dq(v, m.dqw)) return {};
  const Tensor* w = v.constant(m.dqw->inputs[0]);
  if (conv.has_input(2)) {
    const Tensor* b = v.constant(conv.inputs[2]);
    if (!b || b->dtype() != DType::kFloat || b->numel() != w->dim(0)) return {};
  }
  const ValueType* x = g.type_of(conv.inputs[0]);
  if (x && x->shape.rank_known && x->shape.rank() != 4) return {};
  match_chain(v, m);
  return m;
}

class FuseQdqConv : public RewriteRule {
 public:
  std::string name() const override { return "fuse_qdq_conv"; }
  std::vector<std::string> op_types() const override { return {"Conv"}; }
  bool matches(const Model& model, const Node& node) const override { return match(model.graph, node).has_value(); }

  Expected<bool> apply(Model& model, size_t i) override {
    Graph& g = model.graph;
    auto m = match(g, g.nodes[i]);
    if (!m) return false;
    FusionView v(g);
    const Node& conv = *m->conv;
    Node q = Node::make("QConv", {}, {m->out});
    q.domain = "ferry";
    q.opset = 1;
    q.name = conv.name.empty() ? m->out + "_qconv" : conv.name;
    for (const char* a : {"kernel_shape", "strides", "pads", "dilations", "group", "auto_pad"})
      if (auto it = conv.attrs.find(a); it != conv.attrs.end()) q.attrs[a] = it->second;
    Attr act;
    act.kind = Attr::Kind::kString;
    act.s = m->activation;
    q.attrs["activation"] = act;
    Attr params;
    params.kind = Attr::Kind::kFloats;
    params.floats = m->params;
    q.attrs["activation_params"] = params;
    const Node& dqx = *m->dqx;
    const Node& dqw = *m->dqw;
    q.inputs = {dqx.inputs[0], constant_name(g, v, dqx.inputs[1]),
                dqx.has_input(2) ? constant_name(g, v, dqx.inputs[2]) : "",
                constant_name(g, v, dqw.inputs[0]), constant_name(g, v, dqw.inputs[1]),
                conv.has_input(2) ? constant_name(g, v, conv.inputs[2]) : "", "", "", m->z};
    if (m->q) {
      q.inputs[6] = constant_name(g, v, m->q->inputs[1]);
      q.inputs[7] = constant_name(g, v, m->q->inputs[2]);
    }
    while (!q.inputs.empty() && q.inputs.back().empty()) q.inputs.pop_back();
    // constant_name may have added initializers, never nodes: the pointers in *m are still valid.
    std::vector<const Node*> remove = m->chain;
    remove.push_back(m->conv);
    // Read the output's type before erasing the conv's: with no chain they are the same value, and a float
    // QConv output left untyped would stop its reader Add from fusing as the next QConv's residual Z.
    const ValueType* t = g.type_of(m->out);
    const ValueType out_type = t ? *t : ValueType{};
    g.value_info.erase(conv.outputs[0]);
    replace_pattern(g, remove, m->conv, std::move(q));
    if (out_type.dtype != DType::kUndefined) g.value_info[m->out] = out_type;  // the next match reads its dtype
    return true;
  }
};

// The rule needs value types (x_q's dtype, the residual's shape), and it runs first, before the folding passes
// have typed the graph: infer them when the graph has a DequantizeLinear -> Conv at all.
class FuseQdqConvPass : public Pass {
 public:
  std::string name() const override { return "fuse_qdq_conv"; }
  Expected<bool> run(Model& model) override {
    Graph& g = model.graph;
    auto producers = build_producers(g);
    bool any = false;
    for (const Node& n : g.nodes) {
      if (n.op_type != "Conv" || !n.domain.empty() || !n.has_input(0)) continue;
      auto p = producers.find(n.inputs[0]);
      any = any || (p != producers.end() && g.nodes[static_cast<size_t>(p->second)].op_type == "DequantizeLinear");
    }
    if (!any) return false;
    if (!infer_graph_types(g, {})) return false;  // no schema for some op: leave the graph to the other passes
    // Repeat here: apply() erases nodes, so one sweep can step over a Conv, and fold_constants (next in the
    // list) would then fold that Conv's int8 weights before the next iteration.
    bool changed = false;
    for (int i = 0; i < 16; ++i) {
      FERRY_ASSIGN_OR_RETURN(bool c, rules_.run(model));
      if (!c) break;
      changed = true;
    }
    return changed;
  }

 private:
  RulePass rules_{std::make_unique<FuseQdqConv>()};
};

}  // namespace

std::unique_ptr<Pass> make_fuse_qdq_conv() { return std::make_unique<FuseQdqConvPass>(); }

}  // namespace ferry
