// fuse_conv_bn.cc — Conv followed by an inference BatchNormalization becomes one Conv whose weights and bias
// absorb the normalization: W'[m] = W[m] * s[m], b'[m] = b[m] * s[m] + t[m] (s, t from batchnorm_fold).
// New initializers get fresh names (weights may be shared by other nodes); the old ones go when unused.
#include <memory>

#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace ferry {

namespace {

class FuseConvBn : public RewriteRule {
 public:
  std::string name() const override { return "fuse_conv_bn"; }
  std::vector<std::string> op_types() const override { return {"BatchNormalization"}; }

  bool matches(const Model& model, const Node& bn) const override {
    const Graph& g = model.graph;
    if (!bn.has_input(0) || !bn.domain.empty()) return false;
    int p = fusable_producer(g, bn.inputs[0]);
    if (p < 0) return false;
    const Node& conv = g.nodes[static_cast<size_t>(p)];
    if (conv.op_type != "Conv" || !conv.domain.empty() || conv.inputs.size() < 2) return false;
    const Tensor* w = initializer_of(g, conv.inputs[1]);
    if (!w || w->dtype() != DType::kFloat || w->rank() < 3) return false;
    if (conv.has_input(2)) {
      const Tensor* b = initializer_of(g, conv.inputs[2]);
      if (!b || b->dtype() != DType::kFloat || b->numel() != w->dim(0)) return false;
    }
    return batchnorm_fold(g, bn, w->dim(0)).has_value();
  }

  Expected<bool> apply(Model& model, size_t i) override {
    Graph& g = model.graph;
    const Node& bn = g.nodes[i];
    size_t ci = static_cast<size_t>(fusable_producer(g, bn.inputs[0]));
    const Tensor& w = g.initializers.at(g.nodes[ci].inputs[1]);
    const int64_t m = w.dim(0), per = w.numel() / std::max<int64_t>(1, m);
    auto fold = batchnorm_fold(g, bn, m);
    if (!fold) return false;
    Tensor w2 = Tensor::empty(DType::kFloat, w.shape());
    Tensor b2 = Tensor::empty(DType::kFloat, {m});
    const Tensor* b = g.nodes[ci].has_input(2) ? initializer_of(g, g.nodes[ci].inputs[2]) : nullptr;
    for (int64_t o = 0; o < m; ++o) {
      for (int64_t k = 0; k < per; ++k)
        w2.data<float>()[o * per + k] = static_cast<float>(w.data<float>()[o * per + k] * fold->scale[o]);
      double bias = b ? b->data<float>()[o] : 0.0;
      b2.data<float>()[o] = static_cast<float>(bias * fold->scale[o] + fold->shift[o]);
    }
    Node& conv = g.nodes[ci];
    std::string wn = unique_value_name(g, conv.inputs[1] + "_bn");
    add_initializer(g, wn, std::move(w2));
    std::string bname = unique_value_name(g, (conv.name.empty() ? wn : conv.name) + "_bias_bn");
    add_initializer(g, bname, std::move(b2));
    conv.inputs.resize(3);
    conv.inputs[1] = wn;
    conv.inputs[2] = bname;
    conv.outputs[0] = g.nodes[i].outputs[0];
    erase_node(g, i);
    drop_unused_initializers(g);
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fuse_conv_bn() { return std::make_unique<RulePass>(std::make_unique<FuseConvBn>()); }

}  // namespace ferry
