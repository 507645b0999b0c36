// cast.cc — op semantics (schemas + shape/dtype inference) of the cast family: Cast, CastLike, BitCast.
#include <string>

#include "ops/op_registry.h"

namespace ferry {

namespace {

Status check_cast_attrs(InferContext& c) {
  std::string mode = c.node().attr_string("round_mode", "up");
  if (mode != "up" && mode != "down" && mode != "nearest")
    return c.error("attribute round_mode must be 'up', 'down' or 'nearest', got '" + mode + "'");
  return Status::ok();
}

bool castable(DType t) { return t != DType::kComplex64 && t != DType::kComplex128 && t != DType::kUndefined; }

Status infer_cast(InferContext& c) {
  const Attr* to = c.node().attr("to");
  if (!to || to->kind != Attr::Kind::kInt) return c.error("missing integer attribute 'to'");
  if (!dtype_is_valid(static_cast<int32_t>(to->i)) || !castable(static_cast<DType>(to->i)))
    return c.error("attribute 'to' = " + std::to_string(to->i) + " is not a supported element type");
  DType in = c.input_dtype(0);
  if (in != DType::kUndefined && !castable(in))
    return c.error(std::string("cannot cast from ") + dtype_name(in));
  FERRY_RETURN_IF_ERROR(check_cast_attrs(c));
  c.set_output(0, static_cast<DType>(to->i), c.input_shape(0));
  return Status::ok();
}

Status infer_cast_like(InferContext& c) {
  DType in = c.input_dtype(0), target = c.input_dtype(1);
  if (in != DType::kUndefined && !castable(in)) return c.error(std::string("cannot cast from ") + dtype_name(in));
  if (target != DType::kUndefined && !castable(target))
    return c.error(std::string("cannot cast to ") + dtype_name(target));
  FERRY_RETURN_IF_ERROR(check_cast_attrs(c));
  c.set_output(0, target, c.input_shape(0));
  return Status::ok();
}

// BitCast reinterprets the bytes of each element; both types must have the same (whole-byte) size.
Status infer_bitcast(InferContext& c) {
  const Attr* to = c.node().attr("to");
  if (!to || to->kind != Attr::Kind::kInt) return c.error("missing integer attribute 'to'");
  if (!dtype_is_valid(static_cast<int32_t>(to->i)))
    return c.error("attribute 'to' = " + std::to_string(to->i) + " is not an element type");
  DType out = static_cast<DType>(to->i);
  DType in = c.input_dtype(0);
  if (out == DType::kString || in == DType::kString) return c.error("BitCast does not accept strings");
  if (dtype_bits(out) < 8) return c.error(std::string("BitCast to sub-byte type ") + dtype_name(out));
  if (in != DType::kUndefined) {
    if (dtype_bits(in) < 8) return c.error(std::string("BitCast from sub-byte type ") + dtype_name(in));
    if (dtype_size(in) != dtype_size(out))
      return c.error(std::string("BitCast needs equal element sizes, got ") + dtype_name(in) + " and " +
                     dtype_name(out));
  }
  c.set_output(0, out, c.input_shape(0));
  return Status::ok();
}

}  // namespace

void register_cast(OpRegistry& r) {
  r.add({"", "Cast", 1, 1, 1, 1, infer_cast});
  r.add({"", "CastLike", 2, 2, 1, 1, infer_cast_like});
  r.add({"", "BitCast", 1, 1, 1, 1, infer_bitcast});
}

}  // namespace ferry
