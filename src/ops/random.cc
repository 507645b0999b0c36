// random.cc — op semantics of the random family: RandomNormal, RandomUniform, RandomNormalLike,
// RandomUniformLike, Bernoulli, Multinomial. Values are random; shapes and dtypes are exact.
#include "ops/op_registry.h"

namespace ferry {

namespace {

bool is_random_float(DType t) {
  return t == DType::kFloat || t == DType::kDouble || t == DType::kFloat16 || t == DType::kBFloat16;
}

Status infer_random(InferContext& c) {
  DType t = static_cast<DType>(c.node().attr_int("dtype", static_cast<int64_t>(DType::kFloat)));
  if (!is_random_float(t)) return c.error("dtype must be a float type, got " + std::to_string(static_cast<int>(t)));
  const Attr* shape = c.node().attr("shape");
  if (!shape) return c.error("attribute 'shape' is required");
  for (int64_t d : shape->ints)
    if (d < 0) return c.error("shape has a negative dim");
  c.set_output(0, t, Shape(shape->ints));
  return Status::ok();
}

Status infer_random_like(InferContext& c) {
  DType t = c.input_dtype(0);
  if (c.node().attr("dtype")) t = static_cast<DType>(c.node().attr_int("dtype", 1));
  if (t != DType::kUndefined && !is_random_float(t))
    return c.error(std::string("output dtype must be a float type, got ") + dtype_name(t));
  c.set_output(0, t, c.input_shape(0));
  return Status::ok();
}

Status infer_bernoulli(InferContext& c) {
  DType in = c.input_dtype(0);
  if (in != DType::kUndefined && !is_random_float(in)) return c.error("input must be a float type");
  DType t = c.node().attr("dtype") ? static_cast<DType>(c.node().attr_int("dtype", 1)) : in;
  if (t != DType::kUndefined && (!dtype_is_valid(static_cast<int32_t>(t)) || t == DType::kString))
    return c.error("invalid output dtype");
  c.set_output(0, t, c.input_shape(0));
  return Status::ok();
}

Status infer_multinomial(InferContext& c) {
  DType t = static_cast<DType>(c.node().attr_int("dtype", static_cast<int64_t>(DType::kInt32)));
  if (t != DType::kInt32 && t != DType::kInt64) return c.error("dtype must be int32 or int64");
  int64_t n = c.node().attr_int("sample_size", 1);
  if (n < 1) return c.error("sample_size must be >= 1");
  const SymShape& x = c.input_shape(0);
  if (x.rank_known && x.rank() != 2) return c.error("input must be [batch_size, class_size], got " + x.to_string());
  c.set_output(0, t, SymShape::from_dims({x.rank_known ? x.dims[0] : Dim(), Dim(n)}));
  return Status::ok();
}

}  // namespace

void register_random(OpRegistry& r) {
  r.add({"", "RandomNormal", 0, 0, 1, 1, infer_random});
  r.add({"", "RandomUniform", 0, 0, 1, 1, infer_random});
  r.add({"", "RandomNormalLike", 1, 1, 1, 1, infer_random_like});
  r.add({"", "RandomUniformLike", 1, 1, 1, 1, infer_random_like});
  r.add({"", "Bernoulli", 1, 1, 1, 1, infer_bernoulli});
  r.add({"", "Multinomial", 1, 1, 1, 1, infer_multinomial});
}

}  // namespace ferry
