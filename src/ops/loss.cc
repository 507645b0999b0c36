// loss.cc — op semantics (schemas + shape/dtype inference) of the loss family: NegativeLogLikelihoodLoss and
// SoftmaxCrossEntropyLoss. Input/scores are [N, C, d1..dk], target/labels [N, d1..dk] (int32/int64), optional
// weight [C]. The loss is [N, d1..dk] for reduction "none", else a scalar; SoftmaxCrossEntropyLoss's optional
// second output (log_prob) has the scores' shape.
#include <string>

#include "ops/op_registry.h"

namespace ferry {

namespace {

bool is_float(DType t) {
  return t == DType::kFloat || t == DType::kDouble || t == DType::kFloat16 || t == DType::kBFloat16;
}

Status infer_loss(InferContext& c) {
  DType t = c.input_dtype(0);
  if (t != DType::kUndefined && !is_float(t))
    return c.error(std::string("input type ") + dtype_name(t) + " not supported (float types only)");
  DType tt = c.input_dtype(1);
  if (tt != DType::kUndefined && tt != DType::kInt32 && tt != DType::kInt64)
    return c.error(std::string("target must be int32 or int64, got ") + dtype_name(tt));
  if (c.has_input(2) && c.input_dtype(2) != DType::kUndefined && t != DType::kUndefined && c.input_dtype(2) != t)
    return c.error("weight type must match the input type");
  std::string reduction = c.node().attr_string("reduction", "mean");
  if (reduction != "none" && reduction != "sum" && reduction != "mean")
    return c.error("reduction must be none, sum or mean, got '" + reduction + "'");
  const SymShape& in = c.input_shape(0);
  const SymShape& tg = c.input_shape(1);
  if (in.rank_known && in.rank() < 2) return c.error("input must have rank >= 2 ([N, C, ...])");
  if (in.rank_known && tg.rank_known) {
    if (tg.rank() != in.rank() - 1) return c.error("target rank must be input rank - 1");
    for (int i = 0; i < tg.rank(); ++i) {
      const Dim& a = in.dims[static_cast<size_t>(i == 0 ? 0 : i + 1)];
      const Dim& b = tg.dims[static_cast<size_t>(i)];
      if (a.known() && b.known() && a.value != b.value)
        return c.error("target shape " + tg.to_string() + " does not match input shape " + in.to_string());
    }
  }
  if (c.has_input(2) && in.rank_known) {
    const SymShape& w = c.input_shape(2);
    if (w.rank_known && (w.rank() != 1 || (w.dims[0].known() && in.dims[1].known() && w.dims[0].value != in.dims[1].value)))
      return c.error("weight must have shape [C]");
  }
  if (reduction == "none") {
    if (tg.rank_known) {
      c.set_output(0, t, tg);
    } else if (in.rank_known) {
      std::vector<Dim> d = in.dims;
      d.erase(d.begin() + 1);
      c.set_output(0, t, SymShape::from_dims(d));
    } else {
      c.set_output(0, t, SymShape::unknown());
    }
  } else {
    c.set_output(0, t, SymShape::from_dims({}));
  }
  if (c.num_outputs() > 1) c.set_output(1, t, in);
  return Status::ok();
}

}  // namespace

void register_loss(OpRegistry& r) {
  r.add({"", "NegativeLogLikelihoodLoss", 2, 3, 1, 1, infer_loss});
  r.add({"", "SoftmaxCrossEntropyLoss", 2, 3, 1, 2, infer_loss});
}

}  // namespace ferry
