// gemm_to_conv.cc — a classifier head's Gemm on pooled features becomes a 1x1 Conv, so the head stays 4-D:
//
//   P = GlobalAveragePool(X)  |  ReduceMean(X, axes = {2, 3}, keepdims = 1)       P: [N, C, 1, 1]
//   A = Flatten(P, axis = 1)  |  Reshape(P, [0 | -1 | N, C])                      A: [N, C]
//   Y = Gemm(A, B, bias)      transA = 0, alpha = beta = 1, B constant, bias constant [M] / [1, M] (or none)
// becomes
//   Z = Conv(P, W, bias)      W = B as [M, C, 1, 1] (transposed first when transB = 0), kernel 1x1
//   Y = Flatten(Z, axis = 1)  (same name Y; a free view of the [N, M, 1, 1] result)
//
// Only standard ops, so `ferry optimize` output still runs in ONNX Runtime. It pays because the conv fusions and
// the channels-last region (and the CUDA NHWC path) take the 1x1 conv without a layout break at the head.
// Left alone: transA = 1, alpha/beta != 1, non-constant weights, a bias that broadcasts over N ([N, M], [N, 1]),
// non-float types, and heads whose pooled tensor has no known [N, C, 1, 1] shape.
#include <memory>

#include "passes/fusion_util.h"
#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace ferry {

namespace {

// The pooled [N, C, 1, 1] value behind the Gemm's A (the producer of A is a Flatten/Reshape of it), else "".
std::string pooled_input(const FusionView& v, const std::string& a, int64_t channels) {
  const Graph& g = v.graph();
  const Node* flat = v.producer(a, "Flatten");
  if (flat) {
    if (flat->inputs.size() != 1 || flat->attr_int("axis", 1) != 1) return "";
  } else {
    flat = v.producer(a, "Reshape");
    if (!flat || flat->inputs.size() != 2 || flat->attr_int("allowzero", 0) != 0) return "";
    std::optional<std::vector<int64_t>> shape = constant_ints(g, flat->inputs[1]);
    if (!shape || shape->size() != 2 || (*shape)[1] != channels) return "";
    // [0, C] and [-1, C] keep N; a literal N must equal the known batch (checked against P's type below).
    if ((*shape)[0] != 0 && (*shape)[0] != -1) {
      const ValueType* pt = g.type_of(flat->inputs[0]);
      if (!pt || !pt->shape.rank_known || pt->shape.rank() < 1 || !pt->shape.dims[0].known() ||
          pt->shape.dims[0].value != (*shape)[0])
        return "";
    }
  }
  const std::string& p = flat->inputs[0];
  const ValueType* pt = g.type_of(p);
  if (!pt || pt->dtype != DType::kFloat || !pt->shape.rank_known || pt->shape.rank() != 4) return "";
  const auto& d = pt->shape.dims;
  if (!d[1].known() || d[1].value != channels || !d[2].known() || d[2].value != 1 || !d[3].known() ||
      d[3].value != 1)
    return "";
  // Only a pooled head: that is where the 4-D form pays (a general [N, C, 1, 1] Flatten has no conv region).
  const Node* pool = v.producer(p, "GlobalAveragePool");
  if (!pool) {
    pool = v.producer(p, "ReduceMean");
    if (!pool || pool->attr_int("keepdims", 1) != 1) return "";
    std::vector<int64_t> axes = pool->attr_ints("axes");
    if (pool->inputs.size() >= 2 && !pool->inputs[1].empty()) {
      std::optional<std::vector<int64_t>> in_axes = constant_ints(g, pool->inputs[1]);
      if (!in_axes) return "";
      axes = *in_axes;
    }
    if (axes.size() != 2) return "";
    for (int64_t& ax : axes) ax = ax < 0 ? ax + 4 : ax;
    if (!((axes[0] == 2 && axes[1] == 3) || (axes[0] == 3 && axes[1] == 2))) return "";
  }
  return p;
}

struct HeadMatch {
  std::string pooled;      // P
  const Tensor* b = nullptr;
  const Tensor* bias = nullptr;  // nullptr when the Gemm has no C
  int64_t m = 0, c = 0;
  bool trans_b = true;
};

std::optional<HeadMatch> match_head(const Graph& g, const Node& n) {
  if (n.op_type != "Gemm" || !n.domain.empty() || n.inputs.size() < 2 || n.outputs.size() != 1) return std::nullopt;
  if (!n.has_input(0) || !n.has_input(1) || !n.has_output(0)) return std::nullopt;
  if (n.attr_int("transA", 0) != 0 || n.attr_float("alpha", 1.f) != 1.f || n.attr_float("beta", 1.f) != 1.f)
    return std::nullopt;
  FusionView v(g);
  HeadMatch h;
  h.trans_b = n.attr_int("transB", 0) != 0;
  h.b = v.constant(n.inputs[1]);
  if (!h.b || h.b->dtype() != DType::kFloat || h.b->rank() != 2) return std::nullopt;
  h.m = h.trans_b ? h.b->shape()[0] : h.b->shape()[1];
  h.c = h.trans_b ? h.b->shape()[1] : h.b->shape()[0];
  if (h.m <= 0 || h.c <= 0) return std::nullopt;
  if (n.has_input(2)) {
    h.bias = v.constant(n.inputs[2]);
    if (!h.bias || h.bias->dtype() != DType::kFloat || h.bias->numel() != h.m) return std::nullopt;
    // [M] or [1, M] only: a [N, M] / [N, 1] bias would vary over the batch (M == 1 is the same either way).
    if (h.bias->rank() == 2 ? h.bias->shape()[0] != 1 : h.bias->rank() != 1) return std::nullopt;
  }
  const ValueType* y = g.type_of(n.outputs[0]);
  if (!y || y->dtype != DType::kFloat) return std::nullopt;
  h.pooled = pooled_input(v, n.inputs[0], h.c);
  if (h.pooled.empty()) return std::nullopt;
  return h;
}

class GemmToConv : public RewriteRule {
 public:
  std::string name() const override { return "gemm_to_conv"; }
  std::vector<std::string> op_types() const override { return {"Gemm"}; }
  bool matches(const Model& model, const Node& n) const override { return match_head(model.graph, n).has_value(); }

  Expected<bool> apply(Model& model, size_t i) override {
    Graph& g = model.graph;
    std::optional<HeadMatch> h = match_head(g, g.nodes[i]);
    if (!h) return false;
    const Node gemm = g.nodes[i];
    ValueNamer names(g);

    // W[m, c, 0, 0] = B[m, c] (transB = 1) or B[c, m] (transB = 0).
    Tensor w = Tensor::empty(DType::kFloat, {h->m, h->c, 1, 1});
    const float* b = h->b->data<float>();
    float* wd = w.data<float>();
    for (int64_t m = 0; m < h->m; ++m)
      for (int64_t c = 0; c < h->c; ++c) wd[m * h->c + c] = h->trans_b ? b[m * h->c + c] : b[c * h->m + m];
    std::string w_name = names.make(gemm.inputs[1] + "_conv1x1");
    std::vector<std::string> conv_in = {h->pooled, w_name};
    if (h->bias) {
      Tensor bias = Tensor::empty(DType::kFloat, {h->m});
      const float* src = h->bias->data<float>();
      for (int64_t m = 0; m < h->m; ++m) bias.data<float>()[m] = src[m];
      std::string bias_name = names.make(gemm.inputs[2] + "_conv1x1");
      add_initializer(g, bias_name, std::move(bias));
      conv_in.push_back(bias_name);
    }
    add_initializer(g, w_name, std::move(w));

    const std::string y = gemm.outputs[0];
    const std::string z = names.make(y + "_conv1x1");
    Node conv = Node::make("Conv", conv_in, {z});
    conv.name = names.make(gemm.name.empty() ? std::string("gemm_to_conv") : gemm.name + "_conv1x1");
    conv.opset = gemm.opset;
    Attr k;
    k.kind = Attr::Kind::kInts;
    k.ints = {1, 1};
    conv.attrs["kernel_shape"] = k;
    Node flat = Node::make("Flatten", {z}, {y});
    flat.name = names.make(conv.name + "_flatten");
    flat.opset = gemm.opset;
    Attr axis;
    axis.kind = Attr::Kind::kInt;
    axis.i = 1;
    flat.attrs["axis"] = axis;

    // Z: [N, M, 1, 1] with Y's batch dim (known or symbolic).
    SymShape zs;
    zs.rank_known = true;
    const ValueType* yt = g.type_of(y);
    Dim batch = (yt && yt->shape.rank_known && yt->shape.rank() == 2) ? yt->shape.dims[0] : Dim{};
    zs.dims = {batch, Dim{}, Dim{}, Dim{}};
    zs.dims[1].value = h->m;
    zs.dims[2].value = 1;
    zs.dims[3].value = 1;
    g.value_info[z] = {DType::kFloat, zs};

    // The Gemm's slot takes the Conv, the Flatten follows it; the old Flatten/Reshape of P goes when no other
    // node reads its output (dead-code elimination sweeps it and the unused B / bias initializers).
    g.nodes[i] = std::move(conv);
    g.nodes.insert(g.nodes.begin() + static_cast<std::ptrdiff_t>(i) + 1, std::move(flat));
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> make_gemm_to_conv() { return std::make_unique<RulePass>(std::make_unique<GemmToConv>()); }

}  // namespace ferry
