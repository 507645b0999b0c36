// quant.cc — CPU reference kernels of the quant family: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear.
// The integer matmul/conv ops (QLinearMatMul, MatMulInteger, QLinearConv, ConvInteger) are in quant_gemm.cc.
//
// Arithmetic follows the ONNX reference: x / scale is computed in the precision of the scale (or of the
// `precision` attribute), rounded half to even, then the zero point is added and the result saturated.
#include <algorithm>
#include <cmath>
#include <limits>

#include "backends/cpu/kernel.h"
#include "backends/cpu/kernels/quant_util.h"
#include "core/dtype_dispatch.h"
#include "ops/quant_util.h"

namespace ferry {

void register_quant_gemm_kernels(KernelRegistry& r);
void register_qconv_kernels(KernelRegistry& r);  // qconv.cc: ferry.QConv on oneDNN int8

namespace {

bool is_narrow_float(DType t) {
  return t == DType::kFloat8E4M3FN || t == DType::kFloat8E4M3FNUZ || t == DType::kFloat8E5M2 ||
         t == DType::kFloat8E5M2FNUZ || t == DType::kFloat4E2M1;
}

// float32 -> int8/uint8 with one float scale and zero point (every QDQ activation): the loop the compiler
// vectorizes. Same arithmetic as the general path: x / scale in float, round half to even, + zp, saturate.
template <typename Q>
void quantize_per_tensor(const float* x, int64_t n, float scale, float zp, Q* y) {
  constexpr float lo = static_cast<float>(std::numeric_limits<Q>::min());
  constexpr float hi = static_cast<float>(std::numeric_limits<Q>::max());
  // Round half to even by adding and subtracting 1.5 * 2^23 (exact for |v| < 2^22, which the clamp ensures; the
  // default rounding mode is to nearest even), so the loop vectorizes without SSE4.1's roundps.
  constexpr float kMagic = 12582912.f;
  const float vlo = lo - zp - 1.f, vhi = hi - zp + 1.f;
  for (int64_t i = 0; i < n; ++i) {
    const float q = x[i] / scale;
    const float c = q < vlo ? vlo : (q > vhi ? vhi : q);  // NaN passes through both tests
    const float r = (c + kMagic) - kMagic + zp;
    const float v = r < lo ? lo : (r > hi ? hi : r);
    y[i] = static_cast<Q>(q != q ? 0.f : v);
  }
}

bool quantize_fast(KernelContext& ctx, const Tensor& x, const Tensor& scale, const Tensor* zp, Tensor* y) {
  const Node& n = ctx.node();
  if (x.dtype() != DType::kFloat || scale.dtype() != DType::kFloat || scale.numel() != 1 ||
      n.attr_int("precision", 0) != 0 || n.attr_int("saturate", 1) == 0 || (zp && zp->dtype() != y->dtype()))
    return false;
  const float s = *scale.data<float>();
  if (y->dtype() == DType::kInt8)
    quantize_per_tensor(x.data<float>(), x.numel(), s, zp ? float(*zp->data<int8_t>()) : 0.f, y->data<int8_t>());
  else if (y->dtype() == DType::kUInt8)
    quantize_per_tensor(x.data<float>(), x.numel(), s, zp ? float(*zp->data<uint8_t>()) : 0.f, y->data<uint8_t>());
  else
    return false;
  return true;
}

Status quantize_linear(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  const Tensor& scale = *ctx.input(1);
  const Tensor* zp = ctx.input(2);
  const Node& n = ctx.node();
  auto layout = quant_layout(x.shape(), scale.shape(), n.attr_int("axis", 1), n.attr_int("block_size", 0));
  if (!layout) return ctx.error(layout.status().message());
  if (zp && zp->numel() != scale.numel()) return ctx.error("zero point and scale sizes differ");
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  if (quantize_fast(ctx, x, scale, zp, y)) return Status::ok();
  DType out = y->dtype();
  // Precision of the division: `precision` attribute, else the scale's type.
  DType prec = scale.dtype();
  int64_t p = n.attr_int("precision", 0);
  if (p != 0 && dtype_is_valid(static_cast<int32_t>(p))) prec = static_cast<DType>(p);
  bool saturate = n.attr_int("saturate", 1) != 0;
  double lo = 0, hi = 0;
  if (!is_narrow_float(out)) {
    auto r = quant_int_range(out);
    if (!r) return ctx.error(r.status().message());
    lo = r->first;
    hi = r->second;
  }
  const int64_t count = x.numel();
  uint8_t* ycodes = static_cast<uint8_t*>(y->raw_data());
  for (int64_t i = 0; i < count; ++i) {
    int64_t pi = layout->index(i);
    double q = round_to_precision(load_double(x, i) / load_double(scale, pi), prec);
    double z = zp ? load_double(*zp, pi) : 0.0;
    if (is_narrow_float(out)) {
      ycodes[i] = float_to_narrow_float(out, static_cast<float>(q + z), saturate || out == DType::kFloat4E2M1);
    } else {
      double v = std::nearbyint(q) + z;
      if (std::isnan(v)) v = 0;
      store_double(*y, i, std::min(hi, std::max(lo, v)));
    }
  }
  return Status::ok();
}

Status dequantize_linear(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  const Tensor& scale = *ctx.input(1);
  const Tensor* zp = ctx.input(2);
  const Node& n = ctx.node();
  auto layout = quant_layout(x.shape(), scale.shape(), n.attr_int("axis", 1), n.attr_int("block_size", 0));
  if (!layout) return ctx.error(layout.status().message());
  if (zp && zp->numel() != scale.numel()) return ctx.error("zero point and scale sizes differ");
  if (zp && zp->dtype() != x.dtype()) return ctx.error("zero point type differs from input type");
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  DType out = y->dtype();
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t pi = layout->index(i);
    double d = round_to_precision(load_double(x, i) - (zp ? load_double(*zp, pi) : 0.0), out);
    store_double(*y, i, d * load_double(scale, pi));
  }
  return Status::ok();
}

Status dynamic_quantize_linear(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  if (x.dtype() != DType::kFloat) return ctx.error("input must be float");
  const float* xp = x.data<float>();
  float mn = 0.f, mx = 0.f;
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (std::isnan(xp[i])) return ctx.error("input contains NaN");
    mn = std::min(mn, xp[i]);
    mx = std::max(mx, xp[i]);
  }
  float scale = (mx - mn) / 255.0f;
  float zpf = scale == 0.f ? 0.f : std::min(255.f, std::max(0.f, std::nearbyint(0.f - mn / scale)));
  uint8_t zp = static_cast<uint8_t>(zpf);
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  uint8_t* yp = y->data<uint8_t>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    float q = scale == 0.f ? 0.f : std::nearbyint(xp[i] / scale) + zpf;
    yp[i] = static_cast<uint8_t>(std::min(255.f, std::max(0.f, q)));
  }
  if (ctx.has_output(1)) {
    FERRY_ASSIGN_OR_RETURN(Tensor * s, ctx.output(1));
    *s->data<float>() = scale;
  }
  if (ctx.has_output(2)) {
    FERRY_ASSIGN_OR_RETURN(Tensor * z, ctx.output(2));
    *z->data<uint8_t>() = zp;
  }
  return Status::ok();
}

}  // namespace

void register_quant_kernels(KernelRegistry& r) {
  r.add_fn("", "QuantizeLinear", quantize_linear);
  r.add_fn("", "DequantizeLinear", dequantize_linear);
  r.add_fn("", "DynamicQuantizeLinear", dynamic_quantize_linear);
  register_quant_gemm_kernels(r);
  register_qconv_kernels(r);
}

}  // namespace ferry
