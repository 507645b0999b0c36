// executor.h — turns a verified Graph into a runnable plan of CPU kernels and runs it.
//
//   FERRY_ASSIGN_OR_RETURN(auto plan, CompiledGraph::compile(graph, {}));
//   ThreadPool pool(2);
//   FERRY_ASSIGN_OR_RETURN(std::vector<Tensor> outs, plan->run(inputs, pool));
//
// Each value name gets a slot index at compile time; a run fills slots with initializers and inputs, runs the
// kernels in topological order (inferring exact output shapes per node from the concrete inputs), frees each
// intermediate after its last use, and returns the graph outputs in order. Subgraphs (If/Loop/Scan bodies) are
// compiled once, recursively, and run through the SubgraphRunner interface with enclosing values visible.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "backends/cpu/kernel.h"
#include "core/threadpool.h"
#include "ferry/status.h"
#include "ir/graph.h"
#include "ops/op_registry.h"

namespace ferry {

class CompiledGraph {
 public:
  // `outer_scope`: names visible from enclosing graphs (for subgraphs). Errors: unknown op, bad node.
  static Expected<std::unique_ptr<CompiledGraph>> compile(const Graph& graph,
                                                          const std::vector<std::string>& outer_scope);

  // Called after each node of this graph (not of subgraphs) with (node, start_ns, end_ns).
  using NodeObserver = std::function<void(const Node&, int64_t, int64_t)>;

  // Runs with graph inputs in Graph::inputs order. Inputs are not modified.
  Expected<std::vector<Tensor>> run(const std::vector<Tensor>& inputs, ThreadPool& pool,
                                    const NodeObserver* observer = nullptr) const;

  const Graph& graph() const { return graph_; }

  struct Frame;  // per-run values (defined in executor.cc)
  Expected<std::vector<Tensor>> run_in(const std::vector<Tensor>& inputs, ThreadPool& pool, const Frame* parent,
                                       const NodeObserver* observer = nullptr) const;

 private:
  struct Step {
    const Node* node = nullptr;
    const OpSchema* schema = nullptr;
    std::unique_ptr<CpuKernel> kernel;
    std::vector<int> inputs;   // slot per node input, -1 when absent
    std::vector<int> outputs;  // slot per node output, -1 when absent
    std::vector<int> release;  // slots whose last reader is this step
  };
  explicit CompiledGraph(const Graph& g) : graph_(g) {}
  int slot(const std::string& name);

  const Graph& graph_;
  std::unordered_map<std::string, int> slot_of_;
  std::vector<std::string> slot_names_;
  std::vector<std::pair<int, const Tensor*>> constants_;
  std::vector<int> input_slots_, output_slots_;
  std::vector<int> outer_slots_;  // slots filled from enclosing frames by name
  std::vector<Step> steps_;
  std::unordered_map<const Graph*, std::unique_ptr<CompiledGraph>> subgraphs_;
};

}  // namespace ferry
