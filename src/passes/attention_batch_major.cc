// attention_batch_major.cc — drops the [N, S, C] <-> [S, N, C] Transposes torch's batch_first MultiheadAttention
// puts around a self-attention whose heads fuse_attention already split out of the packed projection.
//
// Before (X [N, S, E], after fuse_matmul_bias and fuse_attention):
//   T  = Transpose(X, [1, 0, 2])                       [S, N, E]
//   P  = FusedMatMul(T, Wqkv, bqkv)                    [S, N, C]       (no residual)
//   Y  = SdpAttention(P, P, P, seq_major = 1, num_heads = H, offsets)   [S, N, E']
//   R3 = Reshape(Y, [S*N, E'])  ->  O = FusedMatMul(R3, Wo, bo)  ->  R4 = Reshape(O, [S, N, F])
//   Z  = Transpose(R4, [1, 0, 2])                      [N, S, F]
// After:
//   P' = FusedMatMul(X, Wqkv, bqkv)                    [N, S, C]   (a row-wise op: the row order is free)
//   Y' = SdpAttention(P', P', P', seq_major = 0, num_heads = H, offsets)   [N, S, E'] (heads read batch-major)
//   Z  = FusedMatMul(Y', Wo, bo)                       [N, S, F]   (A's leading dims need no Reshape)
// Two copies of the activations per layer go, and Z is now a FusedMatMul output, so fuse_matmul_bias can fold
// the residual Add that usually reads it. Every intermediate must have a single reader and static shapes.
#include "passes/attr_util.h"
#include "passes/fuse_transformer.h"
#include "passes/fusion_util.h"
#include "passes/graph_edit.h"

namespace ferry {

namespace {

bool static_dims(const Graph& g, const std::string& value, std::vector<int64_t>* dims) {
  const ValueType* t = g.type_of(value);
  if (!t || !t->shape.rank_known) return false;
  dims->clear();
  for (const Dim& d : t->shape.dims) {
    if (!d.known()) return false;
    dims->push_back(d.value);
  }
  return true;
}

bool plain_fused_matmul(const Node* n) {
  return n && n->domain == "ferry" && n->op_type == "FusedMatMul" && (n->inputs.size() < 4 || n->inputs[3].empty());
}

const Node* only_reader(const FusionView& v, const std::string& value, const std::string& op, const std::string& domain) {
  if (!v.single_use(value)) return nullptr;
  const Node* r = v.consumers(value)[0];
  return r->op_type == op && r->domain == domain && !r->inputs.empty() && r->inputs[0] == value ? r : nullptr;
}

bool is_swap01(const Node* t) { return t && t->attr_ints("perm") == std::vector<int64_t>{1, 0, 2}; }

class AttentionBatchMajor : public RewriteRule {
 public:
  std::string name() const override { return "attention_batch_major"; }
  std::vector<std::string> op_types() const override { return {"SdpAttention"}; }
  bool matches(const Model&, const Node& n) const override {
    return n.domain == "ferry" && n.inputs.size() == 3 && n.attr_int("seq_major", 0) == 1 &&
           n.attr_int("num_heads", 0) > 0;
  }

  Expected<bool> apply(Model& model, size_t index) override {
    Graph& g = model.graph;
    FusionView v(g);
    const Node& att = g.nodes[index];
    const std::string p = att.inputs[0];
    if (att.inputs[1] != p || att.inputs[2] != p || is_graph_output(g, p) || read_by_subgraph(g, p)) return false;
    auto readers = v.consumers(p);
    if (readers.size() != 1 || readers[0] != &att) return false;
    const Node* proj = v.producer(p, "FusedMatMul", "ferry");
    if (!plain_fused_matmul(proj)) return false;
    const Node* t_in = v.producer(proj->inputs[0], "Transpose");
    if (!is_swap01(t_in) || !v.single_use(proj->inputs[0])) return false;
    const std::string x = t_in->inputs[0];
    // The output side: Y -> Reshape [S*N, E'] -> FusedMatMul -> Reshape [S, N, F] -> Transpose [1, 0, 2].
    const std::string y = att.outputs[0];
    const Node* r3 = only_reader(v, y, "Reshape", "");
    const Node* out_proj = r3 ? only_reader(v, r3->outputs[0], "FusedMatMul", "ferry") : nullptr;
    const Node* r4 = plain_fused_matmul(out_proj) ? only_reader(v, out_proj->outputs[0], "Reshape", "") : nullptr;
    const Node* t_out = r4 ? only_reader(v, r4->outputs[0], "Transpose", "") : nullptr;
    if (!is_swap01(t_out)) return false;
    std::vector<int64_t> xs, ps, r3s, r4s, zs;
    if (!static_dims(g, x, &xs) || !static_dims(g, p, &ps) ||
        !static_dims(g, r3->outputs[0], &r3s) || !static_dims(g, r4->outputs[0], &r4s) ||
        !static_dims(g, t_out->outputs[0], &zs))
      return false;
    if (xs.size() != 3 || ps.size() != 3 || r3s.size() != 2 || r4s.size() != 3 || zs.size() != 3) return false;
    const int64_t n = xs[0], s = xs[1];
    // Y is [S, N, H * dv] (its recorded type may still be torch's [S, N * H, dv]: the same memory).
    const int64_t ey = att.attr_int("num_heads", 0) * att.attr_int("v_head_dim", att.attr_int("head_dim", 0));
    if (ey <= 0 || ps[0] != s || ps[1] != n || r3s[0] != s * n || r3s[1] != ey ||
        r4s[0] != s || r4s[1] != n || zs[0] != n || zs[1] != s || zs[2] != r4s[2])
      return false;

    const size_t i_tin = static_cast<size_t>(t_in - g.nodes.data()), i_proj = static_cast<size_t>(proj - g.nodes.data());
    const size_t i_r3 = static_cast<size_t>(r3 - g.nodes.data()), i_out = static_cast<size_t>(out_proj - g.nodes.data());
    const size_t i_r4 = static_cast<size_t>(r4 - g.nodes.data()), i_tout = static_cast<size_t>(t_out - g.nodes.data());
    const std::string z = t_out->outputs[0];
    for (const std::string& gone : {t_in->outputs[0], r3->outputs[0], out_proj->outputs[0], r4->outputs[0]})
      g.value_info.erase(gone);
    const DType pt = g.type_of(p)->dtype;
    const DType yt = g.type_of(y) ? g.type_of(y)->dtype : pt;
    g.value_info[p] = ValueType{pt, SymShape::from_shape({n, s, ps[2]})};
    g.value_info[y] = ValueType{yt, SymShape::from_shape({n, s, ey})};
    g.nodes[i_proj].inputs[0] = x;
    g.nodes[index].attrs["seq_major"] = int_attr(0);
    g.nodes[i_out].inputs[0] = y;
    g.nodes[i_out].outputs[0] = z;
    std::vector<bool> dead(g.nodes.size(), false);
    for (size_t i : {i_tin, i_r3, i_r4, i_tout}) dead[i] = true;
    erase_nodes(g, dead);
    return true;
  }
};

}  // namespace

std::unique_ptr<RewriteRule> make_attention_batch_major_rule() { return std::make_unique<AttentionBatchMajor>(); }

}  // namespace ferry
