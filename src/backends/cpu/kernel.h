// kernel.h — the CPU kernel contract.
//
// A kernel implements one (domain, op_type) on the CPU. It is created once per node when a session is built
// (the factory may validate attributes and precompute state: prepacked weights, oneDNN primitives) and run
// many times. A kernel never allocates its outputs itself: it asks the KernelContext, which hands out
// buffers from the session's allocator with the shape inference computed for this run. Kernels return Status,
// never throw, never abort; errors name the node via ctx.error().
//
// Adding an op = a function in src/backends/cpu/kernels/<family>.cc registered inside
// register_<family>_kernels(KernelRegistry&), e.g.
//
//   Status relu(KernelContext& ctx) {
//     const Tensor& x = *ctx.input(0);
//     FERRY_ASSIGN_OR_RETURN(Tensor* y, ctx.output(0));   // shape/dtype from inference
//     ...
//     return Status::ok();
//   }
//   void register_elementwise_kernels(KernelRegistry& r) { r.add_fn("", "Relu", relu); }
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/threadpool.h"
#include "ferry/status.h"
#include "ferry/tensor.h"
#include "ir/graph.h"

namespace ferry {

// Runs a subgraph (If/Loop/Scan bodies) with the given graph inputs; values of enclosing scopes are visible.
class SubgraphRunner {
 public:
  virtual ~SubgraphRunner() = default;
  virtual Expected<std::vector<Tensor>> run(const Graph& graph, const std::vector<Tensor>& inputs) = 0;
};

// Where KernelContext::output() takes output storage from. The executor implements it with its planned arena;
// without one (subgraphs, constant folding, tests) outputs come from the heap.
class OutputMemory {
 public:
  virtual ~OutputMemory() = default;
  // Storage for output `i` of the running node, or an undefined Tensor to fall back to the heap. Never throws.
  virtual Tensor allocate(int i, DType dtype, const Shape& shape) = 0;
};

class KernelContext {
 public:
  KernelContext(const Node& node, std::vector<const Tensor*> inputs, std::vector<ValueType> inferred,
                std::vector<Tensor>* outputs, ThreadPool* pool, SubgraphRunner* subgraphs)
      : node_(node), inputs_(std::move(inputs)), inferred_(std::move(inferred)), outputs_(outputs), pool_(pool),
        subgraphs_(subgraphs) {}

  const Node& node() const { return node_; }
  int opset() const { return node_.opset; }
  int num_inputs() const { return static_cast<int>(inputs_.size()); }
  // Input i, or nullptr when the optional input is absent or i >= num_inputs().
  const Tensor* input(int i) const {
    return i >= 0 && static_cast<size_t>(i) < inputs_.size() ? inputs_[static_cast<size_t>(i)] : nullptr;
  }
  int num_outputs() const { return static_cast<int>(outputs_->size()); }
  bool has_output(int i) const { return node_.has_output(static_cast<size_t>(i)); }

  // Allocates output i with the dtype and shape inferred for this run. Error if inference left them unknown.
  Expected<Tensor*> output(int i);
  // Allocates output i with an explicit dtype and shape (data-dependent ops). The memory is uninitialized and
  // may be a planned arena region (for the in-place ops, the region of input 0 or 1 itself): write each
  // element from the same index of the inputs, never assume zeros.
  Tensor* output(int i, DType dtype, const Shape& shape);
  // Sets output i to an existing tensor (zero-copy views: Identity, Reshape; subgraph results).
  void set_output(int i, Tensor t) { (*outputs_)[static_cast<size_t>(i)] = std::move(t); }
  // Inferred type of output i for this run (shape may be non-concrete for data-dependent ops).
  const ValueType& inferred(int i) const { return inferred_[static_cast<size_t>(i)]; }

  // Executor hook: where output() allocates (nullptr = heap). Not for kernels.
  void set_output_memory(OutputMemory* memory) { memory_ = memory; }

  ThreadPool& pool() const { return *pool_; }
  SubgraphRunner* subgraphs() const { return subgraphs_; }
  Status error(const std::string& msg) const { return invalid_argument("node " + node_.display_name() + ": " + msg); }
  Status unsupported_error(const std::string& msg) const {
    return unsupported("node " + node_.display_name() + ": " + msg);
  }

 private:
  const Node& node_;
  std::vector<const Tensor*> inputs_;
  std::vector<ValueType> inferred_;
  std::vector<Tensor>* outputs_;
  ThreadPool* pool_;
  SubgraphRunner* subgraphs_;
  OutputMemory* memory_ = nullptr;
};

class CpuKernel {
 public:
  virtual ~CpuKernel() = default;
  virtual Status run(KernelContext& ctx) = 0;
};

using KernelFn = Status (*)(KernelContext&);
using CpuKernelFactory = std::function<Expected<std::unique_ptr<CpuKernel>>(const Node&)>;

class KernelRegistry {
 public:
  void add(const std::string& domain, const std::string& op_type, CpuKernelFactory factory);
  // A stateless kernel given by a plain function.
  void add_fn(const std::string& domain, const std::string& op_type, KernelFn fn);
  const CpuKernelFactory* find(const std::string& domain, const std::string& op_type) const;
  static const KernelRegistry& global();  // filled once by register_all_cpu_kernels()

 private:
  std::unordered_map<std::string, CpuKernelFactory> factories_;
};

// Defined in cpu/kernels/register_all_kernels.cc: calls every register_<family>_kernels().
void register_all_cpu_kernels(KernelRegistry& r);

}  // namespace ferry
