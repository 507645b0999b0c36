// norm.cc — op semantics (schemas + shape/dtype inference) of the norm family:
// BatchNormalization, InstanceNormalization, LayerNormalization, GroupNormalization, RMSNormalization, LRN,
// LpNormalization, MeanVarianceNormalization.
#include <string>

#include "ops/op_registry.h"

namespace ferry {
namespace {

bool is_float_type(DType t) {
  return t == DType::kFloat || t == DType::kDouble || t == DType::kFloat16 || t == DType::kBFloat16;
}

// Input i must be one of float/double/float16/bfloat16 (when known).
Status check_float_input(InferContext& c, int i, const char* what) {
  DType t = c.input_dtype(i);
  if (t != DType::kUndefined && !is_float_type(t))
    return c.error(std::string(what) + " has element type " + dtype_name(t) +
                   ", expected float, double, float16 or bfloat16");
  return Status::ok();
}

// Input i must have at least `min_rank` dims when its rank is known.
Status check_min_rank(InferContext& c, int i, int min_rank, const char* what) {
  const SymShape& s = c.input_shape(i);
  if (s.rank_known && s.rank() < min_rank)
    return c.error(std::string(what) + " has rank " + std::to_string(s.rank()) + ", expected at least " +
                   std::to_string(min_rank));
  return Status::ok();
}

// A 1-D per-channel parameter (input i) must have `channels` elements when both are known.
Status check_channel_param(InferContext& c, int i, const Dim& channels, const char* what) {
  if (!c.has_input(i)) return Status::ok();
  const SymShape& s = c.input_shape(i);
  if (!s.rank_known || !channels.known()) return Status::ok();
  if (s.rank() != 1) return c.error(std::string(what) + " must be 1-D, got shape " + s.to_string());
  if (s.dims[0].known() && s.dims[0].value != channels.value)
    return c.error(std::string(what) + " has " + std::to_string(s.dims[0].value) + " elements, expected " +
                   std::to_string(channels.value) + " (channels)");
  return Status::ok();
}

Status infer_batch_norm(InferContext& c) {
  FERRY_RETURN_IF_ERROR(check_float_input(c, 0, "X"));
  FERRY_RETURN_IF_ERROR(check_min_rank(c, 0, 2, "X"));
  const SymShape& xs = c.input_shape(0);
  Dim channels = xs.rank_known && xs.rank() >= 2 ? xs.dims[1] : Dim();
  bool spatial = c.opset() >= 9 || c.node().attr_int("spatial", 1) != 0;
  if (spatial) {
    const char* names[] = {"scale", "B", "input_mean", "input_var"};
    for (int i = 1; i < 5; ++i) FERRY_RETURN_IF_ERROR(check_channel_param(c, i, channels, names[i - 1]));
  }
  bool training = c.opset() >= 14 && c.node().attr_int("training_mode", 0) != 0;
  if (c.opset() >= 14 && !training && (c.has_output(1) || c.has_output(2)))
    return c.error("running_mean/running_var outputs need training_mode=1");
  float momentum = c.node().attr_float("momentum", 0.9f);
  if (!(momentum >= 0.0f && momentum <= 1.0f)) return c.error("momentum must be in [0, 1]");
  c.set_output(0, c.input_dtype(0), xs);
  DType stat_type = c.input_dtype(3);
  SymShape stat_shape = c.input_shape(3);
  for (int i = 1; i < c.num_outputs(); ++i)
    if (c.has_output(i)) c.set_output(i, stat_type, stat_shape);
  return Status::ok();
}

Status infer_instance_norm(InferContext& c) {
  FERRY_RETURN_IF_ERROR(check_float_input(c, 0, "input"));
  FERRY_RETURN_IF_ERROR(check_min_rank(c, 0, 3, "input"));
  const SymShape& xs = c.input_shape(0);
  Dim channels = xs.rank_known ? xs.dims[1] : Dim();
  FERRY_RETURN_IF_ERROR(check_channel_param(c, 1, channels, "scale"));
  FERRY_RETURN_IF_ERROR(check_channel_param(c, 2, channels, "B"));
  c.set_output(0, c.input_dtype(0), xs);
  return Status::ok();
}

// LayerNormalization / RMSNormalization: normalize over dims [axis, rank).
Status infer_layer_like(InferContext& c, bool has_stats) {
  FERRY_RETURN_IF_ERROR(check_float_input(c, 0, "X"));
  const SymShape& xs = c.input_shape(0);
  int64_t stash = c.node().attr_int("stash_type", 1);
  if (!is_float_type(static_cast<DType>(stash)) || !dtype_is_valid(static_cast<int32_t>(stash)))
    return c.error("stash_type " + std::to_string(stash) + " is not a floating type");
  // RMSNormalization: Y has the type of scale (V); LayerNormalization: all T.
  c.set_output(0, has_stats ? c.input_dtype(0) : c.input_dtype(1), xs);
  if (!has_stats) FERRY_RETURN_IF_ERROR(check_float_input(c, 1, "scale"));
  if (!xs.rank_known) {
    for (int i = 1; i < c.num_outputs(); ++i)
      if (c.has_output(i)) c.set_output(i, static_cast<DType>(stash), SymShape::unknown());
    return Status::ok();
  }
  if (xs.rank() < 1) return c.error("X must have rank >= 1");
  auto axis = normalize_axis(c.node().attr_int("axis", -1), xs.rank());
  if (!axis) return c.error(axis.status().message());
  if (has_stats) {
    SymShape ss = xs;
    for (int d = *axis; d < ss.rank(); ++d) ss.dims[static_cast<size_t>(d)] = Dim(1);
    for (int i = 1; i < c.num_outputs(); ++i)
      if (c.has_output(i)) c.set_output(i, static_cast<DType>(stash), ss);
  }
  return Status::ok();
}

Status infer_group_norm(InferContext& c) {
  FERRY_RETURN_IF_ERROR(check_float_input(c, 0, "X"));
  FERRY_RETURN_IF_ERROR(check_min_rank(c, 0, 2, "X"));
  const Attr* g = c.node().attr("num_groups");
  if (!g) return c.error("attribute num_groups is required");
  if (g->i <= 0) return c.error("num_groups must be positive, got " + std::to_string(g->i));
  const SymShape& xs = c.input_shape(0);
  if (xs.rank_known && xs.dims[1].known()) {
    int64_t ch = xs.dims[1].value;
    if (ch % g->i != 0)
      return c.error("channels " + std::to_string(ch) + " not divisible by num_groups " + std::to_string(g->i));
  }
  c.set_output(0, c.input_dtype(0), xs);
  return Status::ok();
}

Status infer_lrn(InferContext& c) {
  FERRY_RETURN_IF_ERROR(check_float_input(c, 0, "X"));
  FERRY_RETURN_IF_ERROR(check_min_rank(c, 0, 2, "X"));
  const Attr* size = c.node().attr("size");
  if (!size) return c.error("attribute size is required");
  if (size->i <= 0) return c.error("size must be positive, got " + std::to_string(size->i));
  c.set_output(0, c.input_dtype(0), c.input_shape(0));
  return Status::ok();
}

Status infer_lp_norm(InferContext& c) {
  FERRY_RETURN_IF_ERROR(check_float_input(c, 0, "input"));
  int64_t p = c.node().attr_int("p", 2);
  if (p != 1 && p != 2) return c.error("p must be 1 or 2, got " + std::to_string(p));
  const SymShape& xs = c.input_shape(0);
  if (xs.rank_known) {
    auto axis = normalize_axis(c.node().attr_int("axis", -1), xs.rank());
    if (!axis) return c.error(axis.status().message());
  }
  c.set_output(0, c.input_dtype(0), xs);
  return Status::ok();
}

Status infer_mvn(InferContext& c) {
  FERRY_RETURN_IF_ERROR(check_float_input(c, 0, "X"));
  const SymShape& xs = c.input_shape(0);
  if (xs.rank_known) {
    for (int64_t a : c.node().attr_ints("axes", {0, 2, 3})) {
      auto axis = normalize_axis(a, xs.rank());
      if (!axis) return c.error("axes: " + axis.status().message());
    }
  }
  c.set_output(0, c.input_dtype(0), xs);
  return Status::ok();
}

}  // namespace

void register_norm(OpRegistry& r) {
  r.add({"", "BatchNormalization", 5, 5, 1, 5, infer_batch_norm});
  r.add({"", "InstanceNormalization", 3, 3, 1, 1, infer_instance_norm});
  r.add({"", "LayerNormalization", 2, 3, 1, 3, [](InferContext& c) { return infer_layer_like(c, true); }});
  r.add({"", "RMSNormalization", 2, 2, 1, 1, [](InferContext& c) { return infer_layer_like(c, false); }});
  r.add({"", "GroupNormalization", 3, 3, 1, 1, infer_group_norm});
  r.add({"", "LRN", 1, 1, 1, 1, infer_lrn});
  r.add({"", "LpNormalization", 1, 1, 1, 1, infer_lp_norm});
  r.add({"", "MeanVarianceNormalization", 1, 1, 1, 1, infer_mvn});
}

}  // namespace ferry
