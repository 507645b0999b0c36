#include "ops/op_registry.h"

#include <algorithm>
#include <mutex>

#include "core/dtype_dispatch.h"

namespace ferry {

void OpRegistry::add(OpSchema schema) {
  std::string key = schema.domain + "::" + schema.op_type;
  schemas_[key] = std::move(schema);
}

const OpSchema* OpRegistry::find(const std::string& domain, const std::string& op_type) const {
  std::string d = domain == "ai.onnx" ? "" : domain;
  auto it = schemas_.find(d + "::" + op_type);
  return it == schemas_.end() ? nullptr : &it->second;
}

std::vector<const OpSchema*> OpRegistry::all() const {
  std::vector<const OpSchema*> out;
  for (const auto& [k, s] : schemas_) out.push_back(&s);
  std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->op_type < b->op_type; });
  return out;
}

const OpRegistry& OpRegistry::global() {
  static const OpRegistry registry = [] {
    OpRegistry r;
    register_all_ops(r);
    return r;
  }();
  return registry;
}

Status check_node_arity(const OpSchema& schema, const Node& n) {
  auto error = [&](const std::string& msg) { return invalid_argument("node " + n.display_name() + ": " + msg); };
  int nin = static_cast<int>(n.inputs.size()), nout = static_cast<int>(n.outputs.size());
  // Trailing omitted optional inputs do not count.
  while (nin > 0 && n.inputs[static_cast<size_t>(nin - 1)].empty()) --nin;
  if (nin < schema.min_inputs || (schema.max_inputs >= 0 && nin > schema.max_inputs))
    return error("has " + std::to_string(nin) + " inputs, expected " + std::to_string(schema.min_inputs) +
                 (schema.max_inputs == schema.min_inputs
                      ? ""
                      : ".." + (schema.max_inputs < 0 ? std::string("n") : std::to_string(schema.max_inputs))));
  for (int i = 0; i < schema.min_inputs; ++i)
    if (!n.has_input(static_cast<size_t>(i))) return error("required input " + std::to_string(i) + " is missing");
  if (nout < schema.min_outputs || (schema.max_outputs >= 0 && nout > schema.max_outputs))
    return error("has " + std::to_string(nout) + " outputs, expected " + std::to_string(schema.min_outputs) +
                 (schema.max_outputs == schema.min_outputs
                      ? ""
                      : ".." + (schema.max_outputs < 0 ? std::string("n") : std::to_string(schema.max_outputs))));
  return Status::ok();
}

Status infer_node(const OpSchema& schema, InferContext& ctx) {
  FERRY_RETURN_IF_ERROR(check_node_arity(schema, ctx.node()));
  if (!schema.infer) return Status::ok();
  return schema.infer(ctx);
}

Expected<SymShape> broadcast_shapes(const std::vector<SymShape>& shapes) {
  size_t rank = 0;
  for (const auto& s : shapes) {
    if (!s.rank_known) return SymShape::unknown();
    rank = std::max(rank, s.dims.size());
  }
  std::vector<Dim> out(rank, Dim(1));
  for (size_t k = 0; k < rank; ++k) {
    Dim result(1);
    bool have_unknown = false;
    for (const auto& s : shapes) {
      if (k + s.dims.size() < rank) continue;
      const Dim& d = s.dims[k + s.dims.size() - rank];
      if (d.known()) {
        if (d.value == 1) continue;
        if (result.known() && result.value != 1 && result.value != d.value) {
          std::string msg = "shapes cannot be broadcast:";
          for (const auto& t : shapes) msg += " " + t.to_string();
          return invalid_argument(msg);
        }
        result = d;
      } else if (!result.known() || result.value == 1) {
        if (!have_unknown || (result.symbol.empty() && !d.symbol.empty())) result = d;
        have_unknown = true;
      }
    }
    // A symbolic dim broadcast against a known dim > 1 takes the known value.
    out[k] = result;
  }
  return SymShape::from_dims(out);
}

Expected<int> normalize_axis(int64_t axis, int rank) {
  if (axis < -rank || axis >= std::max(rank, 1))
    return invalid_argument("axis " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

std::vector<int64_t> tensor_to_int64s(const Tensor& t) { return to_int64_vector(t); }

}  // namespace ferry
