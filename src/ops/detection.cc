// detection.cc — op semantics of the detection family: NonMaxSuppression.
#include "ops/op_registry.h"

namespace ferry {

namespace {

Status infer_nms(InferContext& c) {
  const SymShape& boxes = c.input_shape(0);
  const SymShape& scores = c.input_shape(1);
  if (boxes.rank_known && (boxes.rank() != 3 || (boxes.dims[2].known() && boxes.dims[2].value != 4)))
    return c.error("boxes must have shape [batch, boxes, 4], got " + boxes.to_string());
  if (scores.rank_known && scores.rank() != 3)
    return c.error("scores must have shape [batch, classes, boxes], got " + scores.to_string());
  for (int i : {0, 1}) {
    DType t = c.input_dtype(i);
    if (t != DType::kUndefined && t != DType::kFloat) return c.error("boxes and scores must be float");
  }
  int64_t cpb = c.node().attr_int("center_point_box", 0);
  if (cpb != 0 && cpb != 1) return c.error("center_point_box must be 0 or 1");
  // The number of selected boxes depends on the data.
  c.set_output(0, DType::kInt64, SymShape::from_dims({Dim(), Dim(3)}));
  return Status::ok();
}

}  // namespace

void register_detection(OpRegistry& r) { r.add({"", "NonMaxSuppression", 2, 5, 1, 1, infer_nms}); }

}  // namespace ferry
