// control_flow.cc — op semantics of the control-flow family: If, Loop, Scan (opset 8 and 9+), and the tensor
// forms of Optional, OptionalHasElement, OptionalGetElement.
//
// Output types of If/Loop/Scan come from their bodies: the body's declared output types when present, else a
// best-effort inference over the body (its inputs typed from the node's inputs; values read from enclosing
// scopes are untyped here). The kernels hand out the body's actual tensors, so at run time these types only
// need to be right where they are known; data-dependent dims (loop trip counts) stay unknown.
#include <algorithm>
#include <unordered_map>

#include "ops/op_registry.h"

namespace ferry {

namespace {

bool type_known(const ValueType& t) { return t.dtype != DType::kUndefined || t.shape.rank_known; }

// Merges two possible types of one value: equal parts kept, differing dims unknown, differing ranks unknown.
ValueType merge_types(const ValueType& a, const ValueType& b) {
  if (!type_known(a)) return b;
  if (!type_known(b)) return a;
  ValueType out;
  out.dtype = a.dtype != DType::kUndefined ? a.dtype : b.dtype;
  if (a.shape.rank_known && b.shape.rank_known && a.shape.rank() == b.shape.rank()) {
    out.shape = a.shape;
    for (size_t i = 0; i < out.shape.dims.size(); ++i)
      if (!(a.shape.dims[i] == b.shape.dims[i])) out.shape.dims[i] = Dim();
  }
  return out;
}

// Types of a body's outputs given the types of its inputs (see file comment).
std::vector<ValueType> infer_body(const Graph& g, const std::vector<ValueType>& input_types) {
  std::unordered_map<std::string, ValueType> types;
  std::unordered_map<std::string, const Tensor*> values;
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    ValueType declared;
    if (const ValueType* d = g.type_of(g.inputs[i])) declared = *d;
    ValueType given = i < input_types.size() ? input_types[i] : ValueType{};
    types[g.inputs[i]] = type_known(given) ? given : declared;
  }
  for (const auto& [name, t] : g.initializers) {
    types[name] = {t.dtype(), SymShape::from_shape(t.shape())};
    values[name] = &t;
  }
  const OpRegistry& reg = OpRegistry::global();
  for (const Node& n : g.nodes) {
    if (n.op_type == "Constant" && n.domain.empty()) {
      if (const Tensor* t = n.attr_tensor("value")) {
        if (!n.outputs.empty()) {
          types[n.outputs[0]] = {t->dtype(), SymShape::from_shape(t->shape())};
          values[n.outputs[0]] = t;
          continue;
        }
      }
    }
    const OpSchema* schema = reg.find(n.domain, n.op_type);
    std::vector<ValueType> in_types;
    std::vector<const Tensor*> in_values;
    for (const auto& in : n.inputs) {
      auto it = in.empty() ? types.end() : types.find(in);
      ValueType vt = it != types.end() ? it->second : ValueType{};
      if (!type_known(vt) && !in.empty())
        if (const ValueType* d = g.type_of(in)) vt = *d;
      in_types.push_back(vt);
      auto v = in.empty() ? values.end() : values.find(in);
      in_values.push_back(v == values.end() ? nullptr : v->second);
    }
    InferContext ctx(n, in_types, in_values);
    bool ok = schema && infer_node(*schema, ctx).is_ok();
    for (size_t i = 0; i < n.outputs.size(); ++i) {
      if (n.outputs[i].empty()) continue;
      ValueType t = ok ? ctx.outputs()[i] : ValueType{};
      if (const ValueType* d = g.type_of(n.outputs[i])) t = merge_types(t, *d);
      types[n.outputs[i]] = t;
    }
  }
  std::vector<ValueType> out;
  for (const auto& o : g.outputs) {
    auto it = types.find(o);
    ValueType t = it != types.end() ? it->second : ValueType{};
    if (const ValueType* d = g.type_of(o)) {
      // A declared type is authoritative for what it states.
      ValueType m = *d;
      if (m.dtype == DType::kUndefined) m.dtype = t.dtype;
      if (!m.shape.rank_known) m.shape = t.shape;
      t = m;
    }
    out.push_back(t);
  }
  return out;
}

Status infer_if(InferContext& c) {
  const Graph* then_g = c.node().attr_graph("then_branch");
  const Graph* else_g = c.node().attr_graph("else_branch");
  if (!then_g || !else_g) return c.error("then_branch and else_branch are required");
  size_t n = static_cast<size_t>(c.num_outputs());
  if (then_g->outputs.size() != n || else_g->outputs.size() != n)
    return c.error("branches must have " + std::to_string(n) + " outputs (then has " +
                   std::to_string(then_g->outputs.size()) + ", else has " + std::to_string(else_g->outputs.size()) + ")");
  DType ct = c.input_dtype(0);
  if (ct != DType::kUndefined && ct != DType::kBool) return c.error("cond must be bool");
  std::vector<ValueType> out;
  if (const Tensor* cond = c.input_value(0); cond && cond->numel() == 1 && cond->dtype() == DType::kBool) {
    out = infer_body(cond->data<bool>()[0] ? *then_g : *else_g, {});
  } else {
    std::vector<ValueType> a = infer_body(*then_g, {}), b = infer_body(*else_g, {});
    for (size_t i = 0; i < n; ++i) out.push_back(merge_types(a[i], b[i]));
  }
  for (size_t i = 0; i < n; ++i) c.set_output(static_cast<int>(i), out[i].dtype, out[i].shape);
  return Status::ok();
}

// A dim prepended/inserted for stacked per-iteration outputs.
SymShape insert_dim(const SymShape& s, int axis, Dim d) {
  if (!s.rank_known) return s;
  SymShape out = s;
  axis = std::clamp(axis, 0, s.rank());
  out.dims.insert(out.dims.begin() + axis, d);
  return out;
}

Status infer_loop(InferContext& c) {
  const Graph* body = c.node().attr_graph("body");
  if (!body) return c.error("attribute 'body' is required");
  int n_carried = c.num_inputs() - 2;
  if (n_carried < 0) return c.error("Loop needs inputs M and cond (either may be empty)");
  int n_body_out = static_cast<int>(body->outputs.size());
  int n_scan = n_body_out - 1 - n_carried;
  if (n_scan < 0 || static_cast<int>(body->inputs.size()) != 2 + n_carried)
    return c.error("body must take 2 + " + std::to_string(n_carried) + " inputs and return at least 1 + " +
                   std::to_string(n_carried) + " outputs");
  if (c.num_outputs() > n_carried + n_scan) return c.error("more outputs than loop-carried + scan outputs");
  std::vector<ValueType> in = {{DType::kInt64, SymShape::from_dims({})}, {DType::kBool, SymShape::from_dims({})}};
  for (int i = 0; i < n_carried; ++i) in.push_back({c.input_dtype(2 + i), c.input_shape(2 + i)});
  std::vector<ValueType> out = infer_body(*body, in);
  for (int i = 0; i < n_carried && i < c.num_outputs(); ++i) {
    ValueType t = merge_types(out[static_cast<size_t>(1 + i)], in[static_cast<size_t>(2 + i)]);
    if (t.dtype == DType::kUndefined) t.dtype = c.input_dtype(2 + i);
    c.set_output(i, t.dtype, t.shape);
  }
  for (int k = 0; k < n_scan && n_carried + k < c.num_outputs(); ++k) {
    const ValueType& t = out[static_cast<size_t>(1 + n_carried + k)];
    c.set_output(n_carried + k, t.dtype, insert_dim(t.shape, 0, Dim()));
  }
  return Status::ok();
}

SymShape remove_dim(const SymShape& s, int axis) {
  if (!s.rank_known || axis < 0 || axis >= s.rank()) return SymShape::unknown();
  SymShape out = s;
  out.dims.erase(out.dims.begin() + axis);
  return out;
}

Status infer_scan(InferContext& c) {
  const Node& n = c.node();
  const Graph* body = n.attr_graph("body");
  if (!body) return c.error("attribute 'body' is required");
  int64_t m = n.attr_int("num_scan_inputs", -1);
  bool v8 = c.opset() < 9;
  int first = v8 ? 1 : 0;
  int total = c.num_inputs() - first;
  if (m < 1 || m > total) return c.error("num_scan_inputs must be in [1, " + std::to_string(total) + "]");
  int n_state = total - static_cast<int>(m);
  int n_scan_out = static_cast<int>(body->outputs.size()) - n_state;
  if (static_cast<int>(body->inputs.size()) != total || n_scan_out < 0)
    return c.error("body must take " + std::to_string(total) + " inputs and return at least " +
                   std::to_string(n_state) + " outputs");
  if (c.num_outputs() > n_state + n_scan_out) return c.error("too many outputs");
  std::vector<int64_t> in_axes = n.attr_ints("scan_input_axes", std::vector<int64_t>(static_cast<size_t>(m), 0));
  std::vector<int64_t> out_axes =
      n.attr_ints("scan_output_axes", std::vector<int64_t>(static_cast<size_t>(n_scan_out), 0));
  if (in_axes.size() != static_cast<size_t>(m)) return c.error("scan_input_axes needs one entry per scan input");
  if (out_axes.size() != static_cast<size_t>(n_scan_out))
    return c.error("scan_output_axes needs one entry per scan output");
  std::vector<ValueType> in;
  Dim batch, seq;
  for (int i = 0; i < n_state; ++i) {
    SymShape s = c.input_shape(first + i);
    if (v8) {
      if (s.rank_known && s.rank() >= 1) batch = s.dims[0];
      s = remove_dim(s, 0);
    }
    in.push_back({c.input_dtype(first + i), s});
  }
  for (int j = 0; j < m; ++j) {
    SymShape s = c.input_shape(first + n_state + j);
    int axis = v8 ? 1 : static_cast<int>(in_axes[static_cast<size_t>(j)]);
    if (s.rank_known) {
      if (axis < 0) axis += s.rank();
      if (axis < 0 || axis >= s.rank()) return c.error("scan input axis out of range for " + s.to_string());
      if (j == 0) seq = s.dims[static_cast<size_t>(axis)];
      if (v8) {
        batch = s.dims[0];
        s = remove_dim(remove_dim(s, 1), 0);
      } else {
        s = remove_dim(s, axis);
      }
    }
    in.push_back({c.input_dtype(first + n_state + j), s});
  }
  std::vector<ValueType> out = infer_body(*body, in);
  for (int i = 0; i < n_state && i < c.num_outputs(); ++i) {
    ValueType t = merge_types(out[static_cast<size_t>(i)], in[static_cast<size_t>(i)]);
    if (t.dtype == DType::kUndefined) t.dtype = in[static_cast<size_t>(i)].dtype;
    c.set_output(i, t.dtype, v8 ? insert_dim(t.shape, 0, batch) : t.shape);
  }
  for (int k = 0; k < n_scan_out && n_state + k < c.num_outputs(); ++k) {
    const ValueType& t = out[static_cast<size_t>(n_state + k)];
    SymShape s;
    if (v8) {
      s = insert_dim(insert_dim(t.shape, 0, seq), 0, batch);
    } else {
      int axis = static_cast<int>(out_axes[static_cast<size_t>(k)]);
      if (t.shape.rank_known && axis < 0) axis += t.shape.rank() + 1;
      s = insert_dim(t.shape, axis, seq);
    }
    c.set_output(n_state + k, t.dtype, s);
  }
  return Status::ok();
}

Status infer_optional(InferContext& c) {
  if (!c.has_input(0)) {
    c.set_output(0, DType::kUndefined, SymShape::unknown());
    return Status::ok();
  }
  c.set_output(0, c.input_dtype(0), c.input_shape(0));
  return Status::ok();
}

Status infer_optional_has_element(InferContext& c) {
  c.set_output(0, DType::kBool, Shape{});
  return Status::ok();
}

Status infer_optional_get_element(InferContext& c) {
  if (!c.has_input(0)) return c.error("input is required");
  c.set_output(0, c.input_dtype(0), c.input_shape(0));
  return Status::ok();
}

}  // namespace

void register_control_flow(OpRegistry& r) {
  r.add({"", "If", 1, 1, 1, -1, infer_if});
  // Loop's M and cond, and opset-8 Scan's sequence_lens, are optional leading inputs ("" when absent).
  r.add({"", "Loop", 0, -1, 1, -1, infer_loop});
  r.add({"", "Scan", 0, -1, 1, -1, infer_scan});
  r.add({"", "Optional", 0, 1, 1, 1, infer_optional});
  r.add({"", "OptionalHasElement", 0, 1, 1, 1, infer_optional_has_element});
  r.add({"", "OptionalGetElement", 1, 1, 1, 1, infer_optional_get_element});
}

}  // namespace ferry
