// fuse_matmul_bias.cc — MatMul/Gemm with constant weights (+ bias) (+ Relu/GELU) -> ferry.FusedMatMul.
//
// Patterns (anchored at the MatMul, the Gemm, or an activation after an existing FusedMatMul):
//   Y = MatMul(A, B)                      B a constant float 2-D tensor [K, N]
//   Y = Add(MatMul(A, B), bias)           bias a constant float with N elements, shape [N] (either Add order)
//   Y = Gemm(A, B, C)                     alpha = beta = 1, transA = 0, C constant [N]; transB -> trans_b
//   Y = Relu(FusedMatMul(...)) / ferry.Gelu(FusedMatMul(...))  -> activation folded in
//   Y = Add(FusedMatMul(...), R) (either order)  -> R as the residual input (4th), added after the activation;
//       R must have exactly Y's shape (known rank, equal dims: no broadcast) — a transformer's skip connection
// FusedMatMul's kernel packs B once for oneDNN, so only constant B qualifies. Intermediates have one reader.
#include "passes/fuse_transformer.h"
#include "passes/fusion_util.h"
#include "passes/attr_util.h"

namespace ferry {

namespace {

// A constant float bias of exactly n elements stored as [n].
bool is_bias(const FusionView& v, const std::string& value, int64_t n) {
  const Tensor* t = v.constant(value);
  return t && t->dtype() == DType::kFloat && t->rank() == 1 && t->dim(0) == n;
}

// Rewrites the input to its initializer when it is an Identity(initializer) (the kernel's pack cache then keys
// on the initializer's storage directly).
std::string resolve(const FusionView& v, const std::string& value) {
  std::string init;
  return v.constant(value, &init) && !init.empty() ? init : value;
}

Node make_fused(const std::string& name, std::vector<std::string> inputs, const std::string& out, bool trans_b) {
  Node n = Node::make("FusedMatMul", std::move(inputs), {out});
  n.domain = "ferry";
  n.opset = 1;
  n.name = name;
  n.attrs["activation"] = string_attr("none");
  if (trans_b) n.attrs["trans_b"] = int_attr(1);
  return n;
}

class FuseMatMulBias : public RewriteRule {
 public:
  std::string name() const override { return "fuse_matmul_bias"; }
  std::vector<std::string> op_types() const override { return {"MatMul", "Gemm", "Relu", "Gelu", "Add"}; }
  bool matches(const Model&, const Node& n) const override {
    if (n.op_type == "Gelu") return n.domain == "ferry";
    return n.domain.empty();
  }

  Expected<bool> apply(Model& model, size_t index) override {
    Graph& g = model.graph;
    FusionView v(g);
    const Node& n = g.nodes[index];
    if (n.op_type == "Relu" || n.op_type == "Gelu") return fold_activation(g, v, n);
    if (n.op_type == "Add") return fold_residual(g, v, n);
    if (n.inputs.size() < 2 || n.outputs.empty()) return false;
    const Tensor* b = v.constant(n.inputs[1]);
    if (!b || b->dtype() != DType::kFloat || b->rank() != 2) return false;
    const ValueType* at = g.type_of(n.inputs[0]);
    if (at && at->dtype != DType::kFloat) return false;
    if (n.op_type == "Gemm") {
      if (n.attr_float("alpha", 1.f) != 1.f || n.attr_int("transA", 0) != 0) return false;
      bool tb = n.attr_int("transB", 0) != 0;
      int64_t nn = tb ? b->dim(0) : b->dim(1);
      std::vector<std::string> ins = {n.inputs[0], resolve(v, n.inputs[1])};
      if (n.has_input(2)) {
        if (n.attr_float("beta", 1.f) != 1.f || !is_bias(v, n.inputs[2], nn)) return false;
        ins.push_back(resolve(v, n.inputs[2]));
      }
      if (at && at->shape.rank_known && at->shape.rank() != 2) return false;
      Node fused = make_fused(n.name, ins, n.outputs[0], tb);
      replace_pattern(g, {&n}, &n, std::move(fused));
      return true;
    }
    // MatMul
    std::vector<std::string> ins = {n.inputs[0], resolve(v, n.inputs[1])};
    const Node* anchor = &n;
    std::vector<const Node*> nodes = {&n};
    auto readers = v.consumers(n.outputs[0]);
    if (v.single_use(n.outputs[0]) && readers[0]->op_type == "Add" && readers[0]->domain.empty()) {
      const Node* add = readers[0];
      std::string bias = other_input(*add, n.outputs[0]);
      if (!bias.empty() && bias != n.outputs[0] && is_bias(v, bias, b->dim(1))) {
        ins.push_back(resolve(v, bias));
        nodes.push_back(add);
        anchor = add;
      }
    }
    Node fused = make_fused(n.name, ins, anchor->outputs[0], false);
    replace_pattern(g, nodes, anchor, std::move(fused));
    return true;
  }

 private:
  static bool fold_activation(Graph& g, const FusionView& v, const Node& act) {
    if (act.inputs.empty() || act.outputs.empty()) return false;
    const Node* mm = v.producer(act.inputs[0], "FusedMatMul", "ferry");
    if (!mm || !v.single_use(act.inputs[0]) || mm->attr_string("activation", "none") != "none" || has_residual(*mm))
      return false;
    Node fused = *mm;
    fused.outputs = act.outputs;
    fused.attrs["activation"] = string_attr(act.op_type == "Relu" ? "relu" : "gelu");
    replace_pattern(g, {mm, &act}, &act, std::move(fused));
    return true;
  }

  static bool has_residual(const Node& mm) { return mm.inputs.size() > 3 && !mm.inputs[3].empty(); }

  static bool same_known_shape(const ValueType* a, const ValueType* b) {
    if (!a || !b || !a->shape.rank_known || !b->shape.rank_known || a->shape.rank() != b->shape.rank()) return false;
    for (int i = 0; i < a->shape.rank(); ++i) {
      const Dim &x = a->shape.dims[i], &y = b->shape.dims[i];
      if (!(x == y) || (!x.known() && x.symbol.empty())) return false;  // unknown dims without a name: unprovable
    }
    return true;
  }

  static bool fold_residual(Graph& g, const FusionView& v, const Node& add) {
    if (add.inputs.size() != 2 || add.outputs.empty()) return false;
    for (int side = 0; side < 2; ++side) {
      const std::string& y = add.inputs[side];
      const std::string& r = add.inputs[1 - side];
      const Node* mm = v.producer(y, "FusedMatMul", "ferry");
      if (!mm || !v.single_use(y) || has_residual(*mm) || r == y) continue;
      const ValueType* rt = g.type_of(r);
      if (!rt || rt->dtype != DType::kFloat || !same_known_shape(g.type_of(y), rt) ||
          !same_known_shape(g.type_of(add.outputs[0]), rt))
        continue;
      Node fused = *mm;
      fused.inputs.resize(4);  // bias stays "" (absent) when there is none
      fused.inputs[3] = r;
      fused.outputs = add.outputs;
      replace_pattern(g, {mm, &add}, &add, std::move(fused));
      return true;
    }
    return false;
  }
};

}  // namespace

std::unique_ptr<RewriteRule> make_fuse_matmul_bias_rule() { return std::make_unique<FuseMatMulBias>(); }

}  // namespace ferry
