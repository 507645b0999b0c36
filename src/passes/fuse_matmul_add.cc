// fuse_matmul_add.cc — MatMul(A, B) + Add(C) becomes Gemm(A, B, C) when A and B are 2-D float matrices and C
// broadcasts unidirectionally to the [M, N] product (a bias [N], [1, N], [M, 1], [M, N] or a scalar). Batched
// (3-D+) MatMuls stay as they are: Gemm is 2-D only and a Reshape pair would cost more than it saves.
#include <memory>

#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace ferry {

namespace {

bool is_float_matrix(const ValueType* t) {
  return t && t->dtype == DType::kFloat && t->shape.rank_known && t->shape.rank() == 2;
}

// Which input of the Add is the bias (the other one is the MatMul output), or -1.
int bias_side(const Graph& g, const Node& add, int* matmul) {
  if (add.inputs.size() != 2 || !add.domain.empty()) return -1;
  for (int side = 0; side < 2; ++side) {
    int p = fusable_producer(g, add.inputs[static_cast<size_t>(side)]);
    if (p < 0) continue;
    const Node& mm = g.nodes[static_cast<size_t>(p)];
    if (mm.op_type != "MatMul" || !mm.domain.empty() || mm.inputs.size() != 2) continue;
    if (mm.opset > 0 && mm.opset < 11) continue;  // older Gemm needs the `broadcast` attribute
    const ValueType* a = g.type_of(mm.inputs[0]);
    const ValueType* b = g.type_of(mm.inputs[1]);
    const ValueType* y = g.type_of(mm.outputs[0]);
    const ValueType* c = g.type_of(add.inputs[static_cast<size_t>(1 - side)]);
    if (!is_float_matrix(a) || !is_float_matrix(b) || !is_float_matrix(y)) continue;
    if (!c || c->dtype != DType::kFloat || !c->shape.rank_known || c->shape.rank() > 2) continue;
    // C must not widen the product: each dim is 1 or equal to the product's (known or same symbol).
    bool ok = true;
    for (int k = 0; k < c->shape.rank(); ++k) {
      const Dim& cd = c->shape.dims[static_cast<size_t>(k)];
      const Dim& yd = y->shape.dims[static_cast<size_t>(2 - c->shape.rank() + k)];
      bool same = cd.known() ? (cd.value == 1 || cd.value == yd.value) : (!cd.symbol.empty() && cd.symbol == yd.symbol);
      ok &= same;
    }
    if (!ok) continue;
    *matmul = p;
    return 1 - side;
  }
  return -1;
}

class FuseMatMulAdd : public RewriteRule {
 public:
  std::string name() const override { return "fuse_matmul_add"; }
  std::vector<std::string> op_types() const override { return {"Add"}; }
  bool matches(const Model& model, const Node& add) const override {
    int mm = -1;
    return bias_side(model.graph, add, &mm) >= 0;
  }

  Expected<bool> apply(Model& model, size_t i) override {
    Graph& g = model.graph;
    int mm = -1;
    int side = bias_side(g, g.nodes[i], &mm);
    if (side < 0) return false;
    Node& gemm = g.nodes[static_cast<size_t>(mm)];
    gemm.op_type = "Gemm";
    gemm.inputs.push_back(g.nodes[i].inputs[static_cast<size_t>(side)]);
    gemm.outputs[0] = g.nodes[i].outputs[0];
    erase_node(g, i);
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fuse_matmul_add() {
  return std::make_unique<RulePass>(std::make_unique<FuseMatMulAdd>());
}

}  // namespace ferry
