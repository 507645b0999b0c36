#include "runtime/shape_inference.h"

#include <algorithm>
#include <memory>
#include <new>

#include "backends/cpu/kernel.h"
#include "ops/op_registry.h"

namespace ferry {

namespace {

constexpr int64_t kMaxFoldElements = 1 << 16;  // constant propagation only for small (shape-like) values

bool foldable(const Node& n) {
  static const char* kNever[] = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
                                 "Bernoulli", "Multinomial", "If", "Loop", "Scan", "Dropout"};
  for (const char* op : kNever)
    if (n.op_type == op) return false;
  return n.domain.empty();
}

// Shape/Size of an input whose shape is known statically.
bool value_from_shape(const Node& n, const ValueType& in, Tensor* out) {
  if (!in.shape.is_concrete()) return false;
  Shape s = in.shape.to_shape();
  if (n.op_type == "Size") {
    *out = Tensor::scalar_int64(shape_numel(s));
    return true;
  }
  if (n.op_type != "Shape") return false;
  int64_t r = static_cast<int64_t>(s.size());
  int64_t start = n.attr_int("start", 0), end = n.attr_int("end", r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = std::clamp<int64_t>(start, 0, r);
  end = std::clamp<int64_t>(end, start, r);
  std::vector<int64_t> dims(s.begin() + start, s.begin() + end);
  *out = Tensor::from_vector<int64_t>(DType::kInt64, {static_cast<int64_t>(dims.size())}, dims);
  return true;
}

}  // namespace

Expected<InferenceReport> infer_graph_types(Graph& graph, const std::unordered_map<std::string, Shape>& input_shapes) {
  InferenceReport report;
  const OpRegistry& ops = OpRegistry::global();
  const KernelRegistry& kernels = KernelRegistry::global();
  for (const auto& [name, shape] : input_shapes) {
    auto it = graph.value_info.find(name);
    if (it != graph.value_info.end()) it->second.shape = SymShape::from_shape(shape);
  }
  std::unordered_map<std::string, Tensor> values;
  for (const auto& [name, t] : graph.initializers) values[name] = t;
  ThreadPool pool(1);
  for (const Node& node : graph.nodes) {
    const OpSchema* schema = ops.find(node.domain, node.op_type);
    if (!schema)
      return unsupported("node " + node.display_name() + ": operator " +
                         (node.domain.empty() ? "" : node.domain + ".") + node.op_type + " (opset " +
                         std::to_string(node.opset) + ") is not supported");
    std::vector<ValueType> in_types;
    std::vector<const Tensor*> in_values;
    bool all_known = true;
    for (const auto& in : node.inputs) {
      const ValueType* vt = in.empty() ? nullptr : graph.type_of(in);
      in_types.push_back(vt ? *vt : ValueType{});
      auto v = in.empty() ? values.end() : values.find(in);
      in_values.push_back(v == values.end() ? nullptr : &v->second);
      if (!in.empty() && v == values.end()) all_known = false;
    }
    if (node.op_type == "Constant" && node.domain.empty()) all_known = true;
    InferContext ctx(node, in_types, in_values);
    Status s = infer_node(*schema, ctx);
    if (!s.is_ok()) {
      report.warnings.push_back(s.message());
      continue;
    }
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      if (node.outputs[i].empty()) continue;
      const ValueType& inferred = ctx.outputs()[i];
      ValueType& slot = graph.value_info[node.outputs[i]];
      if (inferred.dtype != DType::kUndefined) slot.dtype = inferred.dtype;
      // Keep a declared shape when ours knows less.
      bool ours_better = inferred.shape.rank_known &&
                         (!slot.shape.rank_known || inferred.shape.is_concrete() || !slot.shape.is_concrete());
      if (ours_better) slot.shape = inferred.shape;
    }
    // Constant propagation of small values.
    Tensor shape_value;
    if (!node.inputs.empty() && value_from_shape(node, in_types[0], &shape_value)) {
      values[node.outputs[0]] = shape_value;
      continue;
    }
    if (!all_known || !foldable(node)) continue;
    bool small = true;
    for (const Tensor* t : in_values)
      if (t && t->numel() > kMaxFoldElements) small = false;
    for (const auto& o : ctx.outputs())
      if (!o.shape.is_concrete() || shape_numel(o.shape.to_shape()) > kMaxFoldElements) small = false;
    const CpuKernelFactory* factory = kernels.find(node.domain, node.op_type);
    if (!small || !factory) continue;
    auto kernel = (*factory)(node);
    if (!kernel) continue;
    std::vector<Tensor> outs(node.outputs.size());
    KernelContext kctx(node, in_values, ctx.outputs(), &outs, &pool, nullptr);
    Status ks;
    try {
      ks = (*kernel)->run(kctx);
    } catch (const std::bad_alloc&) {
      ks = out_of_memory("constant folding");
    }
    if (!ks.is_ok()) continue;
    for (size_t i = 0; i < outs.size(); ++i)
      if (!node.outputs[i].empty() && outs[i].defined()) values[node.outputs[i]] = outs[i];
  }
  return report;
}

}  // namespace ferry
