// reduce.cc — op semantics (schemas + shape/dtype inference) of the reduce family:
// ReduceSum/Mean/Max/Min/Prod/L1/L2/LogSum/LogSumExp/SumSquare, ArgMax/ArgMin, CumSum/CumProd.
#include <string>

#include "ops/op_registry.h"
#include "ops/reduce_util.h"

namespace ferry {

Expected<ReduceAxes> resolve_reduce_axes(const Node& node, const Tensor* axes_input, int rank) {
  ReduceAxes r;
  std::vector<int64_t> axes;
  if (axes_input) {
    if (axes_input->dtype() != DType::kInt64 && axes_input->dtype() != DType::kInt32)
      return invalid_argument(std::string("axes must be int64, got ") + dtype_name(axes_input->dtype()));
    if (axes_input->rank() > 1) return invalid_argument("axes must be a 1-D tensor");
    axes = tensor_to_int64s(*axes_input);
  } else if (const Attr* a = node.attr("axes")) {
    axes = a->ints;
  }
  r.reduce.assign(static_cast<size_t>(rank), false);
  if (axes.empty()) {
    if (node.attr_int("noop_with_empty_axes", 0) != 0) {
      r.noop = true;
    } else {
      r.reduce.assign(static_cast<size_t>(rank), true);
    }
    return r;
  }
  for (int64_t a : axes) {
    if (a < -rank || a >= rank)
      return invalid_argument("axis " + std::to_string(a) + " out of range for rank " + std::to_string(rank));
    size_t k = static_cast<size_t>(a < 0 ? a + rank : a);
    if (r.reduce[k]) return invalid_argument("axis " + std::to_string(a) + " repeated in axes");
    r.reduce[k] = true;
  }
  return r;
}

Shape reduced_shape(const Shape& in, const ReduceAxes& axes, bool keepdims) {
  if (axes.noop) return in;
  Shape out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (!axes.reduce[i]) {
      out.push_back(in[i]);
    } else if (keepdims) {
      out.push_back(1);
    }
  }
  return out;
}

namespace {

bool is_numeric(DType t) {
  return t == DType::kFloat || t == DType::kDouble || t == DType::kFloat16 || t == DType::kBFloat16 ||
         t == DType::kInt8 || t == DType::kInt16 || t == DType::kInt32 || t == DType::kInt64 || t == DType::kUInt8 ||
         t == DType::kUInt16 || t == DType::kUInt32 || t == DType::kUInt64;
}

Status check_dtype(InferContext& c, DType t, bool allow_bool) {
  if (t == DType::kUndefined || is_numeric(t) || (allow_bool && t == DType::kBool)) return Status::ok();
  return c.error(std::string("input type ") + dtype_name(t) + " not supported");
}

// ReduceX: data, optional axes input.
Status infer_reduce(InferContext& c, bool allow_bool) {
  DType t = c.input_dtype(0);
  FERRY_RETURN_IF_ERROR(check_dtype(c, t, allow_bool));
  const SymShape& in = c.input_shape(0);
  bool keepdims = c.node().attr_int("keepdims", 1) != 0;
  bool axes_is_input = c.has_input(1);
  const Tensor* axes_val = axes_is_input ? c.input_value(1) : nullptr;
  if (!in.rank_known || (axes_is_input && !axes_val)) {
    if (in.rank_known && keepdims) {
      c.set_output(0, t, SymShape::from_dims(std::vector<Dim>(in.dims.size())));
    } else {
      c.set_output(0, t, SymShape::unknown());
    }
    return Status::ok();
  }
  auto axes = resolve_reduce_axes(c.node(), axes_val, in.rank());
  if (!axes) return c.error(axes.status().message());
  if (axes->noop) {
    c.set_output(0, t, in);
    return Status::ok();
  }
  std::vector<Dim> out;
  for (size_t i = 0; i < in.dims.size(); ++i) {
    if (!axes->reduce[i]) {
      out.push_back(in.dims[i]);
    } else if (keepdims) {
      out.push_back(Dim(1));
    }
  }
  c.set_output(0, t, SymShape::from_dims(out));
  return Status::ok();
}

Status infer_arg(InferContext& c) {
  DType t = c.input_dtype(0);
  FERRY_RETURN_IF_ERROR(check_dtype(c, t, /*allow_bool=*/false));
  const SymShape& in = c.input_shape(0);
  bool keepdims = c.node().attr_int("keepdims", 1) != 0;
  int64_t sli = c.node().attr_int("select_last_index", 0);
  if (sli != 0 && sli != 1) return c.error("select_last_index must be 0 or 1");
  if (!in.rank_known) {
    c.set_output(0, DType::kInt64, SymShape::unknown());
    return Status::ok();
  }
  if (in.rank() == 0) return c.error("input must have rank >= 1");
  int64_t axis = c.node().attr_int("axis", 0);
  auto ax = normalize_axis(axis, in.rank());
  if (!ax) return c.error(ax.status().message());
  std::vector<Dim> out;
  for (int i = 0; i < in.rank(); ++i) {
    if (i != *ax) {
      out.push_back(in.dims[static_cast<size_t>(i)]);
    } else if (keepdims) {
      out.push_back(Dim(1));
    }
  }
  c.set_output(0, DType::kInt64, SymShape::from_dims(out));
  return Status::ok();
}

Status infer_cum(InferContext& c) {
  DType t = c.input_dtype(0);
  FERRY_RETURN_IF_ERROR(check_dtype(c, t, /*allow_bool=*/false));
  DType at = c.input_dtype(1);
  if (at != DType::kUndefined && at != DType::kInt32 && at != DType::kInt64)
    return c.error("axis must be int32 or int64");
  const SymShape& in = c.input_shape(0);
  if (const Tensor* a = c.input_value(1); a && in.rank_known) {
    if (a->numel() != 1 || a->rank() > 1) return c.error("axis must be a scalar");
    int64_t axis = tensor_to_int64s(*a)[0];
    if (axis < -in.rank() || axis >= in.rank())
      return c.error("axis " + std::to_string(axis) + " out of range for rank " + std::to_string(in.rank()));
  }
  c.set_output(0, t, in);
  return Status::ok();
}

}  // namespace

void register_reduce(OpRegistry& r) {
  for (const char* op : {"ReduceSum", "ReduceMean", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
                         "ReduceLogSumExp", "ReduceSumSquare"})
    r.add({"", op, 1, 2, 1, 1, [](InferContext& c) { return infer_reduce(c, /*allow_bool=*/false); }});
  for (const char* op : {"ReduceMax", "ReduceMin"})
    r.add({"", op, 1, 2, 1, 1, [](InferContext& c) { return infer_reduce(c, /*allow_bool=*/true); }});
  r.add({"", "ArgMax", 1, 1, 1, 1, infer_arg});
  r.add({"", "ArgMin", 1, 1, 1, 1, infer_arg});
  r.add({"", "CumSum", 2, 2, 1, 1, infer_cum});
  r.add({"", "CumProd", 2, 2, 1, 1, infer_cum});
}

}  // namespace ferry
