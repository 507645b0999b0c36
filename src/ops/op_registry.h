// op_registry.h — op semantics: one OpSchema per (domain, op_type) with its shape/dtype inference.
//
// Each op family file (src/ops/<family>.cc) defines `void register_<family>(OpRegistry& r)` that adds its
// schemas; register_all.cc calls each once. Inference runs in two settings with the same function:
//  - statically on the graph: input shapes may be symbolic/unknown, input_value(i) is set only for constants;
//  - at run time on concrete tensors: every shape is concrete and input_value(i) is always set, so the
//    inferred output shapes are what the kernel allocates (KernelContext::output(i)). Ops whose output shape
//    depends on data the function cannot see (NonZero, Unique, control flow) leave the shape unknown there;
//    their kernels give the shape explicitly.
//
//   r.add({"", "Relu", 1, 1, 1, 1, [](InferContext& c) {
//     c.set_output(0, c.input_dtype(0), c.input_shape(0));
//     return Status::ok();
//   }});
#pragma once

#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ferry/status.h"
#include "ir/graph.h"

namespace ferry {

class InferContext {
 public:
  InferContext(const Node& node, std::vector<ValueType> inputs, std::vector<const Tensor*> values)
      : node_(node), inputs_(std::move(inputs)), values_(std::move(values)), outputs_(node.outputs.size()) {}

  const Node& node() const { return node_; }
  int opset() const { return node_.opset; }
  int num_inputs() const { return static_cast<int>(node_.inputs.size()); }
  int num_outputs() const { return static_cast<int>(node_.outputs.size()); }
  bool has_input(int i) const { return node_.has_input(static_cast<size_t>(i)); }
  bool has_output(int i) const { return node_.has_output(static_cast<size_t>(i)); }
  DType input_dtype(int i) const { return inputs_[static_cast<size_t>(i)].dtype; }
  const SymShape& input_shape(int i) const { return inputs_[static_cast<size_t>(i)].shape; }
  // Constant value of input i if known (always known at run time), else nullptr. Absent input: nullptr.
  const Tensor* input_value(int i) const {
    return static_cast<size_t>(i) < values_.size() ? values_[static_cast<size_t>(i)] : nullptr;
  }
  void set_output(int i, DType dtype, SymShape shape) { outputs_[static_cast<size_t>(i)] = {dtype, std::move(shape)}; }
  void set_output(int i, DType dtype, const Shape& shape) { set_output(i, dtype, SymShape::from_shape(shape)); }
  const std::vector<ValueType>& outputs() const { return outputs_; }

  // An error naming this node: "node 'x' (Op): <msg>".
  Status error(const std::string& msg) const { return invalid_argument("node " + node_.display_name() + ": " + msg); }

 private:
  const Node& node_;
  std::vector<ValueType> inputs_;
  std::vector<const Tensor*> values_;
  std::vector<ValueType> outputs_;
};

using InferFn = std::function<Status(InferContext&)>;

struct OpSchema {
  std::string domain;  // "" for ai.onnx
  std::string op_type;
  int min_inputs = 0;
  int max_inputs = 0;  // -1: variadic
  int min_outputs = 1;
  int max_outputs = 1;  // -1: variadic
  InferFn infer;
};

class OpRegistry {
 public:
  void add(OpSchema schema);
  const OpSchema* find(const std::string& domain, const std::string& op_type) const;
  std::vector<const OpSchema*> all() const;
  // The process-wide registry, filled once by register_all_ops() on first use; immutable afterwards.
  static const OpRegistry& global();

 private:
  std::unordered_map<std::string, OpSchema> schemas_;  // key: domain + "::" + op_type
};

// Checks a node's input/output counts (and required inputs) against its schema. Errors name the node.
Status check_node_arity(const OpSchema& schema, const Node& node);
// Checks input/output counts against the schema and runs its inference. Errors name the node.
Status infer_node(const OpSchema& schema, InferContext& ctx);

// Defined in register_all.cc: calls every register_<family>().
void register_all_ops(OpRegistry& r);

// ---- helpers for inference functions ----
// Multidirectional (numpy) broadcast of shapes. Error message names the shapes.
Expected<SymShape> broadcast_shapes(const std::vector<SymShape>& shapes);
// Normalizes a possibly negative axis against rank; error if out of range.
Expected<int> normalize_axis(int64_t axis, int rank);
// Reads an integer tensor (int32/int64) as int64 values.
std::vector<int64_t> tensor_to_int64s(const Tensor& t);

}  // namespace ferry
