// merge_parallel_convs.cc — standard ONNX Conv nodes that read the same input with identical attributes and
// constant weights become one Conv (weights and biases concatenated along the output channels) followed by one
// Split (axis 1) whose outputs keep the original names:
//
//   Conv(X, W1, B1) -> Y1          Conv(X, [W1;W2;W3], [B1;B2;0]) -> M
//   Conv(X, W2, B2) -> Y2    =>    Split(M, axis=1, split=[m1,m2,m3]) -> Y1, Y2, Y3
//   Conv(X, W3)     -> Y3          (a missing bias becomes zeros when another conv has one)
//
// The input is read (and im2col'd / packed) once instead of once per conv, and the GEMMs get wider. The Split
// copies the outputs, so the rule only merges where that copy is cheap next to the saved work: group == 1,
// at least two convs, and at most kMaxMergedChannels output channels in the merged conv (see below). The
// result uses standard ops only (split sizes as a constant input from opset 13, the attribute before), so
// `ferry optimize` output stays valid ONNX that ORT runs.
#include <algorithm>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace ferry {

namespace {

// Upper bound on the merged conv's output channels. Past it the convs are large GEMMs already (no packing or
// threading gain from widening them) while the Split's copy of the whole output keeps growing; it also bounds
// the size of the concatenated weight initializer. resnet-style blocks (64..512 channels per branch) stay under.
constexpr int64_t kMaxMergedChannels = 1024;

// Ops that ferry's conv fusions (fuse_conv_add / fuse_conv_activation / fuse_conv_act_add, and the NHWC chains
// built on them) and ORT's Conv fusions fold into the conv. A conv whose output feeds one of them is left alone:
// behind the Split the fusion no longer applies, and that loses more than the merge saves. Measured on resnet50
// (layer1.0 conv1 -> Relu and downsample -> Add, 64 + 256 channels): ferry t1 per-layer profile 1.44 ms for the
// two fused convs vs 3.5 ms merged (unfused NCHW conv 2.4 + NHWC Transpose 0.85 + Split 0.2 + Relu); ORT t1
// median 81-89 ms -> 83-93 ms. See docs/decisions.md.
bool feeds_conv_fusion(const Graph& g, const std::string& value) {
  static const char* const kFused[] = {"Add", "Sum", "Relu", "LeakyRelu", "Clip", "Sigmoid", "HardSwish",
                                       "HardSigmoid", "Tanh", "Mul", "BatchNormalization"};
  const GraphIndex& idx = g.index();
  auto it = idx.consumers.find(value);
  if (it == idx.consumers.end()) return false;
  for (int c : it->second) {
    const Node& n = g.nodes[static_cast<size_t>(c)];
    if (!n.domain.empty()) continue;
    for (const char* op : kFused)
      if (n.op_type == op) return true;
  }
  return false;
}

// Attributes the rule understands; a Conv with any other attribute is left alone.
bool known_attrs_only(const Node& n) {
  for (const auto& [key, a] : n.attrs) {
    (void)a;
    if (key != "kernel_shape" && key != "strides" && key != "pads" && key != "auto_pad" && key != "dilations" &&
        key != "group")
      return false;
  }
  return true;
}

// A mergeable Conv with its attributes normalized (defaults filled in) so that equal keys mean equal convs.
struct ConvInfo {
  int index = -1;
  const Tensor* w = nullptr;
  const Tensor* b = nullptr;
  std::string key;  // X | W dims 1.. | strides | pads | dilations | auto_pad
};

std::string join(const std::vector<int64_t>& v) {
  std::string s;
  for (int64_t x : v) s += std::to_string(x) + ",";
  return s;
}

bool describe(const Graph& g, int index, ConvInfo* out) {
  const Node& n = g.nodes[static_cast<size_t>(index)];
  if (n.op_type != "Conv" || !n.domain.empty() || !n.has_input(0) || !n.has_input(1) || n.inputs.size() > 3)
    return false;
  if (n.outputs.size() != 1 || !n.has_output(0) || !known_attrs_only(n) || n.attr_int("group", 1) != 1) return false;
  if (feeds_conv_fusion(g, n.outputs[0])) return false;
  const Tensor* w = initializer_of(g, n.inputs[1]);
  if (!w || w->dtype() != DType::kFloat || w->rank() < 3 || w->dim(0) <= 0) return false;
  const Tensor* b = nullptr;
  if (n.has_input(2)) {
    b = initializer_of(g, n.inputs[2]);
    if (!b || b->dtype() != DType::kFloat || b->numel() != w->dim(0)) return false;
  }
  const size_t sp = static_cast<size_t>(w->rank() - 2);
  std::vector<int64_t> wdims(w->shape().begin() + 1, w->shape().end());
  std::vector<int64_t> ks = n.attr_ints("kernel_shape");
  if (!ks.empty() && ks != std::vector<int64_t>(wdims.begin() + 1, wdims.end())) return false;
  std::vector<int64_t> strides = n.attr_ints("strides", std::vector<int64_t>(sp, 1));
  std::vector<int64_t> dil = n.attr_ints("dilations", std::vector<int64_t>(sp, 1));
  std::string auto_pad = n.attr_string("auto_pad", "NOTSET");
  std::vector<int64_t> pads = n.attr_ints("pads", std::vector<int64_t>(2 * sp, 0));
  if (auto_pad != "NOTSET") pads.clear();  // pads are ignored with auto_pad
  out->index = index;
  out->w = w;
  out->b = b;
  out->key = n.inputs[0] + "|" + join(wdims) + "|" + join(strides) + "|" + join(pads) + "|" + join(dil) + "|" +
             auto_pad;
  return true;
}

class MergeParallelConvs : public Pass {
 public:
  std::string name() const override { return "merge_parallel_convs"; }

  Expected<bool> run(Model& model) override {
    Graph& g = model.graph;
    // Groups of mergeable convs by key, in node order (the first member is where the merged conv goes).
    std::vector<std::vector<ConvInfo>> groups;
    std::unordered_map<std::string, size_t> group_of;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      ConvInfo c;
      if (!describe(g, static_cast<int>(i), &c)) continue;
      auto [it, fresh] = group_of.emplace(c.key, groups.size());
      if (fresh) groups.emplace_back();
      groups[it->second].push_back(c);
    }
    std::vector<bool> dead(g.nodes.size(), false);
    std::vector<std::pair<size_t, std::vector<Node>>> inserts;  // (position of the first conv, Conv + Split)
    ValueNamer namer(g);
    bool changed = false;
    for (const auto& grp : groups) {
      // Take convs in node order while the channel budget lasts; a chunk of one is left as it is.
      size_t start = 0;
      while (start < grp.size()) {
        size_t end = start;
        int64_t channels = 0;
        while (end < grp.size() && channels + grp[end].w->dim(0) <= kMaxMergedChannels)
          channels += grp[end++].w->dim(0);
        if (end - start < 2) {
          start = std::max(end, start + 1);
          continue;
        }
        inserts.emplace_back(static_cast<size_t>(grp[start].index), merge(g, grp, start, end, channels, namer));
        for (size_t k = start; k < end; ++k) dead[static_cast<size_t>(grp[k].index)] = true;
        changed = true;
        start = end;
      }
    }
    if (!changed) return false;
    // Replace each group's first conv by the merged Conv + Split, then drop the other members.
    for (auto& [pos, nodes] : inserts) {
      g.nodes[pos] = std::move(nodes[0]);
      dead[pos] = false;
      g.nodes.insert(g.nodes.begin() + static_cast<std::ptrdiff_t>(pos) + 1, std::move(nodes[1]));
      dead.insert(dead.begin() + static_cast<std::ptrdiff_t>(pos) + 1, false);
      for (auto& [p2, n2] : inserts) {
        (void)n2;
        if (p2 > pos) ++p2;
      }
    }
    erase_nodes(g, dead);
    drop_unused_initializers(g);
    return true;
  }

 private:
  // Builds the merged Conv and the Split for grp[start, end); adds the concatenated initializers.
  static std::vector<Node> merge(Graph& g, const std::vector<ConvInfo>& grp, size_t start, size_t end,
                                 int64_t channels, ValueNamer& namer) {
    const Node& first = g.nodes[static_cast<size_t>(grp[start].index)];
    const Tensor& w0 = *grp[start].w;
    Shape wshape = w0.shape();
    wshape[0] = channels;
    const int64_t per = w0.numel() / w0.dim(0);
    Tensor w = Tensor::empty(DType::kFloat, wshape);
    Tensor b = Tensor::empty(DType::kFloat, {channels});
    bool any_bias = false;
    std::vector<int64_t> sizes;
    std::vector<std::string> outs;
    int64_t row = 0;
    for (size_t k = start; k < end; ++k) {
      const ConvInfo& c = grp[k];
      const int64_t m = c.w->dim(0);
      std::copy_n(c.w->data<float>(), m * per, w.data<float>() + row * per);
      for (int64_t o = 0; o < m; ++o) b.data<float>()[row + o] = c.b ? c.b->data<float>()[o] : 0.f;
      any_bias = any_bias || c.b;
      sizes.push_back(m);
      outs.push_back(g.nodes[static_cast<size_t>(c.index)].outputs[0]);
      row += m;
    }
    const std::string base = first.name.empty() ? outs[0] : first.name;
    Node conv = Node::make("Conv", {first.inputs[0]}, {namer.make(base + "_merged")});
    conv.name = namer.make(base + "_merged_conv");
    conv.opset = first.opset;
    conv.attrs = first.attrs;
    std::string wn = namer.make(base + "_merged_W");
    add_initializer(g, wn, std::move(w));
    conv.inputs.push_back(wn);
    if (any_bias) {
      std::string bn = namer.make(base + "_merged_B");
      add_initializer(g, bn, std::move(b));
      conv.inputs.push_back(bn);
    }
    auto xt = g.value_info.find(first.inputs[0]);
    if (xt != g.value_info.end()) g.value_info[conv.outputs[0]] = {xt->second.dtype, SymShape::unknown()};

    Node split = Node::make("Split", {conv.outputs[0]}, outs);
    split.name = namer.make(base + "_merged_split");
    split.opset = first.opset;
    split.attrs["axis"].kind = Attr::Kind::kInt;
    split.attrs["axis"].i = 1;
    if (split.opset >= 13) {
      Tensor s = Tensor::empty(DType::kInt64, {static_cast<int64_t>(sizes.size())});
      std::copy(sizes.begin(), sizes.end(), s.data<int64_t>());
      std::string sn = namer.make(base + "_merged_split_sizes");
      add_initializer(g, sn, std::move(s));
      split.inputs.push_back(sn);
    } else {
      split.attrs["split"].kind = Attr::Kind::kInts;
      split.attrs["split"].ints = sizes;
    }
    return {std::move(conv), std::move(split)};
  }
};

}  // namespace

std::unique_ptr<Pass> make_merge_parallel_convs() { return std::make_unique<MergeParallelConvs>(); }

}  // namespace ferry
