// shape.cc — op semantics (schemas + shape/dtype inference) of the shape family: Reshape, Transpose, Concat,
// Split, Slice, Squeeze, Unsqueeze, Flatten, Expand, Tile, Shape, Size, ConstantOfShape, Constant, Identity,
// Pad, DepthToSpace, SpaceToDepth, Range, EyeLike, Trilu, CenterCropPad, ReverseSequence.
//
// Ops whose output shape comes from an input value (Reshape, Expand, Tile, Slice, ConstantOfShape, Range, Pad,
// CenterCropPad, Split) use input_value() when it is known, so static shapes propagate through
// Shape->Gather->Concat->Reshape chains; otherwise they keep what they can (rank, untouched dims, symbols).
#include <algorithm>
#include <optional>
#include <string>

#include "core/dtype_dispatch.h"
#include "ops/op_registry.h"
#include "ops/shape_params.h"

namespace ferry {
namespace {

using Dims = std::vector<Dim>;

// An int list given by input `idx` when the node has it, else by attribute `attr`.
struct IntList {
  bool present = false;  // given at all
  bool known = false;    // value known (always when given by attribute)
  std::vector<int64_t> v;
};
IntList int_list(const InferContext& c, int idx, const char* attr) {
  IntList r;
  if (idx >= 0 && c.has_input(idx)) {
    r.present = true;
    if (const Tensor* t = c.input_value(idx)) {
      r.known = true;
      r.v = tensor_to_int64s(*t);
    }
    return r;
  }
  if (attr != nullptr) {
    if (const Attr* a = c.node().attr(attr)) {
      r.present = r.known = true;
      r.v = a->kind == Attr::Kind::kInt ? std::vector<int64_t>{a->i} : a->ints;
    }
  }
  return r;
}

// Length of a 1-D input when its shape says so (-1 otherwise).
int64_t input_len(const InferContext& c, int idx) {
  const SymShape& s = c.input_shape(idx);
  if (s.rank_known && s.rank() == 1 && s.dims[0].known()) return s.dims[0].value;
  if (const Tensor* t = c.input_value(idx)) return t->numel();
  return -1;
}

std::vector<int64_t> dim_values(const SymShape& s) {
  std::vector<int64_t> v;
  for (const Dim& d : s.dims) v.push_back(d.known() ? d.value : -1);
  return v;
}

Dim dim_mul(const Dim& a, const Dim& b) {
  if (a.known() && b.known()) return Dim(a.value * b.value);
  if (a.known() && a.value == 1) return b;
  if (b.known() && b.value == 1) return a;
  if ((a.known() && a.value == 0) || (b.known() && b.value == 0)) return Dim(0);
  return Dim();
}

SymShape unknown_of_rank(int64_t rank) {
  return rank >= 0 ? SymShape::from_dims(Dims(static_cast<size_t>(rank))) : SymShape::unknown();
}

Status same_shape(InferContext& c) {
  c.set_output(0, c.input_dtype(0), c.input_shape(0));
  return Status::ok();
}

// ---- Reshape ----
Status infer_reshape(InferContext& c) {
  DType dt = c.input_dtype(0);
  IntList target = int_list(c, 1, "shape");
  if (!target.present) return c.error("missing shape");
  if (!target.known) {
    c.set_output(0, dt, unknown_of_rank(input_len(c, 1)));
    return Status::ok();
  }
  const SymShape& in = c.input_shape(0);
  bool allowzero = c.node().attr_int("allowzero", 0) != 0;
  std::vector<int64_t> in_dims = in.rank_known ? dim_values(in) : std::vector<int64_t>{};
  if (!in.rank_known) {
    // Only the target tells us something; 0 copies are unknown.
    for (int64_t v : target.v)
      if (v < -1) return c.error("invalid shape value " + std::to_string(v));
    Dims out;
    for (int64_t v : target.v) out.push_back(v > 0 || (v == 0 && allowzero) ? Dim(v) : Dim());
    c.set_output(0, dt, SymShape::from_dims(out));
    return Status::ok();
  }
  auto r = resolve_reshape(in_dims, target.v, allowzero);
  if (!r) return c.error(r.status().message());
  Dims out;
  int neg = -1;
  for (size_t i = 0; i < r->size(); ++i) {
    int64_t v = (*r)[i];
    if (v >= 0) out.push_back(Dim(v));
    else if (target.v[i] == 0) out.push_back(in.dims[i]);  // copied symbolic dim
    else { out.push_back(Dim()); if (target.v[i] == -1) neg = static_cast<int>(i); }
  }
  if (neg >= 0) {
    // Cancel symbols: input [N,3,4] -> [0,-1] gives [N,12].
    std::vector<std::string> syms;
    int64_t in_known = 1;
    bool ok = true;
    for (const Dim& d : in.dims) {
      if (d.known()) in_known *= d.value;
      else if (!d.symbol.empty()) syms.push_back(d.symbol);
      else ok = false;
    }
    int64_t out_known = 1;
    for (size_t i = 0; i < out.size() && ok; ++i) {
      if (static_cast<int>(i) == neg) continue;
      const Dim& d = out[i];
      if (d.known()) { out_known *= d.value; continue; }
      auto it = std::find(syms.begin(), syms.end(), d.symbol);
      if (d.symbol.empty() || it == syms.end()) ok = false;
      else syms.erase(it);
    }
    if (ok && syms.empty() && out_known > 0 && in_known % out_known == 0)
      out[static_cast<size_t>(neg)] = Dim(in_known / out_known);
  }
  c.set_output(0, dt, SymShape::from_dims(out));
  return Status::ok();
}

// ---- Transpose ----
Status infer_transpose(InferContext& c) {
  const SymShape& in = c.input_shape(0);
  std::vector<int64_t> perm = c.node().attr_ints("perm");
  if (!in.rank_known) {
    c.set_output(0, c.input_dtype(0), unknown_of_rank(perm.empty() ? -1 : static_cast<int64_t>(perm.size())));
    return Status::ok();
  }
  int r = in.rank();
  if (perm.empty())
    for (int i = r - 1; i >= 0; --i) perm.push_back(i);
  if (static_cast<int>(perm.size()) != r)
    return c.error("perm has " + std::to_string(perm.size()) + " values for rank " + std::to_string(r));
  std::vector<bool> seen(static_cast<size_t>(r), false);
  Dims out;
  for (int64_t p : perm) {
    if (p < 0 || p >= r || seen[static_cast<size_t>(p)]) return c.error("perm is not a permutation");
    seen[static_cast<size_t>(p)] = true;
    out.push_back(in.dims[static_cast<size_t>(p)]);
  }
  c.set_output(0, c.input_dtype(0), SymShape::from_dims(out));
  return Status::ok();
}

// ---- Concat ----
Status infer_concat(InferContext& c) {
  const Attr* a = c.node().attr("axis");
  if (a == nullptr && c.opset() >= 4) return c.error("missing attribute axis");
  const int64_t axis_v = a != nullptr ? a->i : 1;  // Concat-1 defaults to axis 1
  int rank = -1;
  DType dt = c.input_dtype(0);
  for (int i = 0; i < c.num_inputs(); ++i) {
    if (!c.has_input(i)) return c.error("input " + std::to_string(i) + " is missing");
    if (c.input_dtype(i) != DType::kUndefined && dt != DType::kUndefined && c.input_dtype(i) != dt)
      return c.error("inputs have different element types");
    const SymShape& s = c.input_shape(i);
    if (!s.rank_known) continue;
    if (rank >= 0 && s.rank() != rank) return c.error("inputs have different ranks");
    rank = s.rank();
  }
  if (rank < 0) {
    c.set_output(0, dt, SymShape::unknown());
    return Status::ok();
  }
  if (rank == 0) return c.error("cannot concatenate scalars");
  auto ax = normalize_axis(axis_v, rank);
  if (!ax) return c.error(ax.status().message());
  Dims out(static_cast<size_t>(rank));
  int64_t sum = 0;
  bool sum_known = true;
  bool first = true;
  for (int i = 0; i < c.num_inputs(); ++i) {
    const SymShape& s = c.input_shape(i);
    if (!s.rank_known) { sum_known = false; continue; }
    for (int d = 0; d < rank; ++d) {
      const Dim& x = s.dims[static_cast<size_t>(d)];
      if (d == *ax) continue;
      Dim& o = out[static_cast<size_t>(d)];
      if (first) o = x;
      else if (x.known() && o.known() && x.value != o.value)
        return c.error("input " + std::to_string(i) + " has dim " + std::to_string(x.value) + " on axis " +
                       std::to_string(d) + ", expected " + std::to_string(o.value));
      else if (x.known() && !o.known()) o = x;
    }
    first = false;
    const Dim& x = s.dims[static_cast<size_t>(*ax)];
    if (x.known()) sum += x.value;
    else sum_known = false;
  }
  if (sum_known) out[static_cast<size_t>(*ax)] = Dim(sum);
  else if (c.num_inputs() == 1) out[static_cast<size_t>(*ax)] = c.input_shape(0).dims[static_cast<size_t>(*ax)];
  c.set_output(0, dt, SymShape::from_dims(out));
  return Status::ok();
}

// ---- Split ----
Status infer_split(InferContext& c) {
  const SymShape& in = c.input_shape(0);
  DType dt = c.input_dtype(0);
  int n = c.num_outputs();
  if (!in.rank_known) {
    for (int i = 0; i < n; ++i) c.set_output(i, dt, SymShape::unknown());
    return Status::ok();
  }
  auto ax = normalize_axis(c.node().attr_int("axis", 0), in.rank());
  if (!ax) return c.error(ax.status().message());
  IntList split = int_list(c, c.opset() >= 13 ? 1 : -1, c.opset() >= 13 ? nullptr : "split");
  if (c.opset() < 13 && !split.present && c.has_input(1)) split = int_list(c, 1, nullptr);
  const Dim& d = in.dims[static_cast<size_t>(*ax)];
  std::vector<int64_t> sizes(static_cast<size_t>(n), -1);
  if (!split.present || split.known) {
    std::optional<std::vector<int64_t>> sv;
    if (split.present) sv = split.v;
    auto r = resolve_split(d.known() ? d.value : -1, n, sv, c.node().attr_int("num_outputs", 0));
    if (!r) return c.error(r.status().message());
    sizes = *r;
  }
  for (int i = 0; i < n; ++i) {
    Dims out = in.dims;
    out[static_cast<size_t>(*ax)] = sizes[static_cast<size_t>(i)] >= 0 ? Dim(sizes[static_cast<size_t>(i)]) : Dim();
    if (n == 1 && !split.present) out[static_cast<size_t>(*ax)] = d;
    c.set_output(i, dt, SymShape::from_dims(out));
  }
  return Status::ok();
}

// ---- Slice ----
Status infer_slice(InferContext& c) {
  const SymShape& in = c.input_shape(0);
  DType dt = c.input_dtype(0);
  bool v10 = c.opset() >= 10;
  IntList starts = int_list(c, v10 ? 1 : -1, v10 ? nullptr : "starts");
  IntList ends = int_list(c, v10 ? 2 : -1, v10 ? nullptr : "ends");
  IntList axes = int_list(c, v10 ? 3 : -1, v10 ? nullptr : "axes");
  IntList steps = int_list(c, v10 ? 4 : -1, nullptr);
  if (!starts.present || !ends.present) return c.error("missing starts or ends");
  if (!in.rank_known) {
    c.set_output(0, dt, SymShape::unknown());
    return Status::ok();
  }
  if (!starts.known || !ends.known || (axes.present && !axes.known) || (steps.present && !steps.known)) {
    // Axes known: only those dims become unknown; else all.
    Dims out = in.dims;
    if (axes.present && axes.known) {
      auto na = normalize_axes(axes.v, in.rank());
      if (!na) return c.error(na.status().message());
      for (int a : *na) out[static_cast<size_t>(a)] = Dim();
    } else {
      out = Dims(in.dims.size());
    }
    c.set_output(0, dt, SymShape::from_dims(out));
    return Status::ok();
  }
  auto r = resolve_slice(dim_values(in), starts.v, ends.v, axes.v, steps.v);
  if (!r) return c.error(r.status().message());
  Dims out;
  for (size_t d = 0; d < r->size(); ++d) {
    const SliceAxis& s = (*r)[d];
    out.push_back(s.len >= 0 ? Dim(s.len) : Dim());
    if (!in.dims[d].known()) {
      // Untouched symbolic axis keeps its symbol.
      bool touched = false;
      std::vector<int64_t> ax = axes.v;
      if (ax.empty())
        for (size_t i = 0; i < starts.v.size(); ++i) ax.push_back(static_cast<int64_t>(i));
      for (int64_t a : ax)
        if ((a < 0 ? a + in.rank() : a) == static_cast<int64_t>(d)) touched = true;
      if (!touched) out.back() = in.dims[d];
    }
  }
  c.set_output(0, dt, SymShape::from_dims(out));
  return Status::ok();
}

// ---- Squeeze / Unsqueeze / Flatten ----
Status infer_squeeze(InferContext& c) {
  const SymShape& in = c.input_shape(0);
  DType dt = c.input_dtype(0);
  IntList axes = int_list(c, c.opset() >= 13 ? 1 : -1, c.opset() >= 13 ? nullptr : "axes");
  if (!in.rank_known || (axes.present && !axes.known)) {
    int64_t r = in.rank_known && axes.present && input_len(c, 1) >= 0 ? in.rank() - input_len(c, 1) : -1;
    c.set_output(0, dt, unknown_of_rank(r));
    return Status::ok();
  }
  Dims out;
  if (!axes.present) {
    for (const Dim& d : in.dims) {
      if (!d.known()) {
        c.set_output(0, dt, SymShape::unknown());
        return Status::ok();
      }
      if (d.value != 1) out.push_back(d);
    }
  } else {
    auto na = normalize_axes(axes.v, in.rank());
    if (!na) return c.error(na.status().message());
    std::vector<bool> drop(static_cast<size_t>(in.rank()), false);
    for (int a : *na) {
      const Dim& d = in.dims[static_cast<size_t>(a)];
      if (d.known() && d.value != 1)
        return c.error("cannot squeeze axis " + std::to_string(a) + " of size " + std::to_string(d.value));
      drop[static_cast<size_t>(a)] = true;
    }
    for (int i = 0; i < in.rank(); ++i)
      if (!drop[static_cast<size_t>(i)]) out.push_back(in.dims[static_cast<size_t>(i)]);
  }
  c.set_output(0, dt, SymShape::from_dims(out));
  return Status::ok();
}

Status infer_unsqueeze(InferContext& c) {
  const SymShape& in = c.input_shape(0);
  DType dt = c.input_dtype(0);
  IntList axes = int_list(c, c.opset() >= 13 ? 1 : -1, c.opset() >= 13 ? nullptr : "axes");
  if (!axes.present) return c.error("missing axes");
  if (!in.rank_known || !axes.known) {
    int64_t n = axes.known ? static_cast<int64_t>(axes.v.size()) : input_len(c, 1);
    c.set_output(0, dt, unknown_of_rank(in.rank_known && n >= 0 ? in.rank() + n : -1));
    return Status::ok();
  }
  int out_rank = in.rank() + static_cast<int>(axes.v.size());
  auto na = normalize_axes(axes.v, out_rank);
  if (!na) return c.error(na.status().message());
  std::vector<bool> ins(static_cast<size_t>(out_rank), false);
  for (int a : *na) ins[static_cast<size_t>(a)] = true;
  Dims out;
  size_t k = 0;
  for (int i = 0; i < out_rank; ++i) out.push_back(ins[static_cast<size_t>(i)] ? Dim(1) : in.dims[k++]);
  c.set_output(0, dt, SymShape::from_dims(out));
  return Status::ok();
}

Status infer_flatten(InferContext& c) {
  const SymShape& in = c.input_shape(0);
  DType dt = c.input_dtype(0);
  if (!in.rank_known) {
    c.set_output(0, dt, unknown_of_rank(2));
    return Status::ok();
  }
  int64_t axis = c.node().attr_int("axis", 1);
  int r = in.rank();
  if (axis < -r || axis > r) return c.error("axis " + std::to_string(axis) + " out of range for rank " + std::to_string(r));
  if (axis < 0) axis += r;
  Dim a(1), b(1);
  for (int i = 0; i < r; ++i) {
    Dim& t = i < axis ? a : b;
    t = dim_mul(t, in.dims[static_cast<size_t>(i)]);
  }
  c.set_output(0, dt, SymShape::from_dims({a, b}));
  return Status::ok();
}

// ---- Expand / Tile ----
Status infer_expand(InferContext& c) {
  const SymShape& in = c.input_shape(0);
  DType dt = c.input_dtype(0);
  const Tensor* sv = c.input_value(1);
  if (sv == nullptr) {
    int64_t n = input_len(c, 1);
    c.set_output(0, dt, unknown_of_rank(in.rank_known && n >= 0 ? std::max<int64_t>(n, in.rank()) : -1));
    return Status::ok();
  }
  std::vector<int64_t> shape = tensor_to_int64s(*sv);
  for (int64_t v : shape)
    if (v < 0) return c.error("negative dim " + std::to_string(v) + " in shape");
  auto r = broadcast_shapes({in, SymShape::from_shape(shape)});
  if (!r) return c.error(r.status().message());
  c.set_output(0, dt, *r);
  return Status::ok();
}

Status infer_tile(InferContext& c) {
  const SymShape& in = c.input_shape(0);
  DType dt = c.input_dtype(0);
  const Tensor* rv = c.input_value(1);
  if (!in.rank_known) {
    c.set_output(0, dt, SymShape::unknown());
    return Status::ok();
  }
  if (rv == nullptr) {
    c.set_output(0, dt, unknown_of_rank(in.rank()));
    return Status::ok();
  }
  std::vector<int64_t> rep = tensor_to_int64s(*rv);
  if (static_cast<int>(rep.size()) != in.rank())
    return c.error("repeats has " + std::to_string(rep.size()) + " values for rank " + std::to_string(in.rank()));
  Dims out;
  for (size_t i = 0; i < rep.size(); ++i) {
    if (rep[i] < 0) return c.error("negative repeat " + std::to_string(rep[i]));
    out.push_back(dim_mul(in.dims[i], Dim(rep[i])));
  }
  c.set_output(0, dt, SymShape::from_dims(out));
  return Status::ok();
}

// ---- Shape / Size / ConstantOfShape / Constant ----
Status infer_shape_op(InferContext& c) {
  const SymShape& in = c.input_shape(0);
  if (!in.rank_known) {
    c.set_output(0, DType::kInt64, unknown_of_rank(1));
    return Status::ok();
  }
  int64_t r = in.rank();
  int64_t start = c.node().attr_int("start", 0), end = c.node().attr_int("end", r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = std::clamp<int64_t>(start, 0, r);
  end = std::clamp<int64_t>(end, 0, r);
  c.set_output(0, DType::kInt64, SymShape::from_dims({Dim(std::max<int64_t>(end - start, 0))}));
  return Status::ok();
}

Status infer_constant_of_shape(InferContext& c) {
  DType dt = DType::kFloat;
  if (const Tensor* v = c.node().attr_tensor("value")) {
    if (v->numel() != 1) return c.error("value must have exactly one element");
    dt = v->dtype();
  }
  const Tensor* sv = c.input_value(0);
  if (sv == nullptr) {
    c.set_output(0, dt, unknown_of_rank(input_len(c, 0)));
    return Status::ok();
  }
  std::vector<int64_t> shape = tensor_to_int64s(*sv);
  for (int64_t v : shape)
    if (v < 0) return c.error("negative dim " + std::to_string(v) + " in shape");
  c.set_output(0, dt, SymShape::from_shape(shape));
  return Status::ok();
}

Status infer_constant(InferContext& c) {
  const Node& n = c.node();
  if (const Tensor* t = n.attr_tensor("value")) c.set_output(0, t->dtype(), t->shape());
  else if (n.attr("value_float")) c.set_output(0, DType::kFloat, Shape{});
  else if (const Attr* a = n.attr("value_floats")) c.set_output(0, DType::kFloat, Shape{static_cast<int64_t>(a->floats.size())});
  else if (n.attr("value_int")) c.set_output(0, DType::kInt64, Shape{});
  else if (const Attr* a = n.attr("value_ints")) c.set_output(0, DType::kInt64, Shape{static_cast<int64_t>(a->ints.size())});
  else if (n.attr("value_string")) c.set_output(0, DType::kString, Shape{});
  else if (const Attr* a = n.attr("value_strings"))
    c.set_output(0, DType::kString, Shape{static_cast<int64_t>(a->strings.size())});
  else if (n.attr("sparse_value")) return unsupported("node " + n.display_name() + ": sparse_value is not supported");
  else return c.error("no value attribute");
  return Status::ok();
}

}  // namespace

void register_shape_more(OpRegistry& r);  // shape_more.cc: Pad, DepthToSpace, Range, ...

void register_shape(OpRegistry& r) {
  r.add({"", "Reshape", 1, 2, 1, 1, infer_reshape});
  r.add({"", "Transpose", 1, 1, 1, 1, infer_transpose});
  r.add({"", "Concat", 1, -1, 1, 1, infer_concat});
  r.add({"", "Split", 1, 2, 1, -1, infer_split});
  r.add({"", "Slice", 1, 5, 1, 1, infer_slice});
  r.add({"", "Squeeze", 1, 2, 1, 1, infer_squeeze});
  r.add({"", "Unsqueeze", 1, 2, 1, 1, infer_unsqueeze});
  r.add({"", "Flatten", 1, 1, 1, 1, infer_flatten});
  r.add({"", "Expand", 2, 2, 1, 1, infer_expand});
  r.add({"", "Tile", 2, 2, 1, 1, infer_tile});
  r.add({"", "Shape", 1, 1, 1, 1, infer_shape_op});
  r.add({"", "Size", 1, 1, 1, 1, [](InferContext& c) {
           c.set_output(0, DType::kInt64, Shape{});
           return Status::ok();
         }});
  r.add({"", "ConstantOfShape", 1, 1, 1, 1, infer_constant_of_shape});
  r.add({"", "Constant", 0, 0, 1, 1, infer_constant});
  r.add({"", "Identity", 1, 1, 1, 1, same_shape});
  register_shape_more(r);
}

}  // namespace ferry
