// eliminate_dead_code.cc — removes nodes none of whose outputs reaches a graph output, then initializers and
// value_info entries nothing reads any more. ONNX ops have no side effects, so this is always safe.
#include <memory>
#include <unordered_set>

#include "passes/graph_edit.h"
#include "passes/passes.h"

namespace ferry {

namespace {

class EliminateDeadCode : public Pass {
 public:
  std::string name() const override { return "eliminate_dead_code"; }

  Expected<bool> run(Model& model) override {
    Graph& g = model.graph;
    // Walk backwards from the graph outputs (nodes are topologically sorted).
    std::unordered_set<std::string> live(g.outputs.begin(), g.outputs.end());
    std::vector<bool> dead(g.nodes.size(), true);
    for (size_t k = g.nodes.size(); k-- > 0;) {
      const Node& n = g.nodes[k];
      bool used = false;
      for (const auto& o : n.outputs) used |= !o.empty() && live.count(o);
      if (!used) continue;
      dead[k] = false;
      for (const auto& in : n.inputs) live.insert(in);
      for (const auto& [key, a] : n.attrs) {
        if (a.g) live.insert(a.g->outer_refs.begin(), a.g->outer_refs.end());
        for (const auto& sg : a.graphs) live.insert(sg->outer_refs.begin(), sg->outer_refs.end());
      }
    }
    size_t before_inits = g.initializers.size();
    bool removed = false;
    for (bool d : dead) removed |= d;
    if (removed) erase_nodes(g, dead);
    drop_unused_initializers(g);
    return removed || g.initializers.size() != before_inits;
  }
};

}  // namespace

std::unique_ptr<Pass> make_eliminate_dead_code() { return std::make_unique<EliminateDeadCode>(); }

}  // namespace ferry
