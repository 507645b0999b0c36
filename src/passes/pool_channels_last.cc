// pool_channels_last.cc — a float 2-D MaxPool between NHWC convs runs in NHWC too (ResNet's stem pool):
//   MaxPool(Transpose[0,3,1,2](v)) -> Transpose[0,3,1,2](ferry.MaxPoolNhwc(v))
// and every reader of the pool that is a FusedConv reading NCHW X into an NHWC region (channels_last=2) reads
// the NHWC pool output instead (channels_last=1). Without it the stem's NHWC output is transposed to NCHW for
// the pool and the pool output reordered back once per reading conv (resnet50: 3 full-tensor layout changes).
// Runs after conv_channels_last (which leaves that Transpose); the Transposes nobody reads any more go in DCE.
// Conditions: MaxPool without Indices, storage_order 0, float32 input, 2-D kernel.
#include <memory>

#include "passes/conv_fusions.h"
#include "passes/graph_edit.h"
#include "passes/layout_util.h"

namespace ferry {

namespace {

class PoolChannelsLast : public Pass {
 public:
  std::string name() const override { return "pool_channels_last"; }

  Expected<bool> run(Model& model) override {
    Graph& g = model.graph;
    auto producers = build_producers(g);
    auto consumers = build_consumers(g);
    ValueNamer names(g);
    bool changed = false;
    const size_t n0 = g.nodes.size();
    for (size_t i = 0; i < n0; ++i) {
      {
        const Node& p = g.nodes[i];
        if (p.op_type != "MaxPool" || !p.domain.empty() || p.inputs.size() != 1 || !p.has_input(0)) continue;
        if (p.outputs.size() != 1 || !p.has_output(0) || p.attr_int("storage_order", 0) != 0) continue;
        if (p.attr_ints("kernel_shape").size() != 2 || read_by_subgraph(g, p.outputs[0])) continue;
        const ValueType* t = g.type_of(p.inputs[0]);
        if (!t || t->dtype != DType::kFloat) continue;
        auto pr = producers.find(p.inputs[0]);
        if (pr == producers.end() || !is_transpose(g.nodes[static_cast<size_t>(pr->second)], kToNchw)) continue;
      }
      Node& p = g.nodes[i];
      const std::string nhwc_in = g.nodes[static_cast<size_t>(producers[p.inputs[0]])].inputs[0];
      const std::string orig = p.outputs[0];
      const std::string y = names.make(orig + "_nhwc");
      p.op_type = "MaxPoolNhwc";
      p.domain = "ferry";
      p.opset = 1;
      p.attrs.erase("storage_order");
      p.inputs[0] = nhwc_in;
      p.outputs[0] = y;
      for (int c : consumers[orig]) {
        Node& r = g.nodes[static_cast<size_t>(c)];
        if (r.op_type == "FusedConv" && r.domain == "ferry" && r.attr_int("channels_last", 0) == 2 &&
            r.inputs[0] == orig) {
          r.inputs[0] = y;
          r.attrs["channels_last"].i = 1;
        }
      }
      g.value_info.erase(y);
      g.nodes.push_back(make_transpose(y, orig, kToNchw, "_transpose"));
      changed = true;
    }
    if (changed) {
      g.invalidate_index();
      FERRY_RETURN_IF_ERROR(g.topo_sort());
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> make_pool_channels_last() { return std::make_unique<PoolChannelsLast>(); }

}  // namespace ferry
