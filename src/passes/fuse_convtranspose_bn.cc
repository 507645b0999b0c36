// fuse_convtranspose_bn.cc — ConvTranspose [+ Add(per-channel constant)] + inference BatchNormalization becomes
// one ConvTranspose. ConvTranspose weights are [C_in, M/group, k...]: output channel o of input channel c is
// (c / (C_in/group)) * (M/group) + j for weight slice W[c, j]. The Add constant (a scalar, or a tensor whose only
// non-1 dim is the channel axis) folds into the bias before the normalization does.
#include <memory>

#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace ferry {

namespace {

struct Match {
  int deconv = -1;  // ConvTranspose node
  int add = -1;     // optional Add between it and the BatchNormalization
  const Tensor* add_const = nullptr;
  int64_t channels = 0;
};

// Per-channel value of an Add constant broadcast against a rank-`rank` NC... output, or false.
bool channel_constant(const Tensor& c, int rank, int64_t channels) {
  if (c.dtype() != DType::kFloat) return false;
  if (c.numel() == 1) return true;
  if (c.rank() < rank - 1 || c.rank() > rank) return false;
  for (int k = 0; k < c.rank(); ++k) {
    int axis = rank - c.rank() + k;  // right-aligned
    if (c.dim(k) != (axis == 1 ? channels : 1)) return false;
  }
  return true;
}

std::optional<Match> match(const Graph& g, const Node& bn) {
  if (!bn.has_input(0) || !bn.domain.empty()) return std::nullopt;
  Match m;
  int p = fusable_producer(g, bn.inputs[0]);
  if (p < 0) return std::nullopt;
  if (g.nodes[static_cast<size_t>(p)].op_type == "Add" && g.nodes[static_cast<size_t>(p)].domain.empty()) {
    const Node& add = g.nodes[static_cast<size_t>(p)];
    if (add.inputs.size() != 2) return std::nullopt;
    for (int side = 0; side < 2 && m.deconv < 0; ++side) {
      const Tensor* c = initializer_of(g, add.inputs[static_cast<size_t>(1 - side)]);
      int q = c ? fusable_producer(g, add.inputs[static_cast<size_t>(side)]) : -1;
      if (q >= 0 && g.nodes[static_cast<size_t>(q)].op_type == "ConvTranspose") {
        m.deconv = q;
        m.add = p;
        m.add_const = c;
      }
    }
  } else {
    m.deconv = p;
  }
  if (m.deconv < 0) return std::nullopt;
  const Node& ct = g.nodes[static_cast<size_t>(m.deconv)];
  if (ct.op_type != "ConvTranspose" || !ct.domain.empty() || ct.inputs.size() < 2) return std::nullopt;
  const Tensor* w = initializer_of(g, ct.inputs[1]);
  int64_t group = ct.attr_int("group", 1);
  if (!w || w->dtype() != DType::kFloat || w->rank() < 3 || group < 1 || w->dim(0) % group) return std::nullopt;
  m.channels = w->dim(1) * group;
  if (ct.has_input(2)) {
    const Tensor* b = initializer_of(g, ct.inputs[2]);
    if (!b || b->dtype() != DType::kFloat || b->numel() != m.channels) return std::nullopt;
  }
  if (m.add_const && !channel_constant(*m.add_const, w->rank(), m.channels)) return std::nullopt;
  if (!batchnorm_fold(g, bn, m.channels)) return std::nullopt;
  return m;
}

class FuseConvTransposeBn : public RewriteRule {
 public:
  std::string name() const override { return "fuse_convtranspose_bn"; }
  std::vector<std::string> op_types() const override { return {"BatchNormalization"}; }
  bool matches(const Model& model, const Node& bn) const override { return match(model.graph, bn).has_value(); }

  Expected<bool> apply(Model& model, size_t i) override {
    Graph& g = model.graph;
    auto m = match(g, g.nodes[i]);
    if (!m) return false;
    auto fold = batchnorm_fold(g, g.nodes[i], m->channels);
    Node& ct = g.nodes[static_cast<size_t>(m->deconv)];
    const Tensor& w = g.initializers.at(ct.inputs[1]);
    const int64_t cin = w.dim(0), per_group_out = w.dim(1), k = w.numel() / (cin * per_group_out);
    const int64_t cin_per_group = cin / ct.attr_int("group", 1);
    Tensor w2 = Tensor::empty(DType::kFloat, w.shape());
    for (int64_t c = 0; c < cin; ++c)
      for (int64_t j = 0; j < per_group_out; ++j) {
        double s = fold->scale[static_cast<size_t>((c / cin_per_group) * per_group_out + j)];
        const float* src = w.data<float>() + (c * per_group_out + j) * k;
        float* dst = w2.data<float>() + (c * per_group_out + j) * k;
        for (int64_t e = 0; e < k; ++e) dst[e] = static_cast<float>(src[e] * s);
      }
    const Tensor* b = ct.has_input(2) ? initializer_of(g, ct.inputs[2]) : nullptr;
    Tensor b2 = Tensor::empty(DType::kFloat, {m->channels});
    for (int64_t o = 0; o < m->channels; ++o) {
      double bias = b ? b->data<float>()[o] : 0.0;
      if (m->add_const) bias += m->add_const->data<float>()[m->add_const->numel() == 1 ? 0 : o];
      b2.data<float>()[o] = static_cast<float>(bias * fold->scale[static_cast<size_t>(o)] + fold->shift[static_cast<size_t>(o)]);
    }
    std::string wn = unique_value_name(g, ct.inputs[1] + "_bn");
    add_initializer(g, wn, std::move(w2));
    std::string bname = unique_value_name(g, wn + "_bias");
    add_initializer(g, bname, std::move(b2));
    ct.inputs.resize(3);
    ct.inputs[1] = wn;
    ct.inputs[2] = bname;
    ct.outputs[0] = g.nodes[i].outputs[0];
    std::vector<bool> dead(g.nodes.size(), false);
    dead[i] = true;
    if (m->add >= 0) dead[static_cast<size_t>(m->add)] = true;
    erase_nodes(g, dead);
    drop_unused_initializers(g);
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fuse_convtranspose_bn() {
  return std::make_unique<RulePass>(std::make_unique<FuseConvTransposeBn>());
}

}  // namespace ferry
