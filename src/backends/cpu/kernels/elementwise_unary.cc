// elementwise_unary.cc — CPU reference kernels of the unary elementwise ops: math, activations, predicates,
// Not/BitwiseNot, Clip and Dropout. Floating types compute through one scalar function per op (double for
// double, float for float/float16/bfloat16, inlined into the loop); integer types use exact typed code.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "backends/cpu/kernels/elementwise_util.h"

namespace ferry {

namespace {

struct UnaryParams {
  double alpha = 0, beta = 0, gamma = 0, bias = 0, lambd = 0;
};

template <typename F>
inline F softplus(F x) {
  return x > F(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}
template <typename F>
inline F sigmoid(F x) {
  if (x >= F(0)) return F(1) / (F(1) + std::exp(-x));
  F e = std::exp(x);
  return e / (F(1) + e);
}

// One scalar function per op, written once for float and double.
#define FERRY_UNARY(NAME, EXPR)                              \
  struct NAME {                                              \
    template <typename F>                                    \
    static inline F f(F x, const UnaryParams& p) {           \
      (void)p;                                               \
      return EXPR;                                           \
    }                                                        \
  };

FERRY_UNARY(OpAbs, std::fabs(x))
FERRY_UNARY(OpNeg, -x)
FERRY_UNARY(OpReciprocal, F(1) / x)
FERRY_UNARY(OpFloor, std::floor(x))
FERRY_UNARY(OpCeil, std::ceil(x))
FERRY_UNARY(OpRound, std::nearbyint(x))
FERRY_UNARY(OpSqrt, std::sqrt(x))
FERRY_UNARY(OpExp, std::exp(x))
FERRY_UNARY(OpLog, std::log(x))
FERRY_UNARY(OpSin, std::sin(x))
FERRY_UNARY(OpCos, std::cos(x))
FERRY_UNARY(OpTan, std::tan(x))
FERRY_UNARY(OpAsin, std::asin(x))
FERRY_UNARY(OpAcos, std::acos(x))
FERRY_UNARY(OpAtan, std::atan(x))
FERRY_UNARY(OpSinh, std::sinh(x))
FERRY_UNARY(OpCosh, std::cosh(x))
FERRY_UNARY(OpAsinh, std::asinh(x))
FERRY_UNARY(OpAcosh, std::acosh(x))
FERRY_UNARY(OpAtanh, std::atanh(x))
FERRY_UNARY(OpSign, std::isnan(x) ? x : x > F(0) ? F(1) : x < F(0) ? F(-1) : F(0))
FERRY_UNARY(OpErf, std::erf(x))
FERRY_UNARY(OpTanh, std::tanh(x))
FERRY_UNARY(OpRelu, x > F(0) ? x : (std::isnan(x) ? x : F(0)))
FERRY_UNARY(OpLeakyRelu, x >= F(0) ? x : F(p.alpha) * x)
FERRY_UNARY(OpElu, x >= F(0) ? x : F(p.alpha) * (std::exp(x) - F(1)))
FERRY_UNARY(OpSelu, x > F(0) ? F(p.gamma) * x : F(p.gamma) * (F(p.alpha) * std::exp(x) - F(p.alpha)))
FERRY_UNARY(OpCelu, std::max(F(0), x) + std::min(F(0), F(p.alpha) * (std::exp(x / F(p.alpha)) - F(1))))
FERRY_UNARY(OpSigmoid, sigmoid(x))
FERRY_UNARY(OpHardSigmoid, std::max(F(0), std::min(F(1), F(p.alpha) * x + F(p.beta))))
FERRY_UNARY(OpHardSwish, x * std::max(F(0), std::min(F(1), x / F(6) + F(0.5))))
FERRY_UNARY(OpSoftplus, softplus(x))
FERRY_UNARY(OpSoftsign, x / (F(1) + std::fabs(x)))
FERRY_UNARY(OpThresholdedRelu, x > F(p.alpha) ? x : F(0))
FERRY_UNARY(OpMish, x * std::tanh(softplus(x)))
FERRY_UNARY(OpSwish, x * sigmoid(F(p.alpha) * x))
FERRY_UNARY(OpGelu, F(0.5) * x * (F(1) + std::erf(x * F(0.70710678118654752440))))
FERRY_UNARY(OpGeluTanh,
            F(0.5) * x * (F(1) + std::tanh(F(0.79788456080286535588) * (x + F(0.044715) * x * x * x))))
FERRY_UNARY(OpShrink, x < -F(p.lambd) ? x + F(p.bias) : (x > F(p.lambd) ? x - F(p.bias) : F(0)))
#undef FERRY_UNARY

template <typename T>
inline T neg_wrap(T x) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(U(0) - static_cast<U>(x));
}

// Integer semantics of the ops that accept integers.
enum class IntOp { kNone, kAbs, kNeg, kSign, kRelu, kShrink };

template <typename T>
T int_apply(IntOp op, T x, const UnaryParams& p) {
  switch (op) {
    case IntOp::kAbs:
      if constexpr (std::is_signed_v<T>) return x < 0 ? neg_wrap(x) : x;
      return x;
    case IntOp::kNeg:
      if constexpr (std::is_signed_v<T>) return neg_wrap(x);
      return static_cast<T>(0 - x);
    case IntOp::kSign: return x > 0 ? T(1) : (x < 0 ? static_cast<T>(-1) : T(0));
    case IntOp::kRelu: return x > 0 ? x : T(0);
    case IntOp::kShrink: {
      double v = static_cast<double>(x);
      double r = v < -p.lambd ? v + p.bias : (v > p.lambd ? v - p.bias : 0.0);
      return saturate_to_int<T>(r);
    }
    case IntOp::kNone: break;
  }
  return x;
}

using FloatLoop = void (*)(const float*, float*, int64_t, const UnaryParams&);
using DoubleLoop = void (*)(const double*, double*, int64_t, const UnaryParams&);
using HalfLoop = void (*)(const uint16_t*, uint16_t*, int64_t, const UnaryParams&, bool bf16);

template <typename Op>
void float_loop(const float* x, float* y, int64_t n, const UnaryParams& p) {
  for (int64_t i = 0; i < n; ++i) y[i] = Op::f(x[i], p);
}
template <typename Op>
void double_loop(const double* x, double* y, int64_t n, const UnaryParams& p) {
  for (int64_t i = 0; i < n; ++i) y[i] = Op::f(x[i], p);
}
template <typename Op>
void half_loop(const uint16_t* x, uint16_t* y, int64_t n, const UnaryParams& p, bool bf16) {
  for (int64_t i = 0; i < n; ++i) {
    float v = bf16 ? bf16_to_float(x[i]) : half_to_float(x[i]);
    float r = Op::f(v, p);
    y[i] = bf16 ? float_to_bf16(r) : float_to_half(r);
  }
}
// Relu on float: a branch-free max the compiler vectorizes (NaN propagates like numpy).
void relu_f32(const float* x, float* y, int64_t n, const UnaryParams&) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

// Float exp (Cephes range reduction + degree-5 polynomial, ~1 ulp) for the sigmoid-like fast paths. The argument
// is clamped to [-87.34, 88.38], so results saturate near FLT_MIN / 2.4e38 instead of 0 / inf: fine inside
// 1/(1+e) (relative error <= 2e-7 there), not a general Exp. NaN maps to exp(0); callers propagate NaN.
inline float exp_clamped(float x) {
  float xc = std::min(std::max(x, -87.3365447505f), 88.3762626647949f);
  xc = xc == xc ? xc : 0.0f;
  float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest (1.5*2^23 trick)
  float r = xc - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500E-4f;
  p = p * r + 1.3981999507E-3f;
  p = p * r + 8.3334519073E-3f;
  p = p * r + 4.1665795894E-2f;
  p = p * r + 1.6666665459E-1f;
  p = p * r + 5.0000001201E-1f;
  float v = p * r * r + r + 1.0f;
  uint32_t bits = static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  return v * scale;
}

// tanh as a 13/6 odd rational function on [-7.905, 7.905] (saturating to +-1 beyond); max relative error ~3e-7.
constexpr float kTanhClamp = 7.90531110763549805f;
constexpr float kTanhP[7] = {-2.76076847742355e-16f, 2.00018790482477e-13f, -8.60467152213735e-11f,
                             5.12229709037114e-08f,  1.48572235717979e-05f, 6.37261928875436e-04f,
                             4.89352455891786e-03f};
constexpr float kTanhQ[4] = {1.19825839466702e-06f, 1.18534705686654e-04f, 2.26843463243900e-03f,
                             4.89352518554385e-03f};
inline float tanh_rational(float x) {
  if (x != x) return x;
  const float xc = std::min(std::max(x, -kTanhClamp), kTanhClamp);
  const float x2 = xc * xc;
  float p = kTanhP[0], q = kTanhQ[0];
  for (int k = 1; k < 7; ++k) p = p * x2 + kTanhP[k];
  for (int k = 1; k < 4; ++k) q = q * x2 + kTanhQ[k];
  return xc * p / q;
}

#if defined(__SSE2__)
// 4-wide SSE2 versions of the same formulas (GCC does not vectorize the scalar ones under -ftrapping-math).
inline __m128 exp_clamped_ps(__m128 x) {
  // max/min return their second operand for NaN, so NaN becomes -87.3 here: no undefined int conversion.
  __m128 xc = _mm_min_ps(_mm_max_ps(x, _mm_set1_ps(-87.3365447505f)), _mm_set1_ps(88.3762626647949f));
  const __m128 magic = _mm_set1_ps(12582912.0f);
  __m128 n = _mm_sub_ps(_mm_add_ps(_mm_mul_ps(xc, _mm_set1_ps(1.44269504088896341f)), magic), magic);
  __m128 r = _mm_add_ps(_mm_sub_ps(xc, _mm_mul_ps(n, _mm_set1_ps(0.693359375f))),
                        _mm_mul_ps(n, _mm_set1_ps(2.12194440e-4f)));
  __m128 p = _mm_set1_ps(1.9875691500E-4f);
  p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(1.3981999507E-3f));
  p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(8.3334519073E-3f));
  p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(4.1665795894E-2f));
  p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(1.6666665459E-1f));
  p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(5.0000001201E-1f));
  __m128 v = _mm_add_ps(_mm_add_ps(_mm_mul_ps(_mm_mul_ps(p, r), r), r), _mm_set1_ps(1.0f));
  __m128i e = _mm_slli_epi32(_mm_add_epi32(_mm_cvtps_epi32(n), _mm_set1_epi32(127)), 23);
  return _mm_mul_ps(v, _mm_castsi128_ps(e));
}
inline __m128 keep_nan_ps(__m128 x, __m128 v) {
  __m128 nan = _mm_cmpunord_ps(x, x);
  return _mm_or_ps(_mm_and_ps(nan, x), _mm_andnot_ps(nan, v));
}
#endif

void sigmoid_f32(const float* x, float* y, int64_t n, const UnaryParams&) {
  int64_t i = 0;
#if defined(__SSE2__)
  const __m128 one = _mm_set1_ps(1.0f), zero = _mm_setzero_ps();
  for (; i + 4 <= n; i += 4) {
    __m128 v = _mm_loadu_ps(x + i);
    __m128 s = _mm_div_ps(one, _mm_add_ps(one, exp_clamped_ps(_mm_sub_ps(zero, v))));
    _mm_storeu_ps(y + i, keep_nan_ps(v, s));
  }
#endif
  for (; i < n; ++i) y[i] = x[i] != x[i] ? x[i] : 1.0f / (1.0f + exp_clamped(-x[i]));
}

void swish_f32(const float* x, float* y, int64_t n, const UnaryParams& p) {
  const float a = static_cast<float>(p.alpha);
  int64_t i = 0;
#if defined(__SSE2__)
  const __m128 one = _mm_set1_ps(1.0f), na = _mm_set1_ps(-a);
  for (; i + 4 <= n; i += 4) {
    __m128 v = _mm_loadu_ps(x + i);
    _mm_storeu_ps(y + i, _mm_div_ps(v, _mm_add_ps(one, exp_clamped_ps(_mm_mul_ps(na, v)))));
  }
#endif
  for (; i < n; ++i) y[i] = x[i] / (1.0f + exp_clamped(-a * x[i]));  // NaN propagates through x
}

void tanh_f32(const float* x, float* y, int64_t n, const UnaryParams&) {
  int64_t i = 0;
#if defined(__SSE2__)
  const __m128 lo = _mm_set1_ps(-kTanhClamp), hi = _mm_set1_ps(kTanhClamp);
  for (; i + 4 <= n; i += 4) {
    __m128 v = _mm_loadu_ps(x + i);
    __m128 xc = _mm_min_ps(hi, _mm_max_ps(lo, v));  // operand order keeps NaN
    __m128 x2 = _mm_mul_ps(xc, xc);
    __m128 p = _mm_set1_ps(kTanhP[0]), q = _mm_set1_ps(kTanhQ[0]);
    for (int k = 1; k < 7; ++k) p = _mm_add_ps(_mm_mul_ps(p, x2), _mm_set1_ps(kTanhP[k]));
    for (int k = 1; k < 4; ++k) q = _mm_add_ps(_mm_mul_ps(q, x2), _mm_set1_ps(kTanhQ[k]));
    _mm_storeu_ps(y + i, _mm_div_ps(_mm_mul_ps(xc, p), q));
  }
#endif
  for (; i < n; ++i) y[i] = tanh_rational(x[i]);
}

struct UnaryImpl {
  FloatLoop f32;
  DoubleLoop f64;
  HalfLoop f16;
  IntOp int_op;
};

template <typename Op>
UnaryImpl impl(IntOp int_op = IntOp::kNone) {
  return {float_loop<Op>, double_loop<Op>, half_loop<Op>, int_op};
}

class UnaryKernel : public CpuKernel {
 public:
  UnaryKernel(UnaryImpl impl, UnaryParams p) : impl_(impl), p_(p) {}

  Status run(KernelContext& ctx) override {
    const Tensor& x = *ctx.input(0);
    FERRY_ASSIGN_OR_RETURN(Tensor* y, ctx.output(0));
    const int64_t n = x.numel();
    switch (x.dtype()) {
      case DType::kFloat: {
        const float* xp = x.data<float>();
        float* yp = y->data<float>();
        parallel_elems(ctx, n, [&](int64_t b, int64_t e) { impl_.f32(xp + b, yp + b, e - b, p_); });
        return Status::ok();
      }
      case DType::kDouble: {
        const double* xp = x.data<double>();
        double* yp = y->data<double>();
        parallel_elems(ctx, n, [&](int64_t b, int64_t e) { impl_.f64(xp + b, yp + b, e - b, p_); });
        return Status::ok();
      }
      case DType::kFloat16:
      case DType::kBFloat16: {
        const uint16_t* xp = static_cast<const uint16_t*>(x.raw_data());
        uint16_t* yp = static_cast<uint16_t*>(y->raw_data());
        bool bf = x.dtype() == DType::kBFloat16;
        parallel_elems(ctx, n, [&](int64_t b, int64_t e) { impl_.f16(xp + b, yp + b, e - b, p_, bf); });
        return Status::ok();
      }
      default: break;
    }
    if (impl_.int_op == IntOp::kNone || !dtype_is_integer(x.dtype()) || dtype_bits(x.dtype()) < 8)
      return ctx.unsupported_error(std::string("element type ") + dtype_name(x.dtype()) + " not supported");
    return visit_dtype(x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
        const T* xp = x.data<T>();
        T* yp = y->data<T>();
        for (int64_t i = 0; i < n; ++i) yp[i] = int_apply<T>(impl_.int_op, xp[i], p_);
      }
    });
  }

 private:
  UnaryImpl impl_;
  UnaryParams p_;
};

void add_unary(KernelRegistry& r, const char* op, UnaryImpl im,
               UnaryParams (*params)(const Node&) = [](const Node&) { return UnaryParams{}; }) {
  r.add("", op, [im, params](const Node& n) -> Expected<std::unique_ptr<CpuKernel>> {
    return std::unique_ptr<CpuKernel>(new UnaryKernel(im, params(n)));
  });
}

Status is_nan(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  FERRY_ASSIGN_OR_RETURN(Tensor* y, ctx.output(0));
  bool* yp = y->data<bool>();
  for (int64_t i = 0; i < x.numel(); ++i) yp[i] = std::isnan(load_double(x, i));
  return Status::ok();
}

Status is_inf(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  FERRY_ASSIGN_OR_RETURN(Tensor* y, ctx.output(0));
  bool neg = ctx.node().attr_int("detect_negative", 1) != 0;
  bool pos = ctx.node().attr_int("detect_positive", 1) != 0;
  bool* yp = y->data<bool>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    double v = load_double(x, i);
    yp[i] = std::isinf(v) && ((v > 0 && pos) || (v < 0 && neg));
  }
  return Status::ok();
}

Status not_op(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  FERRY_ASSIGN_OR_RETURN(Tensor* y, ctx.output(0));
  if (x.dtype() != DType::kBool) return ctx.error("Not expects a bool tensor");
  const bool* xp = x.data<bool>();
  bool* yp = y->data<bool>();
  for (int64_t i = 0; i < x.numel(); ++i) yp[i] = !xp[i];
  return Status::ok();
}

Status bitwise_not(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  FERRY_ASSIGN_OR_RETURN(Tensor* y, ctx.output(0));
  Status st = Status::ok();
  FERRY_RETURN_IF_ERROR(visit_dtype(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      const T* xp = x.data<T>();
      T* yp = y->data<T>();
      for (int64_t i = 0; i < x.numel(); ++i) yp[i] = static_cast<T>(~xp[i]);
    } else {
      st = ctx.error(std::string("BitwiseNot does not accept ") + dtype_name(x.dtype()));
    }
  }));
  return st;
}

// Clip: bounds from attributes (opset < 11) or optional scalar inputs 1 and 2.
Status clip(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  FERRY_ASSIGN_OR_RETURN(Tensor* y, ctx.output(0));
  const Node& node = ctx.node();
  const Tensor* lo_t = ctx.input(1);
  const Tensor* hi_t = ctx.input(2);
  for (const Tensor* t : {lo_t, hi_t}) {
    if (!t) continue;
    if (t->numel() != 1) return ctx.error("min/max must be scalars, got shape " + shape_to_string(t->shape()));
    if (t->dtype() != x.dtype()) return ctx.error("min/max element type differs from input");
  }
  const bool attr_form = ctx.opset() < 11;
  Status st = Status::ok();
  FERRY_RETURN_IF_ERROR(visit_dtype(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, bool>) {
      st = ctx.error(std::string("Clip does not accept ") + dtype_name(x.dtype()));
    } else {
      using C = compute_t<T>;
      C lo = std::numeric_limits<C>::lowest(), hi = std::numeric_limits<C>::max();
      if constexpr (std::is_floating_point_v<C>) {
        lo = -std::numeric_limits<C>::infinity();
        hi = std::numeric_limits<C>::infinity();
      }
      if (attr_form) {
        if (node.attr("min")) lo = static_cast<C>(node.attr_float("min", 0));
        if (node.attr("max")) hi = static_cast<C>(node.attr_float("max", 0));
      }
      if (lo_t) lo = to_compute<T>(lo_t->data<T>()[0]);
      if (hi_t) hi = to_compute<T>(hi_t->data<T>()[0]);
      const T* xp = x.data<T>();
      T* yp = y->data<T>();
      parallel_elems(ctx, x.numel(), [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          C v = to_compute<T>(xp[i]);
          v = v < lo ? lo : v;
          v = v > hi ? hi : v;
          yp[i] = from_compute<T>(v);
        }
      });
    }
  }));
  return st;
}

// Dropout: identity at inference (or ratio 0); in training mode drops with probability `ratio` and scales the
// kept values by 1/(1-ratio). The mask output is all true when nothing is dropped.
Status dropout(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  const Node& node = ctx.node();
  double ratio = node.attr_float("ratio", 0.5f);
  if (const Tensor* r = ctx.input(1)) {
    if (r->numel() != 1) return ctx.error("ratio must be a scalar");
    ratio = load_double(*r, 0);
  }
  bool training = false;
  if (const Tensor* t = ctx.input(2)) {
    if (t->numel() != 1) return ctx.error("training_mode must be a scalar");
    training = load_double(*t, 0) != 0;
  }
  if (ctx.opset() < 7 && node.attr_int("is_test", 0) == 0) training = false;  // legacy: treat as inference
  if (training && (ratio < 0 || ratio >= 1)) return ctx.error("ratio must be in [0, 1)");
  const bool want_mask = ctx.num_outputs() > 1 && ctx.has_output(1);
  if (!training || ratio == 0) {
    ctx.set_output(0, x);
    if (want_mask) {
      FERRY_ASSIGN_OR_RETURN(Tensor* m, ctx.output(1));
      for (int64_t i = 0; i < m->numel(); ++i) store_double(*m, i, 1.0);
    }
    return Status::ok();
  }
  FERRY_ASSIGN_OR_RETURN(Tensor* y, ctx.output(0));
  Tensor* m = nullptr;
  if (want_mask) {
    FERRY_ASSIGN_OR_RETURN(m, ctx.output(1));
  }
  // Same stream as numpy's legacy RandomState(seed).uniform(0, 1, shape), which the ONNX reference uses: MT19937
  // seeded with the 32-bit seed, 53-bit doubles from pairs of outputs. A given seed thus reproduces the reference.
  std::mt19937 rng(node.attr("seed") ? static_cast<uint32_t>(node.attr_int("seed", 0)) : std::random_device{}());
  auto uniform = [&rng]() {
    const double a = static_cast<double>(rng() >> 5), b = static_cast<double>(rng() >> 6);
    return (a * 67108864.0 + b) / 9007199254740992.0;
  };
  const double scale = 1.0 / (1.0 - ratio);
  for (int64_t i = 0; i < x.numel(); ++i) {
    bool keep = uniform() >= ratio;
    store_double(*y, i, keep ? load_double(x, i) * scale : 0.0);
    if (m) store_double(*m, i, keep ? 1.0 : 0.0);
  }
  return Status::ok();
}

}  // namespace

void register_elementwise_unary_kernels(KernelRegistry& r) {
  add_unary(r, "Abs", impl<OpAbs>(IntOp::kAbs));
  add_unary(r, "Neg", impl<OpNeg>(IntOp::kNeg));
  add_unary(r, "Sign", impl<OpSign>(IntOp::kSign));
  UnaryImpl relu = impl<OpRelu>(IntOp::kRelu);
  relu.f32 = relu_f32;
  add_unary(r, "Relu", relu);
  add_unary(r, "Reciprocal", impl<OpReciprocal>());
  add_unary(r, "Floor", impl<OpFloor>());
  add_unary(r, "Ceil", impl<OpCeil>());
  add_unary(r, "Round", impl<OpRound>());
  add_unary(r, "Sqrt", impl<OpSqrt>());
  add_unary(r, "Exp", impl<OpExp>());
  add_unary(r, "Log", impl<OpLog>());
  add_unary(r, "Sin", impl<OpSin>());
  add_unary(r, "Cos", impl<OpCos>());
  add_unary(r, "Tan", impl<OpTan>());
  add_unary(r, "Asin", impl<OpAsin>());
  add_unary(r, "Acos", impl<OpAcos>());
  add_unary(r, "Atan", impl<OpAtan>());
  add_unary(r, "Sinh", impl<OpSinh>());
  add_unary(r, "Cosh", impl<OpCosh>());
  add_unary(r, "Asinh", impl<OpAsinh>());
  add_unary(r, "Acosh", impl<OpAcosh>());
  add_unary(r, "Atanh", impl<OpAtanh>());
  add_unary(r, "Erf", impl<OpErf>());
  UnaryImpl tanh = impl<OpTanh>();
  tanh.f32 = tanh_f32;
  add_unary(r, "Tanh", tanh);
  UnaryImpl sigm = impl<OpSigmoid>();
  sigm.f32 = sigmoid_f32;
  add_unary(r, "Sigmoid", sigm);
  add_unary(r, "Softplus", impl<OpSoftplus>());
  add_unary(r, "Softsign", impl<OpSoftsign>());
  add_unary(r, "Mish", impl<OpMish>());
  add_unary(r, "HardSwish", impl<OpHardSwish>());
  add_unary(r, "LeakyRelu", impl<OpLeakyRelu>(), [](const Node& n) {
    UnaryParams p;
    p.alpha = n.attr_float("alpha", 0.01f);
    return p;
  });
  add_unary(r, "Elu", impl<OpElu>(), [](const Node& n) {
    UnaryParams p;
    p.alpha = n.attr_float("alpha", 1.0f);
    return p;
  });
  add_unary(r, "Selu", impl<OpSelu>(), [](const Node& n) {
    UnaryParams p;
    p.alpha = n.attr_float("alpha", 1.67326319217681884765625f);
    p.gamma = n.attr_float("gamma", 1.05070102519989013671875f);
    return p;
  });
  add_unary(r, "Celu", impl<OpCelu>(), [](const Node& n) {
    UnaryParams p;
    p.alpha = n.attr_float("alpha", 1.0f);
    return p;
  });
  add_unary(r, "HardSigmoid", impl<OpHardSigmoid>(), [](const Node& n) {
    UnaryParams p;
    p.alpha = n.attr_float("alpha", 0.2f);
    p.beta = n.attr_float("beta", 0.5f);
    return p;
  });
  add_unary(r, "ThresholdedRelu", impl<OpThresholdedRelu>(), [](const Node& n) {
    UnaryParams p;
    p.alpha = n.attr_float("alpha", 1.0f);
    return p;
  });
  UnaryImpl swish = impl<OpSwish>();
  swish.f32 = swish_f32;
  add_unary(r, "Swish", swish, [](const Node& n) {
    UnaryParams p;
    p.alpha = n.attr_float("alpha", 1.0f);
    return p;
  });
  add_unary(r, "Shrink", impl<OpShrink>(IntOp::kShrink), [](const Node& n) {
    UnaryParams p;
    p.bias = n.attr_float("bias", 0.0f);
    p.lambd = n.attr_float("lambd", 0.5f);
    return p;
  });
  r.add("", "Gelu", [](const Node& n) -> Expected<std::unique_ptr<CpuKernel>> {
    std::string a = n.attr_string("approximate", "none");
    if (a != "none" && a != "tanh")
      return invalid_argument("node " + n.display_name() + ": approximate must be 'none' or 'tanh'");
    return std::unique_ptr<CpuKernel>(new UnaryKernel(a == "tanh" ? impl<OpGeluTanh>() : impl<OpGelu>(), {}));
  });
  r.add_fn("", "IsNaN", is_nan);
  r.add_fn("", "IsInf", is_inf);
  r.add_fn("", "Not", not_op);
  r.add_fn("", "BitwiseNot", bitwise_not);
  r.add_fn("", "Clip", clip);
  r.add_fn("", "Dropout", dropout);
}

}  // namespace ferry
