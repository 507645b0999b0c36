// cast.cc — CPU reference kernels of the cast family: Cast, CastLike, BitCast.
//
// Conversion rules (numpy/ONNX reference semantics):
//  - integer -> integer wraps (two's complement), including the 4/2-bit types;
//  - float -> integer truncates toward zero (NaN -> 0), then wraps like numpy on in-range int64 values;
//    float -> 4/2-bit integers round to nearest even first;
//  - float -> narrower float rounds to nearest even (double -> float16/bfloat16/float8 without double rounding);
//  - float8 targets honour `saturate` (default 1); float4e2m1 always saturates and maps NaN to 0x8;
//  - float8e8m0 honours `round_mode` ("up" default, "down", "nearest") and `saturate`;
//  - strings parse plain/scientific numbers and INF/NaN spellings; numbers format as the shortest round-trip
//    decimal in Python's repr style ("0.1", "2.0", "1e-05", "nan", "inf"), as numpy's astype(str) does.
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "backends/cpu/kernels/elementwise_util.h"

namespace ferry {

namespace {

struct CastOptions {
  bool saturate = true;
  int round_mode = 0;  // 0 up, 1 down, 2 nearest (float8e8m0 only)
};

// A source element: an exact integer, or a floating value.
struct Scalar {
  enum Kind { kInt, kUInt, kFloat } kind = kInt;
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;
  double as_double() const {
    return kind == kFloat ? d : (kind == kUInt ? static_cast<double>(u) : static_cast<double>(i));
  }
};

bool is_standard(DType t) {
  switch (t) {
    case DType::kFloat: case DType::kDouble: case DType::kFloat16: case DType::kBFloat16: case DType::kInt8:
    case DType::kInt16: case DType::kInt32: case DType::kInt64: case DType::kUInt8: case DType::kUInt16:
    case DType::kUInt32: case DType::kUInt64: case DType::kBool: return true;
    default: return false;
  }
}

// double -> float rounded to odd: a later round-to-nearest to a format with >= 2 fewer mantissa bits than float
// then equals a single correct rounding of the double.
float to_float_odd(double d) {
  float f = static_cast<float>(d);
  if (std::isnan(d) || std::isinf(f) || static_cast<double>(f) == d) return f;
  if (std::fabs(static_cast<double>(f)) > std::fabs(d)) f = std::nextafter(f, 0.0f);
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  bits |= 1u;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Float -> int64 truncating toward zero; NaN -> 0, saturating at the int64 range.
int64_t trunc_to_i64(double v) { return saturate_to_int<int64_t>(std::trunc(v)); }

// Integer target from a scalar (wrapping to the target width, numpy style).
template <typename T>
T to_int_target(const Scalar& s) {
  if (s.kind == Scalar::kInt) return static_cast<T>(s.i);
  if (s.kind == Scalar::kUInt) return static_cast<T>(s.u);
  if constexpr (std::is_same_v<T, uint64_t>) {
    if (s.d >= 9223372036854775808.0) return saturate_to_int<uint64_t>(s.d);
  }
  return static_cast<T>(trunc_to_i64(s.d));
}

uint8_t float_to_e8m0(float x, const CastOptions& o) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  uint32_t exp = (bits >> 23) & 0xFF;
  uint32_t man = bits & 0x7FFFFF;
  if (exp == 0xFF) {
    if (man != 0) return 0xFF;          // NaN
    return o.saturate ? 0xFE : 0xFF;  // inf
  }
  bool up = false;
  if (o.round_mode == 0) up = man != 0;
  else if (o.round_mode == 2) up = (man & 0x400000) != 0;  // significand >= 1.5 rounds up
  if (up) {
    if (exp == 0xFE) return o.saturate ? 0xFE : 0xFF;
    ++exp;
  }
  return static_cast<uint8_t>(exp);
}

uint8_t to_narrow(DType t, double v, const CastOptions& o) {
  float f = to_float_odd(v);
  if (t == DType::kFloat8E8M0) return float_to_e8m0(f, o);
  if (t == DType::kFloat4E2M1 && std::isnan(f)) return 0x8;
  return float_to_narrow_float(t, f, t == DType::kFloat4E2M1 ? true : o.saturate);
}

// Python/numpy repr of a float: shortest round-trip digits, positional for 1e-4 <= |v| < 1e16 ("2.0", "0.001",
// "314.15926"), scientific otherwise ("1e-05", "1.5e+20"); "nan", "inf", "-inf" for the special values.
template <typename F>
std::string format_float(F v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  std::string sci(buf, r.ptr);
  size_t e = sci.find('e');
  int exp = std::atoi(sci.c_str() + e + 1);
  if (exp < -4 || exp >= 16) return sci;
  std::string sign = sci[0] == '-' ? "-" : "";
  std::string digits;
  for (size_t i = sign.size(); i < e; ++i)
    if (sci[i] != '.') digits += sci[i];
  if (exp < 0) return sign + "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
  size_t int_len = static_cast<size_t>(exp) + 1;
  if (digits.size() <= int_len) return sign + digits + std::string(int_len - digits.size(), '0') + ".0";
  return sign + digits.substr(0, int_len) + "." + digits.substr(int_len);
}

Expected<Scalar> parse_string(const std::string& s) {
  Scalar out;
  const char* b = s.c_str();
  char* end = nullptr;
  errno = 0;
  long long ll = std::strtoll(b, &end, 10);
  if (end != b && *end == '\0' && errno == 0) {
    out.kind = Scalar::kInt;
    out.i = ll;
    return out;
  }
  errno = 0;
  unsigned long long ull = std::strtoull(b, &end, 10);
  if (end != b && *end == '\0' && errno == 0 && s.find('-') == std::string::npos) {
    out.kind = Scalar::kUInt;
    out.u = ull;
    return out;
  }
  double d = std::strtod(b, &end);
  while (end && (*end == ' ' || *end == '\t' || *end == '\n')) ++end;
  if (end == b || *end != '\0') return invalid_argument("cannot parse '" + s + "' as a number");
  out.kind = Scalar::kFloat;
  out.d = d;
  return out;
}

Expected<Scalar> read_scalar(const Tensor& t, int64_t i) {
  Scalar s;
  const void* p = t.raw_data();
  switch (t.dtype()) {
    case DType::kString: return parse_string(static_cast<const std::string*>(p)[i]);
    case DType::kUInt64:
      s.kind = Scalar::kUInt;
      s.u = static_cast<const uint64_t*>(p)[i];
      return s;
    case DType::kInt64:
      s.i = static_cast<const int64_t*>(p)[i];
      return s;
    default:
      if (dtype_is_float(t.dtype())) {
        s.kind = Scalar::kFloat;
        s.d = load_double(t, i);
      } else {
        s.i = static_cast<int64_t>(load_double(t, i));  // exact for every integer type below 64 bits and bool
      }
      return s;
  }
}

void write_scalar(Tensor& t, int64_t i, const Scalar& s, const CastOptions& o) {
  void* p = t.raw_data();
  const DType dt = t.dtype();
  switch (dt) {
    case DType::kFloat: static_cast<float*>(p)[i] = static_cast<float>(s.as_double()); return;
    case DType::kDouble: static_cast<double*>(p)[i] = s.as_double(); return;
    case DType::kFloat16: static_cast<uint16_t*>(p)[i] = float_to_half(to_float_odd(s.as_double())); return;
    case DType::kBFloat16: static_cast<uint16_t*>(p)[i] = float_to_bf16(to_float_odd(s.as_double())); return;
    case DType::kFloat8E4M3FN: case DType::kFloat8E4M3FNUZ: case DType::kFloat8E5M2: case DType::kFloat8E5M2FNUZ:
    case DType::kFloat4E2M1: case DType::kFloat8E8M0:
      static_cast<uint8_t*>(p)[i] = to_narrow(dt, s.as_double(), o);
      return;
    case DType::kBool: static_cast<bool*>(p)[i] = s.as_double() != 0.0; return;
    case DType::kInt8: static_cast<int8_t*>(p)[i] = to_int_target<int8_t>(s); return;
    case DType::kInt16: static_cast<int16_t*>(p)[i] = to_int_target<int16_t>(s); return;
    case DType::kInt32: static_cast<int32_t*>(p)[i] = to_int_target<int32_t>(s); return;
    case DType::kInt64: static_cast<int64_t*>(p)[i] = to_int_target<int64_t>(s); return;
    case DType::kUInt8: static_cast<uint8_t*>(p)[i] = to_int_target<uint8_t>(s); return;
    case DType::kUInt16: static_cast<uint16_t*>(p)[i] = to_int_target<uint16_t>(s); return;
    case DType::kUInt32: static_cast<uint32_t*>(p)[i] = to_int_target<uint32_t>(s); return;
    case DType::kUInt64: static_cast<uint64_t*>(p)[i] = to_int_target<uint64_t>(s); return;
    case DType::kInt4: case DType::kUInt4: case DType::kInt2: case DType::kUInt2: {
      int64_t v = s.kind == Scalar::kFloat ? saturate_to_int<int64_t>(std::nearbyint(s.d))
                                           : (s.kind == Scalar::kUInt ? static_cast<int64_t>(s.u) : s.i);
      const int bits = dtype_bits(dt);
      const uint64_t mask = (uint64_t{1} << bits) - 1;
      uint64_t u = static_cast<uint64_t>(v) & mask;
      if (dtype_is_signed(dt)) {
        int64_t sv = static_cast<int64_t>(u ^ (uint64_t{1} << (bits - 1))) - (int64_t{1} << (bits - 1));
        static_cast<int8_t*>(p)[i] = static_cast<int8_t>(sv);
      } else {
        static_cast<uint8_t*>(p)[i] = static_cast<uint8_t>(u);
      }
      return;
    }
    default: return;
  }
}

std::string format_element(const Tensor& t, int64_t i) {
  const void* p = t.raw_data();
  switch (t.dtype()) {
    case DType::kFloat: return format_float(static_cast<const float*>(p)[i]);
    case DType::kDouble: return format_float(static_cast<const double*>(p)[i]);
    case DType::kInt64: return std::to_string(static_cast<const int64_t*>(p)[i]);
    case DType::kUInt64: return std::to_string(static_cast<const uint64_t*>(p)[i]);
    case DType::kBool: return static_cast<const bool*>(p)[i] ? "True" : "False";
    case DType::kString: return static_cast<const std::string*>(p)[i];
    default:
      if (dtype_is_float(t.dtype())) return format_float(static_cast<float>(load_double(t, i)));
      return std::to_string(static_cast<int64_t>(load_double(t, i)));
  }
}

// Typed conversion between standard storage types (the fast path), same rules as write_scalar.
template <typename D, typename S>
inline D convert(S v) {
  if constexpr (std::is_same_v<D, S>) {
    return v;
  } else if constexpr (std::is_same_v<D, bool>) {
    return to_compute(v) != 0;
  } else if constexpr (std::is_same_v<D, Half> || std::is_same_v<D, BFloat16>) {
    if constexpr (std::is_same_v<S, double>) return from_compute<D>(to_float_odd(v));
    else return from_compute<D>(static_cast<float>(to_compute(v)));
  } else if constexpr (std::is_floating_point_v<D>) {
    return static_cast<D>(to_compute(v));
  } else {  // integer target
    if constexpr (std::is_integral_v<S>) {
      return static_cast<D>(v);
    } else {
      double d = static_cast<double>(to_compute(v));
      if constexpr (std::is_same_v<D, uint64_t>) {
        if (d >= 9223372036854775808.0) return saturate_to_int<uint64_t>(d);
      }
      return static_cast<D>(trunc_to_i64(d));
    }
  }
}

Status cast_tensor(KernelContext& ctx, const Tensor& x, Tensor& y, const CastOptions& o) {
  const int64_t n = x.numel();
  if (is_standard(x.dtype()) && is_standard(y.dtype())) {
    return visit_dtype(x.dtype(), [&](auto stag) {
      using S = typename decltype(stag)::type;
      (void)visit_dtype(y.dtype(), [&](auto dtag) {
        using D = typename decltype(dtag)::type;
        if constexpr (!std::is_same_v<S, std::string> && !std::is_same_v<D, std::string>) {
          const S* xp = x.data<S>();
          D* yp = y.data<D>();
          parallel_elems(ctx, n, [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) yp[i] = convert<D, S>(xp[i]);
          });
        }
      });
    });
  }
  if (x.dtype() == y.dtype() && x.dtype() != DType::kString) {
    std::memcpy(y.raw_data(), x.raw_data(), x.nbytes());
    return Status::ok();
  }
  if (y.dtype() == DType::kString) {
    std::string* yp = y.data<std::string>();
    for (int64_t i = 0; i < n; ++i) yp[i] = format_element(x, i);
    return Status::ok();
  }
  for (int64_t i = 0; i < n; ++i) {
    Expected<Scalar> s = read_scalar(x, i);
    if (!s) return ctx.error(s.status().message());
    write_scalar(y, i, *s, o);
  }
  return Status::ok();
}

CastOptions options_of(const Node& n) {
  CastOptions o;
  o.saturate = n.attr_int("saturate", 1) != 0;
  std::string m = n.attr_string("round_mode", "up");
  o.round_mode = m == "down" ? 1 : (m == "nearest" ? 2 : 0);
  return o;
}

Status cast_kernel(KernelContext& ctx) {
  FERRY_ASSIGN_OR_RETURN(Tensor* y, ctx.output(0));
  return cast_tensor(ctx, *ctx.input(0), *y, options_of(ctx.node()));
}

Status bitcast_kernel(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  FERRY_ASSIGN_OR_RETURN(Tensor* y, ctx.output(0));
  if (x.dtype() == DType::kString || y->dtype() == DType::kString || dtype_size(x.dtype()) != dtype_size(y->dtype()))
    return ctx.error("BitCast needs two non-string types of equal size");
  if (x.dtype() == DType::kBool || y->dtype() == DType::kBool) {
    // bool storage holds only 0/1; normalise so every byte pattern stays a valid bool.
    const uint8_t* xp = static_cast<const uint8_t*>(x.raw_data());
    if (y->dtype() == DType::kBool) {
      bool* yp = y->data<bool>();
      for (int64_t i = 0; i < x.numel(); ++i) yp[i] = xp[i] != 0;
      return Status::ok();
    }
  }
  std::memcpy(y->raw_data(), x.raw_data(), x.nbytes());
  return Status::ok();
}

}  // namespace

void register_cast_kernels(KernelRegistry& r) {
  r.add_fn("", "Cast", cast_kernel);
  r.add_fn("", "CastLike", cast_kernel);
  r.add_fn("", "BitCast", bitcast_kernel);
}

}  // namespace ferry
