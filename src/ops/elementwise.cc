// elementwise.cc — op semantics (schemas + shape/dtype inference) of the elementwise family: unary math,
// activations, numpy-broadcasting binary ops, comparisons/logic, Where, Clip, variadic Sum/Max/Min/Mean,
// PRelu, SwiGLU and Dropout (inference semantics).
#include <string>

#include "ops/op_registry.h"

namespace ferry {

namespace {

// Allowed element types, as a bit mask over DType values.
using TypeMask = uint64_t;
constexpr TypeMask bit(DType t) { return TypeMask{1} << static_cast<int>(t); }
constexpr TypeMask kFloats = bit(DType::kFloat) | bit(DType::kDouble) | bit(DType::kFloat16) | bit(DType::kBFloat16);
constexpr TypeMask kSignedInts = bit(DType::kInt8) | bit(DType::kInt16) | bit(DType::kInt32) | bit(DType::kInt64);
constexpr TypeMask kUnsignedInts =
    bit(DType::kUInt8) | bit(DType::kUInt16) | bit(DType::kUInt32) | bit(DType::kUInt64);
constexpr TypeMask kInts = kSignedInts | kUnsignedInts;
constexpr TypeMask kNumeric = kFloats | kInts;
constexpr TypeMask kBool = bit(DType::kBool);
constexpr TypeMask kFloat8s = bit(DType::kFloat8E4M3FN) | bit(DType::kFloat8E4M3FNUZ) | bit(DType::kFloat8E5M2) |
                              bit(DType::kFloat8E5M2FNUZ);
constexpr TypeMask kAny = ~TypeMask{0};

Status check_type(InferContext& c, int i, TypeMask allowed, const char* what = "input") {
  DType t = c.input_dtype(i);
  if (t == DType::kUndefined) return Status::ok();  // unknown statically
  if (!(allowed & bit(t)))
    return c.error(std::string(what) + " " + std::to_string(i) + " has unsupported element type " + dtype_name(t));
  return Status::ok();
}

// Unary op: Y has X's type and shape.
InferFn unary(TypeMask allowed) {
  return [allowed](InferContext& c) -> Status {
    FERRY_RETURN_IF_ERROR(check_type(c, 0, allowed));
    c.set_output(0, c.input_dtype(0), c.input_shape(0));
    return Status::ok();
  };
}

// Unary predicate: bool Y with X's shape.
InferFn unary_bool(TypeMask allowed) {
  return [allowed](InferContext& c) -> Status {
    FERRY_RETURN_IF_ERROR(check_type(c, 0, allowed));
    c.set_output(0, DType::kBool, c.input_shape(0));
    return Status::ok();
  };
}

Status same_types(InferContext& c, int first, int last) {
  DType t = DType::kUndefined;
  for (int i = first; i <= last; ++i) {
    if (!c.has_input(i)) continue;
    DType u = c.input_dtype(i);
    if (u == DType::kUndefined) continue;
    if (t != DType::kUndefined && u != t)
      return c.error(std::string("inputs have different element types ") + dtype_name(t) + " and " + dtype_name(u));
    t = u;
  }
  return Status::ok();
}

Expected<SymShape> broadcast_inputs(InferContext& c, int first, int last) {
  std::vector<SymShape> shapes;
  for (int i = first; i <= last; ++i)
    if (c.has_input(i)) shapes.push_back(c.input_shape(i));
  auto r = broadcast_shapes(shapes);
  if (!r) return c.error(r.status().message());
  return r;
}

// Binary broadcasting op; out_dtype kUndefined means "same as input 0". same: both inputs share a type.
InferFn binary(TypeMask allowed, DType out_dtype = DType::kUndefined, bool same = true) {
  return [=](InferContext& c) -> Status {
    FERRY_RETURN_IF_ERROR(check_type(c, 0, allowed));
    if (same) {
      FERRY_RETURN_IF_ERROR(check_type(c, 1, allowed));
      FERRY_RETURN_IF_ERROR(same_types(c, 0, 1));
    }
    FERRY_ASSIGN_OR_RETURN(SymShape s, broadcast_inputs(c, 0, 1));
    c.set_output(0, out_dtype == DType::kUndefined ? c.input_dtype(0) : out_dtype, s);
    return Status::ok();
  };
}

// Variadic broadcasting op (Sum, Max, Min, Mean).
InferFn variadic(TypeMask allowed) {
  return [=](InferContext& c) -> Status {
    for (int i = 0; i < c.num_inputs(); ++i) FERRY_RETURN_IF_ERROR(check_type(c, i, allowed));
    FERRY_RETURN_IF_ERROR(same_types(c, 0, c.num_inputs() - 1));
    FERRY_ASSIGN_OR_RETURN(SymShape s, broadcast_inputs(c, 0, c.num_inputs() - 1));
    c.set_output(0, c.input_dtype(0), s);
    return Status::ok();
  };
}

Status infer_pow(InferContext& c) {
  FERRY_RETURN_IF_ERROR(check_type(c, 0, kNumeric));
  FERRY_RETURN_IF_ERROR(check_type(c, 1, kNumeric));
  FERRY_ASSIGN_OR_RETURN(SymShape s, broadcast_inputs(c, 0, 1));
  c.set_output(0, c.input_dtype(0), s);
  return Status::ok();
}

Status infer_bitshift(InferContext& c) {
  std::string dir = c.node().attr_string("direction", "");
  if (dir != "LEFT" && dir != "RIGHT") return c.error("attribute direction must be LEFT or RIGHT, got '" + dir + "'");
  return binary(kUnsignedInts)(c);
}

Status infer_mod(InferContext& c) {
  int64_t fmod = c.node().attr_int("fmod", 0);
  if (fmod != 0 && fmod != 1) return c.error("attribute fmod must be 0 or 1");
  return binary(kNumeric)(c);
}

Status infer_where(InferContext& c) {
  FERRY_RETURN_IF_ERROR(check_type(c, 0, kBool));
  FERRY_RETURN_IF_ERROR(same_types(c, 1, 2));
  FERRY_ASSIGN_OR_RETURN(SymShape s, broadcast_inputs(c, 0, 2));
  c.set_output(0, c.input_dtype(1) != DType::kUndefined ? c.input_dtype(1) : c.input_dtype(2), s);
  return Status::ok();
}

Status infer_clip(InferContext& c) {
  FERRY_RETURN_IF_ERROR(check_type(c, 0, kNumeric));
  FERRY_RETURN_IF_ERROR(same_types(c, 0, 2));
  for (int i = 1; i <= 2; ++i) {
    if (!c.has_input(i)) continue;
    const SymShape& s = c.input_shape(i);
    if (s.rank_known) {
      int64_t n = 1;
      bool known = true;
      for (const Dim& d : s.dims) {
        if (!d.known()) known = false;
        else n *= d.value;
      }
      if (known && n != 1) return c.error("input " + std::to_string(i) + " (min/max) must be a scalar, got shape " +
                                          s.to_string());
    }
  }
  c.set_output(0, c.input_dtype(0), c.input_shape(0));
  return Status::ok();
}

// PRelu: slope broadcasts unidirectionally to X.
Status infer_prelu(InferContext& c) {
  FERRY_RETURN_IF_ERROR(check_type(c, 0, kNumeric));
  FERRY_RETURN_IF_ERROR(same_types(c, 0, 1));
  const SymShape& x = c.input_shape(0);
  const SymShape& s = c.input_shape(1);
  if (x.rank_known && s.rank_known) {
    if (s.rank() > x.rank())
      return c.error("slope shape " + s.to_string() + " does not broadcast to X shape " + x.to_string());
    for (int i = 0; i < s.rank(); ++i) {
      const Dim& sd = s.dims[static_cast<size_t>(i)];
      const Dim& xd = x.dims[static_cast<size_t>(x.rank() - s.rank() + i)];
      if (sd.known() && xd.known() && sd.value != 1 && sd.value != xd.value)
        return c.error("slope shape " + s.to_string() + " does not broadcast to X shape " + x.to_string());
    }
  }
  c.set_output(0, c.input_dtype(0), x);
  return Status::ok();
}

Status infer_swiglu(InferContext& c) {
  FERRY_RETURN_IF_ERROR(check_type(c, 0, kFloats));
  FERRY_RETURN_IF_ERROR(same_types(c, 0, 1));
  const SymShape& a = c.input_shape(0);
  const SymShape& b = c.input_shape(1);
  if (a.rank_known && b.rank_known) {
    bool bad = a.rank() != b.rank();
    for (int i = 0; !bad && i < a.rank(); ++i) {
      const Dim& x = a.dims[static_cast<size_t>(i)];
      const Dim& y = b.dims[static_cast<size_t>(i)];
      if (x.known() && y.known() && x.value != y.value) bad = true;
    }
    if (bad) return c.error("inputs A " + a.to_string() + " and B " + b.to_string() + " must have the same shape");
  }
  c.set_output(0, c.input_dtype(0), a.rank_known ? a : b);
  return Status::ok();
}

Status infer_dropout(InferContext& c) {
  FERRY_RETURN_IF_ERROR(check_type(c, 0, kFloats | kFloat8s));
  float ratio = c.node().attr_float("ratio", 0.5f);
  if (c.opset() < 12 && (ratio < 0 || ratio >= 1)) return c.error("attribute ratio must be in [0, 1)");
  c.set_output(0, c.input_dtype(0), c.input_shape(0));
  if (c.num_outputs() > 1 && c.has_output(1))
    c.set_output(1, c.opset() >= 10 ? DType::kBool : c.input_dtype(0), c.input_shape(0));
  return Status::ok();
}

Status infer_gelu(InferContext& c) {
  std::string a = c.node().attr_string("approximate", "none");
  if (a != "none" && a != "tanh") return c.error("attribute approximate must be 'none' or 'tanh', got '" + a + "'");
  return unary(kFloats)(c);
}

Status infer_isinf(InferContext& c) { return unary_bool(kFloats | kFloat8s)(c); }

}  // namespace

void register_elementwise(OpRegistry& r) {
  // Unary math on floats.
  for (const char* op : {"Reciprocal", "Floor", "Ceil", "Round", "Sqrt", "Exp", "Log", "Sin", "Cos", "Tan", "Asin",
                         "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Erf", "Tanh", "Sigmoid",
                         "LeakyRelu", "Elu", "Selu", "Celu", "HardSigmoid", "HardSwish", "Softplus", "Softsign",
                         "ThresholdedRelu", "Mish", "Swish"})
    r.add({"", op, 1, 1, 1, 1, unary(kFloats)});
  r.add({"", "Gelu", 1, 1, 1, 1, infer_gelu});
  // Unary ops on floats and integers.
  for (const char* op : {"Abs", "Neg", "Sign", "Relu", "Shrink"}) r.add({"", op, 1, 1, 1, 1, unary(kNumeric)});
  r.add({"", "IsNaN", 1, 1, 1, 1, unary_bool(kFloats | kFloat8s)});
  r.add({"", "IsInf", 1, 1, 1, 1, infer_isinf});
  r.add({"", "Not", 1, 1, 1, 1, unary(kBool)});
  r.add({"", "BitwiseNot", 1, 1, 1, 1, unary(kInts)});

  // Binary broadcasting ops.
  for (const char* op : {"Add", "Sub", "Mul", "Div"}) r.add({"", op, 2, 2, 1, 1, binary(kNumeric)});
  r.add({"", "Pow", 2, 2, 1, 1, infer_pow});
  r.add({"", "Mod", 2, 2, 1, 1, infer_mod});
  r.add({"", "BitShift", 2, 2, 1, 1, infer_bitshift});
  for (const char* op : {"And", "Or", "Xor"}) r.add({"", op, 2, 2, 1, 1, binary(kBool, DType::kBool)});
  for (const char* op : {"BitwiseAnd", "BitwiseOr", "BitwiseXor"}) r.add({"", op, 2, 2, 1, 1, binary(kInts)});
  r.add({"", "Equal", 2, 2, 1, 1, binary(kAny, DType::kBool)});
  for (const char* op : {"Greater", "GreaterOrEqual", "Less", "LessOrEqual"})
    r.add({"", op, 2, 2, 1, 1, binary(kNumeric, DType::kBool)});
  r.add({"", "PRelu", 2, 2, 1, 1, infer_prelu});
  r.add({"", "SwiGLU", 2, 2, 1, 1, infer_swiglu});

  r.add({"", "Where", 3, 3, 1, 1, infer_where});
  r.add({"", "Clip", 1, 3, 1, 1, infer_clip});
  for (const char* op : {"Sum", "Mean"}) r.add({"", op, 1, -1, 1, 1, variadic(kFloats)});
  for (const char* op : {"Max", "Min"}) r.add({"", op, 1, -1, 1, 1, variadic(kNumeric)});
  r.add({"", "Dropout", 1, 3, 1, 2, infer_dropout});
}

}  // namespace ferry
