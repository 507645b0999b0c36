// resize.cc — op semantics (schemas + shape/dtype inference) of the resize family: Resize, Upsample,
// GridSample, AffineGrid, RoiAlign.
#include <algorithm>
#include <cmath>
#include <set>
#include <string>

#include "core/dtype_dispatch.h"
#include "ops/op_registry.h"
#include "ops/resize_util.h"

namespace ferry {

Expected<ResizeGeometry> resize_geometry(const Node& node, int opset, const Shape& in, const Tensor* roi_t,
                                         const Tensor* scales_t, const Tensor* sizes_t) {
  int rank = static_cast<int>(in.size());
  if (scales_t && scales_t->numel() == 0) scales_t = nullptr;
  if (sizes_t && sizes_t->numel() == 0) sizes_t = nullptr;
  if (roi_t && roi_t->numel() == 0) roi_t = nullptr;
  std::vector<int> axes;
  const Attr* axes_attr = node.op_type == "Resize" && opset >= 18 ? node.attr("axes") : nullptr;
  if (axes_attr) {
    std::set<int> seen;
    for (int64_t a : axes_attr->ints) {
      if (a < -rank || a >= rank) return invalid_argument("axes value " + std::to_string(a) + " out of range");
      int ax = static_cast<int>(a < 0 ? a + rank : a);
      if (!seen.insert(ax).second) return invalid_argument("axes has duplicate value " + std::to_string(a));
      axes.push_back(ax);
    }
  } else {
    for (int d = 0; d < rank; ++d) axes.push_back(d);
  }
  size_t na = axes.size();
  ResizeGeometry g;
  g.out = in;
  g.scales.assign(static_cast<size_t>(rank), 1.0);
  g.roi.assign(static_cast<size_t>(2 * rank), 0.0);
  for (int d = 0; d < rank; ++d) g.roi[static_cast<size_t>(rank + d)] = 1.0;
  if (roi_t) {
    std::vector<double> r = to_double_vector(*roi_t);
    if (r.size() != 2 * na)
      return invalid_argument("roi has " + std::to_string(r.size()) + " values, expected " + std::to_string(2 * na));
    for (size_t i = 0; i < na; ++i) {
      g.roi[static_cast<size_t>(axes[i])] = r[i];
      g.roi[static_cast<size_t>(rank + axes[i])] = r[na + i];
    }
  }
  if (scales_t && sizes_t) return invalid_argument("only one of scales and sizes may be given");
  if (scales_t) {
    std::vector<double> s = to_double_vector(*scales_t);
    if (s.size() != na)
      return invalid_argument("scales has " + std::to_string(s.size()) + " values, expected " + std::to_string(na));
    for (size_t i = 0; i < na; ++i) {
      if (!(s[i] > 0) || !std::isfinite(s[i]))
        return invalid_argument("scales must be positive and finite, got " + std::to_string(s[i]));
      size_t d = static_cast<size_t>(axes[i]);
      g.scales[d] = s[i];
      double o = std::floor(static_cast<double>(in[d]) * s[i]);
      if (o > 1e12) return invalid_argument("scales give an output dimension that is too large");
      g.out[d] = static_cast<int64_t>(o);
    }
    return g;
  }
  if (!sizes_t) return invalid_argument("one of scales and sizes must be given");
  std::vector<int64_t> sz = to_int64_vector(*sizes_t);
  if (sz.size() != na)
    return invalid_argument("sizes has " + std::to_string(sz.size()) + " values, expected " + std::to_string(na));
  for (int64_t v : sz)
    if (v < 0) return invalid_argument("sizes must be non-negative, got " + std::to_string(v));
  std::string policy = opset >= 18 ? node.attr_string("keep_aspect_ratio_policy", "stretch") : "stretch";
  std::vector<double> ratio(na);
  for (size_t i = 0; i < na; ++i) {
    int64_t dim = in[static_cast<size_t>(axes[i])];
    ratio[i] = dim > 0 ? static_cast<double>(sz[i]) / static_cast<double>(dim) : 1.0;
  }
  if (policy == "stretch") {
    for (size_t i = 0; i < na; ++i) {
      g.scales[static_cast<size_t>(axes[i])] = ratio[i];
      g.out[static_cast<size_t>(axes[i])] = sz[i];
    }
  } else if (policy == "not_larger" || policy == "not_smaller") {
    if (na == 0) return g;
    double s = policy == "not_larger" ? *std::min_element(ratio.begin(), ratio.end())
                                      : *std::max_element(ratio.begin(), ratio.end());
    for (size_t i = 0; i < na; ++i) {
      size_t d = static_cast<size_t>(axes[i]);
      g.scales[d] = s;
      g.out[d] = static_cast<int64_t>(s * static_cast<double>(in[d]) + 0.5);
    }
  } else {
    return invalid_argument("unknown keep_aspect_ratio_policy '" + policy + "'");
  }
  return g;
}

namespace {

bool is_float_type(DType t) {
  return t == DType::kFloat || t == DType::kDouble || t == DType::kFloat16 || t == DType::kBFloat16;
}

Status check_one_of(InferContext& c, const std::string& key, const std::string& value,
                    std::initializer_list<const char*> allowed) {
  for (const char* a : allowed)
    if (value == a) return Status::ok();
  return c.error("unsupported " + key + " '" + value + "'");
}

// Resize (all opsets) and Upsample.
Status infer_resize(InferContext& c) {
  const Node& n = c.node();
  bool upsample = n.op_type == "Upsample";
  std::string mode = n.attr_string("mode", "nearest");
  if (mode == "bilinear" && upsample) mode = "linear";
  if (upsample && c.opset() < 9 && mode == "bilinear") mode = "linear";
  FERRY_RETURN_IF_ERROR(check_one_of(c, "mode", mode, {"nearest", "linear", "cubic"}));
  if (!upsample && c.opset() >= 11) {
    FERRY_RETURN_IF_ERROR(check_one_of(c, "coordinate_transformation_mode",
                                       n.attr_string("coordinate_transformation_mode", "half_pixel"),
                                       {"half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
                                        "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize"}));
    FERRY_RETURN_IF_ERROR(check_one_of(c, "nearest_mode", n.attr_string("nearest_mode", "round_prefer_floor"),
                                       {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"}));
  }
  if (c.input_dtype(0) == DType::kString) return c.error("X must be numeric");
  const SymShape& xs = c.input_shape(0);
  const Tensor *roi = nullptr, *scales = nullptr, *sizes = nullptr;
  bool known = true;
  Tensor attr_scales;
  if (upsample && c.opset() < 9) {
    std::vector<float> sv = n.attr_floats("scales");
    if (sv.empty()) return c.error("attribute scales is required");
    attr_scales = Tensor::from_vector<float>(DType::kFloat, {static_cast<int64_t>(sv.size())}, sv);
    scales = &attr_scales;
  } else if (upsample || c.opset() < 11) {
    if (!c.has_input(1)) return c.error("input scales is required");
    scales = c.input_value(1);
    known = scales != nullptr;
  } else {
    // roi matters only for tf_crop_and_resize (the kernel ignores it otherwise).
    if (c.has_input(1) && n.attr_string("coordinate_transformation_mode", "half_pixel") == "tf_crop_and_resize") {
      roi = c.input_value(1);
      known = known && roi != nullptr;
    }
    if (c.has_input(2)) {
      scales = c.input_value(2);
      known = known && scales != nullptr;
    }
    if (c.has_input(3)) {
      sizes = c.input_value(3);
      known = known && sizes != nullptr;
    }
    if (!c.has_input(2) && !c.has_input(3)) return c.error("one of scales and sizes must be given");
  }
  if (known && xs.is_concrete()) {
    auto g = resize_geometry(n, c.opset(), xs.to_shape(), roi, scales, sizes);
    if (!g) return c.error(g.status().message());
    c.set_output(0, c.input_dtype(0), g->out);
    return Status::ok();
  }
  if (!xs.rank_known) {
    c.set_output(0, c.input_dtype(0), SymShape::unknown());
    return Status::ok();
  }
  // Symbolic X (or unknown values): keep the dims of axes that are not resized; with known scales keep
  // dims scaled by 1 and compute known ones; with known sizes (stretch) take them.
  SymShape out = xs;
  const Attr* axes = !upsample && c.opset() >= 18 ? n.attr("axes") : nullptr;
  std::vector<int> listed;
  for (int d = 0; d < xs.rank(); ++d) {
    bool in_axes = !axes;
    if (axes)
      for (int64_t a : axes->ints) in_axes = in_axes || a == d || a + xs.rank() == d;
    if (in_axes) listed.push_back(d);
  }
  const Tensor* sc = scales && scales->numel() > 0 ? scales : nullptr;
  const Tensor* sz = sizes && sizes->numel() > 0 ? sizes : nullptr;
  std::string policy = c.opset() >= 18 ? n.attr_string("keep_aspect_ratio_policy", "stretch") : "stretch";
  std::vector<double> sv = sc ? to_double_vector(*sc) : std::vector<double>{};
  std::vector<int64_t> zv = sz ? to_int64_vector(*sz) : std::vector<int64_t>{};
  for (size_t i = 0; i < listed.size(); ++i) {
    Dim& dim = out.dims[static_cast<size_t>(listed[i])];
    if (sc && sv.size() == listed.size()) {
      if (sv[i] == 1.0) continue;
      dim = dim.known() && sv[i] > 0 ? Dim(static_cast<int64_t>(std::floor(static_cast<double>(dim.value) * sv[i])))
                                     : Dim();
    } else if (sz && zv.size() == listed.size() && policy == "stretch" && zv[i] >= 0) {
      dim = Dim(zv[i]);
    } else {
      dim = Dim();
    }
  }
  c.set_output(0, c.input_dtype(0), out);
  return Status::ok();
}

Status infer_grid_sample(InferContext& c) {
  const Node& n = c.node();
  std::string mode = n.attr_string("mode", c.opset() >= 20 ? "linear" : "bilinear");
  FERRY_RETURN_IF_ERROR(check_one_of(c, "mode", mode, {"linear", "bilinear", "nearest", "cubic", "bicubic"}));
  FERRY_RETURN_IF_ERROR(
      check_one_of(c, "padding_mode", n.attr_string("padding_mode", "zeros"), {"zeros", "border", "reflection"}));
  if (c.input_dtype(0) == DType::kString) return c.error("X must be numeric");
  DType gt = c.input_dtype(1);
  if (gt != DType::kUndefined && !is_float_type(gt)) return c.error("grid must be a float tensor");
  const SymShape& xs = c.input_shape(0);
  const SymShape& gs = c.input_shape(1);
  if (xs.rank_known && xs.rank() < 3) return c.error("X must have rank >= 3, got " + xs.to_string());
  if (xs.rank_known && gs.rank_known) {
    if (gs.rank() != xs.rank()) return c.error("grid rank " + std::to_string(gs.rank()) + " != X rank");
    const Dim& last = gs.dims.back();
    if (last.known() && last.value != xs.rank() - 2)
      return c.error("grid last dim is " + std::to_string(last.value) + ", expected " + std::to_string(xs.rank() - 2));
    if (xs.dims[0].known() && gs.dims[0].known() && xs.dims[0].value != gs.dims[0].value)
      return c.error("X and grid batch sizes differ");
  }
  if (!gs.rank_known || !xs.rank_known) {
    c.set_output(0, c.input_dtype(0), xs.rank_known ? SymShape::from_dims(std::vector<Dim>(xs.dims.size())) : SymShape::unknown());
    return Status::ok();
  }
  std::vector<Dim> out = {xs.dims[0], xs.dims[1]};
  for (int d = 1; d + 1 < gs.rank(); ++d) out.push_back(gs.dims[static_cast<size_t>(d)]);
  c.set_output(0, c.input_dtype(0), SymShape::from_dims(out));
  return Status::ok();
}

Status infer_affine_grid(InferContext& c) {
  DType tt = c.input_dtype(0);
  if (tt != DType::kUndefined && !is_float_type(tt)) return c.error("theta must be a float tensor");
  const SymShape& ts = c.input_shape(0);
  if (ts.rank_known && ts.rank() != 3) return c.error("theta must have rank 3, got " + ts.to_string());
  const Tensor* size = c.input_value(1);
  if (!size) {
    const SymShape& ss = c.input_shape(1);
    if (ss.rank_known && ss.rank() == 1 && ss.dims[0].known()) {
      int64_t r = ss.dims[0].value;
      if (r != 4 && r != 5) return c.error("size must have 4 or 5 elements");
      std::vector<Dim> dims(static_cast<size_t>(r));
      dims.back() = Dim(r - 2);
      c.set_output(0, tt, SymShape::from_dims(dims));
    } else {
      c.set_output(0, tt, SymShape::unknown());
    }
    return Status::ok();
  }
  std::vector<int64_t> sz = to_int64_vector(*size);
  if (sz.size() != 4 && sz.size() != 5) return c.error("size must have 4 or 5 elements");
  for (int64_t v : sz)
    if (v < 0) return c.error("size values must be non-negative");
  int sd = static_cast<int>(sz.size()) - 2;
  if (ts.rank_known) {
    const Dim& r = ts.dims[1];
    const Dim& k = ts.dims[2];
    if ((r.known() && r.value != sd) || (k.known() && k.value != sd + 1))
      return c.error("theta must be [N, " + std::to_string(sd) + ", " + std::to_string(sd + 1) + "], got " +
                     ts.to_string());
    if (ts.dims[0].known() && ts.dims[0].value != sz[0]) return c.error("theta batch differs from size[0]");
  }
  Shape out = {sz[0]};
  for (size_t i = 2; i < sz.size(); ++i) out.push_back(sz[i]);
  out.push_back(sd);
  c.set_output(0, tt, out);
  return Status::ok();
}

Status infer_roi_align(InferContext& c) {
  const Node& n = c.node();
  FERRY_RETURN_IF_ERROR(check_one_of(c, "mode", n.attr_string("mode", "avg"), {"avg", "max"}));
  if (c.opset() >= 16)
    FERRY_RETURN_IF_ERROR(check_one_of(c, "coordinate_transformation_mode",
                                       n.attr_string("coordinate_transformation_mode", "half_pixel"),
                                       {"half_pixel", "output_half_pixel"}));
  DType xt = c.input_dtype(0);
  if (xt != DType::kUndefined && !is_float_type(xt)) return c.error("X must be a float tensor");
  int64_t oh = n.attr_int("output_height", 1), ow = n.attr_int("output_width", 1);
  if (oh <= 0 || ow <= 0) return c.error("output_height and output_width must be positive");
  if (n.attr_int("sampling_ratio", 0) < 0) return c.error("sampling_ratio must be >= 0");
  const SymShape& xs = c.input_shape(0);
  const SymShape& rs = c.input_shape(1);
  const SymShape& bs = c.input_shape(2);
  if (xs.rank_known && xs.rank() != 4) return c.error("X must have rank 4, got " + xs.to_string());
  if (rs.rank_known && (rs.rank() != 2 || (rs.dims[1].known() && rs.dims[1].value != 4)))
    return c.error("rois must have shape [num_rois, 4], got " + rs.to_string());
  if (bs.rank_known && bs.rank() != 1) return c.error("batch_indices must be 1-D, got " + bs.to_string());
  Dim nr = bs.rank_known ? bs.dims[0] : (rs.rank_known ? rs.dims[0] : Dim());
  if (rs.rank_known && bs.rank_known && rs.dims[0].known() && bs.dims[0].known() &&
      rs.dims[0].value != bs.dims[0].value)
    return c.error("rois and batch_indices disagree on num_rois");
  Dim ch = xs.rank_known ? xs.dims[1] : Dim();
  c.set_output(0, xt, SymShape::from_dims({nr, ch, Dim(oh), Dim(ow)}));
  return Status::ok();
}

}  // namespace

void register_resize(OpRegistry& r) {
  r.add({"", "Resize", 1, 4, 1, 1, infer_resize});
  r.add({"", "Upsample", 1, 2, 1, 1, infer_resize});
  r.add({"", "GridSample", 2, 2, 1, 1, infer_grid_sample});
  r.add({"", "AffineGrid", 2, 2, 1, 1, infer_affine_grid});
  r.add({"", "RoiAlign", 3, 3, 1, 1, infer_roi_align});
}

}  // namespace ferry
