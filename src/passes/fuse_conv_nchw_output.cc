// fuse_conv_nchw_output.cc — the last conv of an NHWC region writes NCHW itself:
//   Transpose[0,3,1,2](FusedConv(x_nhwc; channels_last=1)) -> FusedConv(x_nhwc; channels_last=3)
// Runs after conv_channels_last, which leaves such a Transpose where a conv chain ends in a layout-sensitive op
// (YOLO's detection heads: Conv -> Reshape). The conv's primitive stays NHWC and oneDNN's jit reorder writes the
// NCHW result, which is several times faster than a separate Transpose node over the same tensor.
// Conditions: the conv has no Z (Z would have to change layout too), its output is read only by that Transpose
// and is not a graph output.
#include <memory>

#include "passes/conv_fusions.h"
#include "passes/graph_edit.h"

namespace ferry {

namespace {

bool is_to_nchw(const Node& n) {
  return n.op_type == "Transpose" && n.domain.empty() && n.inputs.size() == 1 && n.outputs.size() == 1 &&
         n.attr_ints("perm") == std::vector<int64_t>{0, 3, 1, 2};
}

class FuseConvNchwOutput : public Pass {
 public:
  std::string name() const override { return "fuse_conv_nchw_output"; }

  Expected<bool> run(Model& model) override {
    Graph& g = model.graph;
    auto consumers = build_consumers(g);
    std::vector<bool> dead(g.nodes.size(), false);
    bool changed = false;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      Node& n = g.nodes[i];
      if (n.op_type != "FusedConv" || n.domain != "ferry" || n.has_input(3) || !n.has_output(0)) continue;
      if (n.attr_int("channels_last", 0) != 1 || is_graph_output(g, n.outputs[0])) continue;
      const auto& readers = consumers[n.outputs[0]];
      if (readers.size() != 1) continue;
      const size_t t = static_cast<size_t>(readers[0]);
      if (dead[t] || !is_to_nchw(g.nodes[t]) || g.nodes[t].inputs[0] != n.outputs[0]) continue;
      g.value_info.erase(n.outputs[0]);
      n.outputs[0] = g.nodes[t].outputs[0];
      n.attrs["channels_last"].i = 3;
      dead[t] = true;
      changed = true;
    }
    if (changed) erase_nodes(g, dead);
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fuse_conv_nchw_output() { return std::make_unique<FuseConvNchwOutput>(); }

}  // namespace ferry
