// softmax.cc — op semantics (schemas + shape/dtype inference) of the softmax family: Softmax, LogSoftmax,
// Hardmax. Before opset 13 the input is coerced to 2-D [prod(dims[:axis]), prod(dims[axis:])] (default axis 1);
// from 13 the op normalizes along the single `axis` (default -1). The output always has the input's shape.
#include <string>

#include "ops/op_registry.h"

namespace ferry {

namespace {

Status infer_softmax(InferContext& c) {
  DType t = c.input_dtype(0);
  if (t != DType::kUndefined && t != DType::kFloat && t != DType::kDouble && t != DType::kFloat16 &&
      t != DType::kBFloat16)
    return c.error(std::string("input type ") + dtype_name(t) + " not supported (float types only)");
  const SymShape& in = c.input_shape(0);
  if (in.rank_known) {
    int64_t axis = c.node().attr_int("axis", c.opset() >= 13 ? -1 : 1);
    int rank = in.rank();
    // Opset < 13 accepts axis == rank (an empty normalized block), as onnx's coerce-to-2D does.
    bool ok = c.opset() >= 13 ? (axis >= -rank && axis < rank) : (axis >= -rank && axis <= rank);
    if (!ok || (rank == 0 && c.opset() >= 13))
      return c.error("axis " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
  }
  c.set_output(0, t, in);
  return Status::ok();
}

}  // namespace

void register_softmax(OpRegistry& r) {
  for (const char* op : {"Softmax", "LogSoftmax", "Hardmax"}) r.add({"", op, 1, 1, 1, 1, infer_softmax});
}

}  // namespace ferry
