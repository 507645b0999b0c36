// shape_more.cc — shape-family schemas, part 2: Pad, CenterCropPad, DepthToSpace, SpaceToDepth, Range, EyeLike,
// Trilu, ReverseSequence (split from shape.cc to keep files small).
#include <algorithm>
#include <string>

#include "core/dtype_dispatch.h"
#include "ops/op_registry.h"
#include "ops/shape_params.h"

namespace ferry {
namespace {

using Dims = std::vector<Dim>;

SymShape unknown_of_rank(int64_t rank) {
  return rank >= 0 ? SymShape::from_dims(Dims(static_cast<size_t>(rank))) : SymShape::unknown();
}

Status infer_pad(InferContext& c) {
  const SymShape& in = c.input_shape(0);
  DType dt = c.input_dtype(0);
  std::string mode = c.node().attr_string("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge" && mode != "wrap")
    return c.error("unknown mode '" + mode + "'");
  if (!in.rank_known) {
    c.set_output(0, dt, SymShape::unknown());
    return Status::ok();
  }
  std::vector<int64_t> pads, axes;
  if (c.opset() < 11) {
    pads = c.node().attr_ints(c.opset() < 2 ? "paddings" : "pads");
  } else {
    const Tensor* pv = c.input_value(1);
    if (pv == nullptr) {
      c.set_output(0, dt, unknown_of_rank(in.rank()));
      return Status::ok();
    }
    pads = tensor_to_int64s(*pv);
    if (c.has_input(3)) {
      const Tensor* av = c.input_value(3);
      if (av == nullptr) {
        c.set_output(0, dt, unknown_of_rank(in.rank()));
        return Status::ok();
      }
      axes = tensor_to_int64s(*av);
    }
  }
  auto p = resolve_pads(in.rank(), pads, axes);
  if (!p) return c.error(p.status().message());
  Dims out = in.dims;
  for (int d = 0; d < in.rank(); ++d) {
    int64_t add = (*p)[static_cast<size_t>(d)] + (*p)[static_cast<size_t>(d + in.rank())];
    Dim& o = out[static_cast<size_t>(d)];
    if (add == 0) continue;
    if (!o.known()) { o = Dim(); continue; }
    if (o.value + add < 0) return c.error("pads make axis " + std::to_string(d) + " negative");
    if (mode != "constant" && o.value == 0 && add > 0) return c.error("cannot " + mode + "-pad an empty axis");
    o = Dim(o.value + add);
  }
  c.set_output(0, dt, SymShape::from_dims(out));
  return Status::ok();
}

Status infer_center_crop_pad(InferContext& c) {
  const SymShape& in = c.input_shape(0);
  DType dt = c.input_dtype(0);
  if (!in.rank_known) {
    c.set_output(0, dt, SymShape::unknown());
    return Status::ok();
  }
  std::vector<int64_t> axes = c.node().attr_ints("axes");
  if (axes.empty())
    for (int i = 0; i < in.rank(); ++i) axes.push_back(i);
  auto na = normalize_axes(axes, in.rank());
  if (!na) return c.error(na.status().message());
  const Tensor* sv = c.input_value(1);
  Dims out = in.dims;
  if (sv == nullptr) {
    for (int a : *na) out[static_cast<size_t>(a)] = Dim();
  } else {
    std::vector<int64_t> shape = tensor_to_int64s(*sv);
    if (shape.size() != na->size())
      return c.error("shape has " + std::to_string(shape.size()) + " values for " + std::to_string(na->size()) + " axes");
    for (size_t i = 0; i < shape.size(); ++i) {
      if (shape[i] < 0) return c.error("negative target size");
      out[static_cast<size_t>((*na)[i])] = Dim(shape[i]);
    }
  }
  c.set_output(0, dt, SymShape::from_dims(out));
  return Status::ok();
}

// DepthToSpace (to_space) and SpaceToDepth on [N,C,H,W].
Status infer_depth_space(InferContext& c, bool to_space) {
  const SymShape& in = c.input_shape(0);
  DType dt = c.input_dtype(0);
  int64_t b = c.node().attr_int("blocksize", 0);
  if (b <= 0) return c.error("blocksize must be positive");
  std::string mode = c.node().attr_string("mode", "DCR");
  if (mode != "DCR" && mode != "CRD") return c.error("unknown mode '" + mode + "'");
  if (!in.rank_known) {
    c.set_output(0, dt, unknown_of_rank(4));
    return Status::ok();
  }
  if (in.rank() != 4) return c.error("input must be 4-D, got rank " + std::to_string(in.rank()));
  Dims out = in.dims;
  const Dim& ch = in.dims[1];
  if (to_space) {
    if (ch.known()) {
      if (ch.value % (b * b) != 0) return c.error("channels not divisible by blocksize^2");
      out[1] = Dim(ch.value / (b * b));
    } else {
      out[1] = Dim();
    }
    for (int i = 2; i < 4; ++i) out[static_cast<size_t>(i)] = in.dims[static_cast<size_t>(i)].known() ? Dim(in.dims[static_cast<size_t>(i)].value * b) : Dim();
  } else {
    out[1] = ch.known() ? Dim(ch.value * b * b) : Dim();
    for (int i = 2; i < 4; ++i) {
      const Dim& d = in.dims[static_cast<size_t>(i)];
      if (d.known() && d.value % b != 0) return c.error("spatial dims not divisible by blocksize");
      out[static_cast<size_t>(i)] = d.known() ? Dim(d.value / b) : Dim();
    }
  }
  c.set_output(0, dt, SymShape::from_dims(out));
  return Status::ok();
}

Status infer_range(InferContext& c) {
  DType dt = c.input_dtype(0);
  for (int i = 1; i < 3; ++i)
    if (c.input_dtype(i) != DType::kUndefined && dt != DType::kUndefined && c.input_dtype(i) != dt)
      return c.error("start, limit and delta must have the same type");
  const Tensor *s = c.input_value(0), *l = c.input_value(1), *d = c.input_value(2);
  if (s == nullptr || l == nullptr || d == nullptr) {
    c.set_output(0, dt, unknown_of_rank(1));
    return Status::ok();
  }
  auto n = range_count(*s, *l, *d);
  if (!n) return c.error(n.status().message());
  c.set_output(0, dt, Shape{*n});
  return Status::ok();
}

Status infer_eye_like(InferContext& c) {
  const SymShape& in = c.input_shape(0);
  DType dt = c.input_dtype(0);
  if (const Attr* a = c.node().attr("dtype")) {
    if (!dtype_is_valid(static_cast<int32_t>(a->i))) return c.error("invalid dtype " + std::to_string(a->i));
    dt = static_cast<DType>(a->i);
  }
  if (in.rank_known && in.rank() != 2) return c.error("input must be 2-D");
  c.set_output(0, dt, in.rank_known ? in : unknown_of_rank(2));
  return Status::ok();
}

Status infer_trilu(InferContext& c) {
  const SymShape& in = c.input_shape(0);
  if (in.rank_known && in.rank() < 2) return c.error("input must have rank >= 2");
  c.set_output(0, c.input_dtype(0), in);
  return Status::ok();
}

Status infer_reverse_sequence(InferContext& c) {
  const SymShape& in = c.input_shape(0);
  int64_t ba = c.node().attr_int("batch_axis", 1), ta = c.node().attr_int("time_axis", 0);
  if (!((ba == 0 && ta == 1) || (ba == 1 && ta == 0))) return c.error("batch_axis/time_axis must be 0/1 or 1/0");
  if (in.rank_known && in.rank() < 2) return c.error("input must have rank >= 2");
  c.set_output(0, c.input_dtype(0), in);
  return Status::ok();
}

}  // namespace

void register_shape_more(OpRegistry& r) {
  r.add({"", "Pad", 1, 4, 1, 1, infer_pad});
  r.add({"", "CenterCropPad", 2, 2, 1, 1, infer_center_crop_pad});
  r.add({"", "DepthToSpace", 1, 1, 1, 1, [](InferContext& c) { return infer_depth_space(c, true); }});
  r.add({"", "SpaceToDepth", 1, 1, 1, 1, [](InferContext& c) { return infer_depth_space(c, false); }});
  r.add({"", "Range", 3, 3, 1, 1, infer_range});
  r.add({"", "EyeLike", 1, 1, 1, 1, infer_eye_like});
  r.add({"", "Trilu", 1, 2, 1, 1, infer_trilu});
  r.add({"", "ReverseSequence", 2, 2, 1, 1, infer_reverse_sequence});
}

}  // namespace ferry
