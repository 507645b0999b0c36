// elementwise_binary.cc — CPU reference kernels of the broadcasting elementwise ops: arithmetic, Pow, Mod,
// BitShift, logic/bitwise ops, comparisons, PRelu, SwiGLU, Where and variadic Sum/Max/Min/Mean.
// Float16/bfloat16 compute in float; integer arithmetic wraps (two's complement) and integer division by
// zero yields 0 instead of trapping.
#include <cmath>
#include <string>
#include <type_traits>

#include "backends/cpu/kernels/elementwise_util.h"

namespace ferry {

namespace {

// y = f(a, b) with numpy broadcasting; f maps storage types (TA, TB) to TO. Inner loops are specialised for
// contiguous/scalar operands so the common float cases vectorize.
template <typename TA, typename TB, typename TO, typename F>
void broadcast2(KernelContext& ctx, const Tensor& a, const Tensor& b, Tensor& y, F f) {
  BroadcastPlan p = make_broadcast_plan({&a.shape(), &b.shape()}, y.shape());
  const TA* ap = a.data<TA>();
  const TB* bp = b.data<TB>();
  TO* yp = y.data<TO>();
  parallel_elems(ctx, y.numel(), [&](int64_t begin, int64_t end) {
    for_each_run(p, begin, end, [&](int64_t o, const int64_t* in, int64_t len, const int64_t* st) {
      const TA* x = ap + in[0];
      const TB* z = bp + in[1];
      TO* w = yp + o;
      if (st[0] == 1 && st[1] == 1) {
        for (int64_t i = 0; i < len; ++i) w[i] = f(x[i], z[i]);
      } else if (st[0] == 1 && st[1] == 0) {
        const TB zb = z[0];
        for (int64_t i = 0; i < len; ++i) w[i] = f(x[i], zb);
      } else if (st[0] == 0 && st[1] == 1) {
        const TA xa = x[0];
        for (int64_t i = 0; i < len; ++i) w[i] = f(xa, z[i]);
      } else {
        for (int64_t i = 0; i < len; ++i) w[i] = f(x[i * st[0]], z[i * st[1]]);
      }
    });
  });
}

// Wrapping integer arithmetic without signed-overflow UB.
template <typename T>
inline T wrap(T a, T b, char op) {
  using U = std::make_unsigned_t<T>;
  U x = static_cast<U>(a), y = static_cast<U>(b);
  switch (op) {
    case '+': return static_cast<T>(static_cast<U>(x + y));
    case '-': return static_cast<T>(static_cast<U>(x - y));
    default: return static_cast<T>(static_cast<U>(x * y));
  }
}

template <typename T>
inline T int_div(T a, T b) {
  if (b == 0) return T(0);
  if constexpr (std::is_signed_v<T>) {
    if (b == -1) return wrap<T>(T(0), a, '-');
  }
  return static_cast<T>(a / b);
}

template <typename T>
inline T int_mod(T a, T b, bool fmod) {
  if (b == 0) return T(0);
  if constexpr (std::is_signed_v<T>) {
    if (b == -1) return T(0);
    T r = static_cast<T>(a % b);
    if (!fmod && r != 0 && ((r < 0) != (b < 0))) r = static_cast<T>(r + b);
    return r;
  } else {
    return static_cast<T>(a % b);
  }
}

template <typename C>
inline C float_mod(C a, C b, bool fmod) {
  C r = std::fmod(a, b);
  if (!fmod && r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

enum class Arith { kAdd, kSub, kMul, kDiv, kMod, kFMod, kMax, kMin };

template <typename C>
inline C arith(Arith op, C a, C b) {
  if constexpr (std::is_floating_point_v<C>) {
    switch (op) {
      case Arith::kAdd: return a + b;
      case Arith::kSub: return a - b;
      case Arith::kMul: return a * b;
      case Arith::kDiv: return a / b;
      case Arith::kMod: return float_mod(a, b, false);
      case Arith::kFMod: return float_mod(a, b, true);
      case Arith::kMax: return (std::isnan(a) || std::isnan(b)) ? a + b : (a < b ? b : a);
      case Arith::kMin: return (std::isnan(a) || std::isnan(b)) ? a + b : (b < a ? b : a);
    }
  } else {
    switch (op) {
      case Arith::kAdd: return wrap<C>(a, b, '+');
      case Arith::kSub: return wrap<C>(a, b, '-');
      case Arith::kMul: return wrap<C>(a, b, '*');
      case Arith::kDiv: return int_div(a, b);
      case Arith::kMod: return int_mod(a, b, false);
      case Arith::kFMod: return int_mod(a, b, true);
      case Arith::kMax: return a < b ? b : a;
      case Arith::kMin: return b < a ? b : a;
    }
  }
  return a;
}

template <typename T, Arith kOp>
void arith_typed(KernelContext& ctx, const Tensor& a, const Tensor& b, Tensor& y) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
    broadcast2<T, T, T>(ctx, a, b, y,
                        [](T x, T z) { return from_compute<T>(arith<float>(kOp, to_compute(x), to_compute(z))); });
  } else {
    broadcast2<T, T, T>(ctx, a, b, y, [](T x, T z) { return arith<T>(kOp, x, z); });
  }
}

template <Arith kOp>
Status arith_dispatch(KernelContext& ctx, const Tensor& a, const Tensor& b, Tensor& y) {
  if (a.dtype() != b.dtype() || a.dtype() != y.dtype()) return ctx.error("input element types differ");
  Status st = Status::ok();
  FERRY_RETURN_IF_ERROR(visit_dtype(a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, bool>) {
      st = ctx.unsupported_error(std::string("element type ") + dtype_name(a.dtype()) + " not supported");
    } else {
      arith_typed<T, kOp>(ctx, a, b, y);
    }
  }));
  return st;
}

template <Arith kOp>
Status arith_kernel(KernelContext& ctx) {
  FERRY_ASSIGN_OR_RETURN(Tensor* y, ctx.output(0));
  return arith_dispatch<kOp>(ctx, *ctx.input(0), *ctx.input(1), *y);
}

Status mod_kernel(KernelContext& ctx) {
  FERRY_ASSIGN_OR_RETURN(Tensor* y, ctx.output(0));
  if (ctx.node().attr_int("fmod", 0) != 0) return arith_dispatch<Arith::kFMod>(ctx, *ctx.input(0), *ctx.input(1), *y);
  return arith_dispatch<Arith::kMod>(ctx, *ctx.input(0), *ctx.input(1), *y);
}

// Integer power by squaring (exact, wrapping); negative exponents truncate like C integer division.
template <typename T>
T int_pow(T base, int64_t e) {
  if (e < 0) {
    if (base == 1) return T(1);
    if constexpr (std::is_signed_v<T>) {
      if (base == -1) return (e % 2 == 0) ? T(1) : static_cast<T>(-1);
    }
    return T(0);
  }
  T r = 1;
  while (e > 0) {
    if (e & 1) r = wrap<T>(r, base, '*');
    base = wrap<T>(base, base, '*');
    e >>= 1;
  }
  return r;
}

// Pow: base and exponent may have different types; Y has the base's type.
Status pow_kernel(KernelContext& ctx) {
  const Tensor& a = *ctx.input(0);
  const Tensor& b = *ctx.input(1);
  FERRY_ASSIGN_OR_RETURN(Tensor* y, ctx.output(0));
  const bool int_exp = dtype_is_integer(b.dtype());
  Tensor e = Tensor::empty(int_exp ? DType::kInt64 : DType::kDouble, b.shape());
  if (int_exp) {
    std::vector<int64_t> v = to_int64_vector(b);
    std::copy(v.begin(), v.end(), e.data<int64_t>());
  } else if (dtype_is_float(b.dtype())) {
    for (int64_t i = 0; i < b.numel(); ++i) e.data<double>()[i] = load_double(b, i);
  } else {
    return ctx.error(std::string("exponent element type ") + dtype_name(b.dtype()) + " not supported");
  }
  Status st = Status::ok();
  FERRY_RETURN_IF_ERROR(visit_dtype(a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, bool>) {
      st = ctx.error(std::string("Pow does not accept ") + dtype_name(a.dtype()));
    } else if constexpr (std::is_integral_v<T>) {
      if (int_exp)
        broadcast2<T, int64_t, T>(ctx, a, e, *y, [](T x, int64_t z) { return int_pow<T>(x, z); });
      else
        broadcast2<T, double, T>(ctx, a, e, *y, [](T x, double z) {
          return saturate_to_int<T>(std::pow(static_cast<double>(x), z));
        });
    } else {
      using C = compute_t<T>;
      if (int_exp)
        broadcast2<T, int64_t, T>(ctx, a, e, *y, [](T x, int64_t z) {
          return from_compute<T>(static_cast<C>(std::pow(static_cast<double>(to_compute(x)), static_cast<double>(z))));
        });
      else
        broadcast2<T, double, T>(ctx, a, e, *y, [](T x, double z) {
          return from_compute<T>(static_cast<C>(std::pow(static_cast<double>(to_compute(x)), z)));
        });
    }
  }));
  return st;
}

Status bitshift_kernel(KernelContext& ctx) {
  const Tensor& a = *ctx.input(0);
  const Tensor& b = *ctx.input(1);
  FERRY_ASSIGN_OR_RETURN(Tensor* y, ctx.output(0));
  if (a.dtype() != b.dtype()) return ctx.error("input element types differ");
  const bool left = ctx.node().attr_string("direction", "") == "LEFT";
  Status st = Status::ok();
  FERRY_RETURN_IF_ERROR(visit_dtype(a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_integral_v<T> && std::is_unsigned_v<T> && !std::is_same_v<T, bool>) {
      constexpr T kBits = static_cast<T>(sizeof(T) * 8);
      broadcast2<T, T, T>(ctx, a, b, *y, [left](T x, T s) {
        if (s >= kBits) return T(0);
        return left ? static_cast<T>(x << s) : static_cast<T>(x >> s);
      });
    } else {
      st = ctx.error(std::string("BitShift needs unsigned integers, got ") + dtype_name(a.dtype()));
    }
  }));
  return st;
}

enum class Bits { kAnd, kOr, kXor };

template <Bits kOp>
Status bits_kernel(KernelContext& ctx) {
  const Tensor& a = *ctx.input(0);
  const Tensor& b = *ctx.input(1);
  FERRY_ASSIGN_OR_RETURN(Tensor* y, ctx.output(0));
  if (a.dtype() != b.dtype()) return ctx.error("input element types differ");
  Status st = Status::ok();
  FERRY_RETURN_IF_ERROR(visit_dtype(a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_integral_v<T>) {  // bool (And/Or/Xor) and every integer (Bitwise*)
      broadcast2<T, T, T>(ctx, a, b, *y, [](T x, T z) {
        if constexpr (kOp == Bits::kAnd) return static_cast<T>(x & z);
        else if constexpr (kOp == Bits::kOr) return static_cast<T>(x | z);
        else return static_cast<T>(x ^ z);
      });
    } else {
      st = ctx.error(std::string("element type ") + dtype_name(a.dtype()) + " not supported");
    }
  }));
  return st;
}

enum class Cmp { kEq, kGt, kGe, kLt, kLe };

template <Cmp kOp>
Status compare_kernel(KernelContext& ctx) {
  const Tensor& a = *ctx.input(0);
  const Tensor& b = *ctx.input(1);
  FERRY_ASSIGN_OR_RETURN(Tensor* y, ctx.output(0));
  if (a.dtype() != b.dtype()) return ctx.error("input element types differ");
  return visit_dtype(a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    broadcast2<T, T, bool>(ctx, a, b, *y, [](const T& x0, const T& z0) {
      if constexpr (std::is_same_v<T, std::string>) {
        if constexpr (kOp == Cmp::kEq) return x0 == z0;
        else if constexpr (kOp == Cmp::kGt) return x0 > z0;
        else if constexpr (kOp == Cmp::kGe) return x0 >= z0;
        else if constexpr (kOp == Cmp::kLt) return x0 < z0;
        else return x0 <= z0;
      } else {
        auto x = to_compute(x0);
        auto z = to_compute(z0);
        if constexpr (kOp == Cmp::kEq) return x == z;
        else if constexpr (kOp == Cmp::kGt) return x > z;
        else if constexpr (kOp == Cmp::kGe) return x >= z;
        else if constexpr (kOp == Cmp::kLt) return x < z;
        else return x <= z;
      }
    });
  });
}

Status prelu_kernel(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  const Tensor& s = *ctx.input(1);
  FERRY_ASSIGN_OR_RETURN(Tensor* y, ctx.output(0));
  if (x.dtype() != s.dtype()) return ctx.error("slope element type differs from X");
  Status st = Status::ok();
  FERRY_RETURN_IF_ERROR(visit_dtype(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, bool>) {
      st = ctx.error(std::string("PRelu does not accept ") + dtype_name(x.dtype()));
    } else {
      broadcast2<T, T, T>(ctx, x, s, *y, [](T a, T b) {
        auto v = to_compute(a);
        if (v < 0) {
          if constexpr (std::is_integral_v<T>) return wrap<T>(a, b, '*');
          else return from_compute<T>(v * to_compute(b));
        }
        return a;
      });
    }
  }));
  return st;
}

Status swiglu_kernel(KernelContext& ctx) {
  const Tensor& a = *ctx.input(0);
  const Tensor& b = *ctx.input(1);
  FERRY_ASSIGN_OR_RETURN(Tensor* y, ctx.output(0));
  if (a.shape() != b.shape()) return ctx.error("A and B must have the same shape");
  if (a.dtype() != b.dtype()) return ctx.error("A and B element types differ");
  const double alpha = ctx.node().attr_float("alpha", 1.0f);
  Status st = Status::ok();
  FERRY_RETURN_IF_ERROR(visit_dtype(a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (is_float_storage_v<T>) {
      using C = compute_t<T>;
      const C al = static_cast<C>(alpha);
      broadcast2<T, T, T>(ctx, a, b, *y, [al](T g, T v) {
        C x = to_compute(g);
        C sg = x * al >= C(0) ? C(1) / (C(1) + std::exp(-x * al)) : std::exp(x * al) / (C(1) + std::exp(x * al));
        return from_compute<T>(x * sg * to_compute(v));
      });
    } else {
      st = ctx.error(std::string("SwiGLU needs a floating type, got ") + dtype_name(a.dtype()));
    }
  }));
  return st;
}

Status where_kernel(KernelContext& ctx) {
  const Tensor& c = *ctx.input(0);
  const Tensor& a = *ctx.input(1);
  const Tensor& b = *ctx.input(2);
  FERRY_ASSIGN_OR_RETURN(Tensor* y, ctx.output(0));
  if (c.dtype() != DType::kBool) return ctx.error("condition must be bool");
  if (a.dtype() != b.dtype()) return ctx.error("X and Y element types differ");
  BroadcastPlan p = make_broadcast_plan({&c.shape(), &a.shape(), &b.shape()}, y->shape());
  const bool* cp = c.data<bool>();
  if (a.dtype() == DType::kString) {
    const std::string* ap = a.data<std::string>();
    const std::string* bp = b.data<std::string>();
    std::string* yp = y->data<std::string>();
    for_each_run(p, 0, y->numel(), [&](int64_t o, const int64_t* in, int64_t len, const int64_t* st) {
      for (int64_t i = 0; i < len; ++i)
        yp[o + i] = cp[in[0] + i * st[0]] ? ap[in[1] + i * st[1]] : bp[in[2] + i * st[2]];
    });
    return Status::ok();
  }
  // Every other type is plain bytes: select element-sized chunks.
  const size_t es = dtype_size(a.dtype());
  if (es == 0) return ctx.error("unsupported element type");
  const char* ap = static_cast<const char*>(a.raw_data());
  const char* bp = static_cast<const char*>(b.raw_data());
  char* yp = static_cast<char*>(y->raw_data());
  auto run = [&](auto elem) {
    using E = decltype(elem);
    const E* ae = reinterpret_cast<const E*>(ap);
    const E* be = reinterpret_cast<const E*>(bp);
    E* ye = reinterpret_cast<E*>(yp);
    parallel_elems(ctx, y->numel(), [&](int64_t begin, int64_t end) {
      for_each_run(p, begin, end, [&](int64_t o, const int64_t* in, int64_t len, const int64_t* st) {
        for (int64_t i = 0; i < len; ++i)
          ye[o + i] = cp[in[0] + i * st[0]] ? ae[in[1] + i * st[1]] : be[in[2] + i * st[2]];
      });
    });
  };
  switch (es) {
    case 1: run(uint8_t{}); break;
    case 2: run(uint16_t{}); break;
    case 4: run(uint32_t{}); break;
    case 8: run(uint64_t{}); break;
    default: return ctx.error("unsupported element size");
  }
  return Status::ok();
}

// Variadic ops: Y = fold(op, inputs) with broadcasting; Mean divides the sum by the input count.
template <Arith kOp, bool kMean>
Status variadic_kernel(KernelContext& ctx) {
  FERRY_ASSIGN_OR_RETURN(Tensor* y, ctx.output(0));
  const int n = ctx.num_inputs();
  std::vector<const Tensor*> ins;
  for (int i = 0; i < n; ++i)
    if (ctx.input(i)) ins.push_back(ctx.input(i));
  if (ins.empty()) return ctx.error("needs at least one input");
  for (const Tensor* t : ins)
    if (t->dtype() != y->dtype()) return ctx.error("input element types differ");
  Status st = Status::ok();
  FERRY_RETURN_IF_ERROR(visit_dtype(y->dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, bool>) {
      st = ctx.error(std::string("element type ") + dtype_name(y->dtype()) + " not supported");
    } else {
      // First input broadcast into Y, then Y = op(Y, input_k) in place.
      const Tensor& first = *ins[0];
      broadcast2<T, T, T>(ctx, first, first, *y, [](T x, T) { return x; });
      for (size_t k = 1; k < ins.size(); ++k) {
        Tensor acc = *y;  // aliases Y: each element is read before it is written
        if constexpr (kMean) arith_typed<T, Arith::kAdd>(ctx, acc, *ins[k], *y);
        else arith_typed<T, kOp>(ctx, acc, *ins[k], *y);
      }
      if constexpr (kMean) {
        T* yp = y->data<T>();
        using C = compute_t<T>;
        const C cnt = static_cast<C>(ins.size());
        for (int64_t i = 0; i < y->numel(); ++i) yp[i] = from_compute<T>(static_cast<C>(to_compute(yp[i]) / cnt));
      }
    }
  }));
  return st;
}

}  // namespace

void register_elementwise_binary_kernels(KernelRegistry& r) {
  r.add_fn("", "Add", arith_kernel<Arith::kAdd>);
  r.add_fn("", "Sub", arith_kernel<Arith::kSub>);
  r.add_fn("", "Mul", arith_kernel<Arith::kMul>);
  r.add_fn("", "Div", arith_kernel<Arith::kDiv>);
  r.add_fn("", "Mod", mod_kernel);
  r.add_fn("", "Pow", pow_kernel);
  r.add_fn("", "BitShift", bitshift_kernel);
  r.add_fn("", "And", bits_kernel<Bits::kAnd>);
  r.add_fn("", "Or", bits_kernel<Bits::kOr>);
  r.add_fn("", "Xor", bits_kernel<Bits::kXor>);
  r.add_fn("", "BitwiseAnd", bits_kernel<Bits::kAnd>);
  r.add_fn("", "BitwiseOr", bits_kernel<Bits::kOr>);
  r.add_fn("", "BitwiseXor", bits_kernel<Bits::kXor>);
  r.add_fn("", "Equal", compare_kernel<Cmp::kEq>);
  r.add_fn("", "Greater", compare_kernel<Cmp::kGt>);
  r.add_fn("", "GreaterOrEqual", compare_kernel<Cmp::kGe>);
  r.add_fn("", "Less", compare_kernel<Cmp::kLt>);
  r.add_fn("", "LessOrEqual", compare_kernel<Cmp::kLe>);
  r.add_fn("", "PRelu", prelu_kernel);
  r.add_fn("", "SwiGLU", swiglu_kernel);
  r.add_fn("", "Where", where_kernel);
  r.add_fn("", "Sum", variadic_kernel<Arith::kAdd, false>);
  r.add_fn("", "Mean", variadic_kernel<Arith::kAdd, true>);
  r.add_fn("", "Max", variadic_kernel<Arith::kMax, false>);
  r.add_fn("", "Min", variadic_kernel<Arith::kMin, false>);
}

}  // namespace ferry
