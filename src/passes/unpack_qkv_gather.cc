// unpack_qkv_gather.cc — torch 2.x's split of a packed QKV projection, rewritten as the Slices of torch 1.13.
//
// torch >= 2.0's nn.MultiheadAttention (F._in_projection_packed) splits the self-attention projection P[..., G*E] as
//   proj.unflatten(-1, (G, E)).unsqueeze(0).transpose(0, -2).squeeze(-2).contiguous(); q, k, v = proj[0..2]
// which the exporter writes as
//   R = Reshape(P, [..., G, E]) -> U = Unsqueeze(R, [0]) -> T = Transpose(U, perm swapping 0 and r)
//     -> Q = Squeeze(T, [r]) -> Gather(Q, k, axis 0)          (r = rank of P; one Gather per k)
// Each Gather is P[..., k*E : (k+1)*E], so it becomes Slice(P, [k*E], [(k+1)*E], [-1]): the [G, ...] copy (a
// general permute) and the Gather copies go, and fuse_attention's head split (which knows the Slice form) can then
// read Q, K and V in place from P. The Reshape/Unsqueeze/Transpose/Squeeze chain is left for dead-code removal.
#include <optional>

#include "passes/fuse_transformer.h"
#include "passes/fusion_util.h"
#include "passes/graph_edit.h"

namespace ferry {

namespace {

// The integers of a constant int tensor, or nullopt.
std::optional<std::vector<int64_t>> const_ints(const FusionView& v, const std::string& value) {
  const Tensor* t = v.constant(value);
  if (!t) return std::nullopt;
  std::vector<int64_t> out;
  if (t->dtype() == DType::kInt64) out.assign(t->data<int64_t>(), t->data<int64_t>() + t->numel());
  else if (t->dtype() == DType::kInt32) out.assign(t->data<int32_t>(), t->data<int32_t>() + t->numel());
  else return std::nullopt;
  return out;
}

// Unsqueeze/Squeeze axes: the attribute (opset < 13) or the constant second input.
std::optional<std::vector<int64_t>> axes_of(const FusionView& v, const Node& n) {
  if (n.inputs.size() > 1 && !n.inputs[1].empty()) return const_ints(v, n.inputs[1]);
  if (n.attrs.count("axes")) return n.attr_ints("axes");
  return std::nullopt;
}

const SymShape* static_shape_of(const Graph& g, const std::string& value) {
  const ValueType* t = g.type_of(value);
  if (!t || !t->shape.rank_known) return nullptr;
  for (const Dim& d : t->shape.dims)
    if (!d.known()) return nullptr;
  return &t->shape;
}

class UnpackQkvGather : public RewriteRule {
 public:
  std::string name() const override { return "unpack_qkv_gather"; }
  std::vector<std::string> op_types() const override { return {"Gather"}; }
  bool matches(const Model&, const Node& n) const override {
    return n.domain.empty() && n.inputs.size() == 2 && n.outputs.size() == 1 && n.attr_int("axis", 0) == 0;
  }

  Expected<bool> apply(Model& model, size_t index) override {
    Graph& g = model.graph;
    FusionView v(g);
    const Node& gather = g.nodes[index];
    auto k = const_ints(v, gather.inputs[1]);
    const ValueType* kt = g.type_of(gather.inputs[1]);
    if (!k || k->size() != 1 || !kt || !kt->shape.rank_known || kt->shape.rank() != 0) return false;
    const Node* sq = v.producer(gather.inputs[0], "Squeeze");
    const Node* tr = sq ? v.producer(sq->inputs[0], "Transpose") : nullptr;
    const Node* un = tr ? v.producer(tr->inputs[0], "Unsqueeze") : nullptr;
    const Node* rs = un ? v.producer(un->inputs[0], "Reshape") : nullptr;
    if (!rs) return false;
    const std::string& p = rs->inputs[0];
    const SymShape* ps = static_shape_of(g, p);
    const SymShape* rss = static_shape_of(g, rs->outputs[0]);
    if (!ps || !rss || ps->rank() < 1 || rss->rank() != ps->rank() + 1) return false;
    const int64_t r = ps->rank();
    // R = P's shape with the last axis split into (G, E).
    for (int64_t i = 0; i + 1 < r; ++i)
      if (rss->dims[static_cast<size_t>(i)].value != ps->dims[static_cast<size_t>(i)].value) return false;
    const int64_t groups = rss->dims[static_cast<size_t>(r - 1)].value, e = rss->dims[static_cast<size_t>(r)].value;
    if (groups <= 0 || e <= 0 || groups * e != ps->dims[static_cast<size_t>(r - 1)].value) return false;
    auto ua = axes_of(v, *un), sa = axes_of(v, *sq);
    if (!ua || *ua != std::vector<int64_t>{0}) return false;  // U [1, ..., G, E] of rank r + 2
    if (!sa || sa->size() != 1 || ((*sa)[0] != r && (*sa)[0] != -2)) return false;
    std::vector<int64_t> perm(static_cast<size_t>(r + 2));
    for (int64_t i = 0; i < r + 2; ++i) perm[static_cast<size_t>(i)] = i;
    std::swap(perm[0], perm[static_cast<size_t>(r)]);
    if (tr->attr_ints("perm") != perm) return false;
    int64_t idx = (*k)[0] < 0 ? (*k)[0] + groups : (*k)[0];
    if (idx < 0 || idx >= groups || gather.opset < 10) return false;  // Slice takes inputs from opset 10
    const int64_t opset = gather.opset;

    ValueNamer names(g);
    const std::string base = gather.outputs[0];
    auto add_i64 = [&](const std::string& what, int64_t x) {
      std::string n = names.make(base + "_" + what);
      add_initializer(g, n, Tensor::from_vector<int64_t>(DType::kInt64, {1}, {x}));
      return n;
    };
    Node slice = Node::make("Slice", {p, add_i64("start", idx * e), add_i64("end", (idx + 1) * e), add_i64("axes", -1)},
                            {base});
    slice.name = g.nodes[index].name.empty() ? "" : g.nodes[index].name + "_slice";
    slice.opset = opset;
    g.nodes[index] = std::move(slice);
    return true;
  }
};

}  // namespace

std::unique_ptr<RewriteRule> make_unpack_qkv_gather_rule() { return std::make_unique<UnpackQkvGather>(); }

}  // namespace ferry
