// executor.h — turns a verified Graph into a runnable plan of CPU kernels and runs it.
//
//   FERRY_ASSIGN_OR_RETURN(auto plan, CompiledGraph::compile(graph, {}));
//   ThreadPool pool(2);
//   FERRY_ASSIGN_OR_RETURN(std::vector<Tensor> outs, plan->run(inputs, pool));
//
// Each value name gets a slot index at compile time; a run fills slots with initializers and inputs, runs the
// kernels in topological order (inferring exact output shapes per node from the concrete inputs; a top-level
// run reuses the previous run's inference for nodes whose inputs kept their shapes), frees each
// intermediate after its last use, and returns the graph outputs in order. Subgraphs (If/Loop/Scan bodies) are
// compiled once, recursively, and run through the SubgraphRunner interface with enclosing values visible.
//
// Memory planning (top-level runs only): the first run for a set of input dtypes/shapes allocates from the heap
// and records every output's size, liveness and aliasing (views detected by data-pointer ranges); plan_memory()
// (memory_plan.h) turns that into offsets in one arena, with the elementwise ops of kInPlaceOps reusing their
// input's bytes. Later runs with the same input shapes take kernel outputs from the arena (no allocation) when
// the planned size fits, else from the heap. Graph outputs never live in the arena. Any run that departs from
// the plan (an output viewing arena bytes it was not planned to) copies that value to the heap and re-records
// on the next run. FERRY_MEMORY_PLAN=0 in the environment turns planning off; =verbose prints each plan; =check follows
// every recording run with a planned run whose outputs are returned (one-shot test runners exercise the arena).
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
#include "runtime/memory_plan.h"

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
  ~CompiledGraph();

  // Statistics of the current memory plan (arena_bytes == 0 and no values before the second run).
  MemoryPlan memory_plan() const;

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
  struct ArenaState;  // the plan cache, recording and arena (executor.cc)
  struct Recording;
  explicit CompiledGraph(const Graph& g);
  int slot(const std::string& name);
  Expected<std::vector<Tensor>> run_frame(Frame& frame, ThreadPool& pool, const NodeObserver* observer,
                                          Recording* rec, ArenaState* arena) const;
  // Infers the output types of `step` into *inferred, or into the step cache (`cache_slot`, a StepCache; null
  // without one), which it refills.
  Status infer_step(const Step& step, const std::vector<const Tensor*>& ins, void* cache_slot,
                    std::vector<ValueType>* inferred) const;
  static constexpr int64_t kMaxCachedValues = 64;  // inference-read inputs larger than this disable the cache
  void record_step(Recording& rec, size_t k, const std::vector<Tensor>& outs, const std::vector<const Tensor*>& ins,
                   const std::vector<const void*>& allocated) const;
  void build_plan(ArenaState& a, Recording& rec) const;

  const Graph& graph_;
  std::unordered_map<std::string, int> slot_of_;
  std::vector<std::string> slot_names_;
  std::vector<std::pair<int, const Tensor*>> constants_;
  std::vector<int> input_slots_, output_slots_;
  std::vector<int> outer_slots_;  // slots filled from enclosing frames by name
  std::vector<Step> steps_;
  std::unordered_map<const Graph*, std::unique_ptr<CompiledGraph>> subgraphs_;
  std::vector<int> last_use_;   // per slot: last step reading it, -1 when none
  std::vector<char> is_output_;  // per slot: a graph output
  std::vector<char> is_const_;   // per slot: an initializer (same value every run)
  std::unique_ptr<ArenaState> arena_;  // null when planning is off; guarded by its own mutex
};

}  // namespace ferry
