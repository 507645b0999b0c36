// quant.cc — op semantics (schemas + shape/dtype inference) of the quant family:
// QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, QLinearMatMul, MatMulInteger, QLinearConv, ConvInteger.
#include "ops/op_registry.h"
#include "ops/quant_util.h"

namespace ferry {
namespace {

bool is_quant_type(DType t) {
  switch (t) {
    case DType::kUInt8: case DType::kInt8: case DType::kUInt16: case DType::kInt16: case DType::kUInt4:
    case DType::kInt4: case DType::kUInt2: case DType::kInt2: case DType::kFloat8E4M3FN:
    case DType::kFloat8E4M3FNUZ: case DType::kFloat8E5M2: case DType::kFloat8E5M2FNUZ: case DType::kFloat4E2M1:
      return true;
    default: return false;
  }
}

bool is_scale_type(DType t) {
  return t == DType::kFloat || t == DType::kFloat16 || t == DType::kBFloat16 || t == DType::kDouble;
}

// Validates the scale/zero-point layout against x when both shapes are concrete.
Status check_layout(InferContext& c, int scale_idx, int zp_idx) {
  const SymShape& xs = c.input_shape(0);
  const SymShape& ss = c.input_shape(scale_idx);
  if (!xs.is_concrete() || !ss.is_concrete()) return Status::ok();
  auto l = quant_layout(xs.to_shape(), ss.to_shape(), c.node().attr_int("axis", 1), c.node().attr_int("block_size", 0));
  if (!l) return c.error(l.status().message());
  if (zp_idx >= 0 && c.has_input(zp_idx) && c.input_shape(zp_idx).is_concrete() &&
      shape_numel(c.input_shape(zp_idx).to_shape()) != shape_numel(ss.to_shape()))
    return c.error("zero point shape " + c.input_shape(zp_idx).to_string() + " differs from scale shape " +
                   ss.to_string());
  return Status::ok();
}

Status infer_quantize(InferContext& c) {
  DType xt = c.input_dtype(0), st = c.input_dtype(1);
  if (!is_scale_type(xt) && xt != DType::kInt32) return c.error(std::string("unsupported input type ") + dtype_name(xt));
  if (!is_scale_type(st) && st != DType::kInt32) return c.error(std::string("unsupported scale type ") + dtype_name(st));
  DType out = DType::kUInt8;
  int64_t od = c.node().attr_int("output_dtype", 0);
  if (c.has_input(2)) {
    out = c.input_dtype(2);
    if (od != 0 && od != static_cast<int64_t>(out)) return c.error("output_dtype disagrees with the zero point type");
  } else if (od != 0) {
    if (!dtype_is_valid(static_cast<int32_t>(od))) return c.error("invalid output_dtype " + std::to_string(od));
    out = static_cast<DType>(od);
  }
  if (!is_quant_type(out)) return c.error(std::string("unsupported quantized type ") + dtype_name(out));
  FERRY_RETURN_IF_ERROR(check_layout(c, 1, 2));
  c.set_output(0, out, c.input_shape(0));
  return Status::ok();
}

Status infer_dequantize(InferContext& c) {
  DType xt = c.input_dtype(0), st = c.input_dtype(1);
  if (!is_quant_type(xt) && xt != DType::kInt32) return c.error(std::string("unsupported input type ") + dtype_name(xt));
  if (!is_scale_type(st)) return c.error(std::string("unsupported scale type ") + dtype_name(st));
  if (c.has_input(2) && c.input_dtype(2) != xt) return c.error("zero point type differs from input type");
  DType out = st;
  int64_t od = c.node().attr_int("output_dtype", 0);
  if (od != 0) {
    if (!dtype_is_valid(static_cast<int32_t>(od)) || !is_scale_type(static_cast<DType>(od)))
      return c.error("invalid output_dtype " + std::to_string(od));
    out = static_cast<DType>(od);
  }
  FERRY_RETURN_IF_ERROR(check_layout(c, 1, 2));
  c.set_output(0, out, c.input_shape(0));
  return Status::ok();
}

Status infer_dynamic_quantize(InferContext& c) {
  if (c.input_dtype(0) != DType::kFloat) return c.error("input must be float");
  c.set_output(0, DType::kUInt8, c.input_shape(0));
  if (c.num_outputs() > 1) c.set_output(1, DType::kFloat, Shape{});
  if (c.num_outputs() > 2) c.set_output(2, DType::kUInt8, Shape{});
  return Status::ok();
}

bool is_8bit(DType t) { return t == DType::kUInt8 || t == DType::kInt8; }

// numpy-matmul shape of possibly symbolic shapes.
Status set_matmul_output(InferContext& c, int a_idx, int b_idx, DType out) {
  const SymShape& a = c.input_shape(a_idx);
  const SymShape& b = c.input_shape(b_idx);
  if (a.is_concrete() && b.is_concrete()) {
    auto s = matmul_shape(a.to_shape(), b.to_shape());
    if (!s) return c.error(s.status().message());
    c.set_output(0, out, *s);
    return Status::ok();
  }
  if (!a.rank_known || !b.rank_known || a.rank() < 1 || b.rank() < 1) {
    c.set_output(0, out, SymShape::unknown());
    return Status::ok();
  }
  std::vector<Dim> ab(a.dims.begin(), a.dims.end() - std::min(2, a.rank()));
  std::vector<Dim> bb(b.dims.begin(), b.dims.end() - std::min(2, b.rank()));
  FERRY_ASSIGN_OR_RETURN(SymShape batch, broadcast_shapes({SymShape::from_dims(ab), SymShape::from_dims(bb)}));
  std::vector<Dim> dims = batch.dims;
  if (a.rank() > 1) dims.push_back(a.dims[static_cast<size_t>(a.rank() - 2)]);
  if (b.rank() > 1) dims.push_back(b.dims.back());
  c.set_output(0, out, SymShape::from_dims(dims));
  return Status::ok();
}

Status infer_qlinear_matmul(InferContext& c) {
  if (!is_8bit(c.input_dtype(0)) || !is_8bit(c.input_dtype(3)))
    return c.error("a and b must be int8 or uint8");
  if (c.input_dtype(2) != c.input_dtype(0) || c.input_dtype(5) != c.input_dtype(3))
    return c.error("zero point types must match their inputs");
  if (!is_8bit(c.input_dtype(7))) return c.error("y_zero_point must be int8 or uint8");
  for (int i : {1, 4, 6})
    if (!is_scale_type(c.input_dtype(i))) return c.error("scales must be floating point");
  return set_matmul_output(c, 0, 3, c.input_dtype(7));
}

Status infer_matmul_integer(InferContext& c) {
  if (!is_8bit(c.input_dtype(0)) || !is_8bit(c.input_dtype(1))) return c.error("A and B must be int8 or uint8");
  if (c.has_input(2) && c.input_dtype(2) != c.input_dtype(0)) return c.error("a_zero_point type differs from A");
  if (c.has_input(3) && c.input_dtype(3) != c.input_dtype(1)) return c.error("b_zero_point type differs from B");
  return set_matmul_output(c, 0, 1, DType::kInt32);
}

Status set_conv_output(InferContext& c, int x_idx, int w_idx, DType out) {
  const SymShape& x = c.input_shape(x_idx);
  const SymShape& w = c.input_shape(w_idx);
  if (x.is_concrete() && w.is_concrete()) {
    auto g = conv_geometry(c.node(), x.to_shape(), w.to_shape());
    if (!g) return c.error(g.status().message());
    c.set_output(0, out, g->out);
    return Status::ok();
  }
  if (!x.rank_known) {
    c.set_output(0, out, SymShape::unknown());
    return Status::ok();
  }
  if (x.rank() < 3) return c.error("input rank must be >= 3");
  std::vector<Dim> dims(static_cast<size_t>(x.rank()), Dim());
  dims[0] = x.dims[0];
  if (w.rank_known && w.rank() >= 1) dims[1] = w.dims[0];
  c.set_output(0, out, SymShape::from_dims(dims));
  return Status::ok();
}

Status infer_qlinear_conv(InferContext& c) {
  if (!is_8bit(c.input_dtype(0)) || !is_8bit(c.input_dtype(3))) return c.error("x and w must be int8 or uint8");
  if (!is_8bit(c.input_dtype(7))) return c.error("y_zero_point must be int8 or uint8");
  if (c.has_input(8) && c.input_dtype(8) != DType::kInt32) return c.error("bias must be int32");
  return set_conv_output(c, 0, 3, c.input_dtype(7));
}

Status infer_conv_integer(InferContext& c) {
  if (!is_8bit(c.input_dtype(0)) || !is_8bit(c.input_dtype(1))) return c.error("x and w must be int8 or uint8");
  return set_conv_output(c, 0, 1, DType::kInt32);
}

}  // namespace

void register_qconv(OpRegistry& r);  // qconv.cc: ferry.QConv, the fused integer conv

void register_quant(OpRegistry& r) {
  register_qconv(r);
  r.add({"", "QuantizeLinear", 2, 3, 1, 1, infer_quantize});
  r.add({"", "DequantizeLinear", 2, 3, 1, 1, infer_dequantize});
  r.add({"", "DynamicQuantizeLinear", 1, 1, 1, 3, infer_dynamic_quantize});
  r.add({"", "QLinearMatMul", 8, 8, 1, 1, infer_qlinear_matmul});
  r.add({"", "MatMulInteger", 2, 4, 1, 1, infer_matmul_integer});
  r.add({"", "QLinearConv", 8, 9, 1, 1, infer_qlinear_conv});
  r.add({"", "ConvInteger", 2, 4, 1, 1, infer_conv_integer});
}

}  // namespace ferry
