#include "core/float_convert.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace ferry {

namespace {
uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
}  // namespace

float half_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1F;
  uint32_t man = h & 0x3FF;
  if (exp == 0) {
    if (man == 0) return bits_float(sign);
    float v = std::ldexp(static_cast<float>(man), -24);
    return sign ? -v : v;
  }
  if (exp == 31) return bits_float(sign | 0x7F800000 | (man << 13));
  return bits_float(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t float_to_half(float f) {
  uint32_t x = float_bits(f);
  uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  uint32_t ax = x & 0x7FFFFFFF;
  if (ax >= 0x7F800000) {  // inf or nan
    return static_cast<uint16_t>(sign | 0x7C00 | (ax > 0x7F800000 ? 0x200 | ((ax >> 13) & 0x3FF) : 0));
  }
  if (ax >= 0x477FF000) return static_cast<uint16_t>(sign | 0x7C00);  // rounds to >= 65520 -> inf
  if (ax < 0x38800000) {                                               // subnormal half or zero
    float v = bits_float(ax);
    // v / 2^-24 rounded to nearest even
    float scaled = v * 16777216.0f;
    float r = std::nearbyint(scaled);
    return static_cast<uint16_t>(sign | static_cast<uint16_t>(r));
  }
  uint32_t exp = ((ax >> 23) - 112) << 10;
  uint32_t man = ax & 0x7FFFFF;
  uint32_t h = exp | (man >> 13);
  uint32_t rem = man & 0x1FFF;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;
  return static_cast<uint16_t>(sign | h);
}

float bf16_to_float(uint16_t b) { return bits_float(static_cast<uint32_t>(b) << 16); }

uint16_t float_to_bf16(float f) {
  uint32_t x = float_bits(f);
  if ((x & 0x7FFFFFFF) > 0x7F800000) return static_cast<uint16_t>((x >> 16) | 0x40);  // quiet nan
  uint32_t rounding = 0x7FFF + ((x >> 16) & 1);
  return static_cast<uint16_t>((x + rounding) >> 16);
}

namespace {

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx,f16c"))) void floats_to_halves_f16c(const float* src, uint16_t* dst, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(src + i);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i) dst[i] = float_to_half(src[i]);
}
__attribute__((target("avx,f16c"))) void halves_to_floats_f16c(const uint16_t* src, float* dst, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  for (; i < n; ++i) dst[i] = half_to_float(src[i]);
}
const bool kHasF16c = __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx");
#endif

}  // namespace

void floats_to_halves(const float* src, uint16_t* dst, size_t n) {
#if defined(__x86_64__) || defined(__i386__)
  if (kHasF16c) return floats_to_halves_f16c(src, dst, n);
#endif
  for (size_t i = 0; i < n; ++i) dst[i] = float_to_half(src[i]);
}

void floats_to_bf16s(const float* src, uint16_t* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = float_to_bf16(src[i]);
}

void halves_to_floats(const uint16_t* src, float* dst, size_t n) {
#if defined(__x86_64__) || defined(__i386__)
  if (kHasF16c) return halves_to_floats_f16c(src, dst, n);
#endif
  for (size_t i = 0; i < n; ++i) dst[i] = half_to_float(src[i]);
}

void bf16s_to_floats(const uint16_t* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = bf16_to_float(src[i]);
}

namespace {

struct NarrowFormat {
  int exp_bits, man_bits, bias;
  bool has_inf;  // IEEE-like inf/nan at the top exponent (E5M2)
  bool uz;       // "unsigned zero": 0x80 is the only NaN, no negative zero (FNUZ)
  bool fn;       // finite: only all-ones code is NaN (E4M3FN)
  int total_bits;
};

NarrowFormat format_of(DType t) {
  switch (t) {
    case DType::kFloat8E4M3FN: return {4, 3, 7, false, false, true, 8};
    case DType::kFloat8E4M3FNUZ: return {4, 3, 8, false, true, false, 8};
    case DType::kFloat8E5M2: return {5, 2, 15, true, false, false, 8};
    case DType::kFloat8E5M2FNUZ: return {5, 2, 16, false, true, false, 8};
    case DType::kFloat4E2M1: return {2, 1, 1, false, false, false, 4};
    default: return {0, 0, 0, false, false, false, 8};
  }
}

// Decodes a positive code (sign bit clear); NaN/inf per format.
float decode_positive(const NarrowFormat& f, uint32_t code) {
  uint32_t exp = code >> f.man_bits;
  uint32_t man = code & ((1u << f.man_bits) - 1);
  uint32_t exp_max = (1u << f.exp_bits) - 1;
  if (f.has_inf && exp == exp_max) return man == 0 ? std::numeric_limits<float>::infinity() : NAN;
  if (f.fn && exp == exp_max && man == (1u << f.man_bits) - 1) return NAN;
  if (exp == 0) return std::ldexp(static_cast<float>(man), 1 - f.bias - f.man_bits);
  return std::ldexp(1.0f + std::ldexp(static_cast<float>(man), -f.man_bits), static_cast<int>(exp) - f.bias);
}

// Positive finite values of a format, indexed by code (0 .. max finite code).
struct Table {
  NarrowFormat fmt;
  std::vector<float> values;
};

const Table& table_for(DType t) {
  static const std::array<Table, 5> tables = [] {
    std::array<Table, 5> out;
    DType types[5] = {DType::kFloat8E4M3FN, DType::kFloat8E4M3FNUZ, DType::kFloat8E5M2, DType::kFloat8E5M2FNUZ,
                      DType::kFloat4E2M1};
    for (int k = 0; k < 5; ++k) {
      out[k].fmt = format_of(types[k]);
      uint32_t half = 1u << (out[k].fmt.total_bits - 1);
      for (uint32_t c = 0; c < half; ++c) {
        float v = decode_positive(out[k].fmt, c);
        if (!std::isfinite(v)) break;
        out[k].values.push_back(v);
      }
    }
    return out;
  }();
  switch (t) {
    case DType::kFloat8E4M3FN: return tables[0];
    case DType::kFloat8E4M3FNUZ: return tables[1];
    case DType::kFloat8E5M2: return tables[2];
    case DType::kFloat8E5M2FNUZ: return tables[3];
    default: return tables[4];
  }
}

uint8_t nan_code(const NarrowFormat& f) {
  if (f.uz) return 0x80;
  if (f.has_inf) return 0x7F;
  if (f.fn) return 0x7F;
  return 0x7;  // float4 has no NaN
}

}  // namespace

float narrow_float_to_float(DType t, uint8_t bits) {
  if (t == DType::kFloat8E8M0) {
    if (bits == 0xFF) return NAN;
    return std::ldexp(1.0f, static_cast<int>(bits) - 127);
  }
  const NarrowFormat f = format_of(t);
  uint32_t sign_bit = 1u << (f.total_bits - 1);
  uint32_t code = bits & ((1u << f.total_bits) - 1);
  if (f.uz && code == sign_bit) return NAN;
  float v = decode_positive(f, code & (sign_bit - 1));
  return (code & sign_bit) ? -v : v;
}

uint8_t float_to_narrow_float(DType t, float x, bool saturate) {
  if (t == DType::kFloat8E8M0) {
    if (std::isnan(x) || x <= 0) return std::isnan(x) ? 0xFF : 0;
    if (std::isinf(x)) return saturate ? 0xFE : 0xFF;
    int e;
    float m = std::frexp(x, &e);  // x = m * 2^e, m in [0.5, 1)
    int exp = e - 1 + (m > 0.5f ? 1 : 0);  // round up (ONNX default round_mode "up")
    int code = exp + 127;
    if (code < 0) return 0;
    if (code > 254) return saturate ? 0xFE : 0xFF;
    return static_cast<uint8_t>(code);
  }
  const Table& tab = table_for(t);
  const NarrowFormat& f = tab.fmt;
  uint8_t sign = std::signbit(x) ? static_cast<uint8_t>(1u << (f.total_bits - 1)) : 0;
  if (f.uz) sign = (x == 0 || std::isnan(x)) ? 0 : sign;
  if (std::isnan(x)) return nan_code(f);
  float ax = std::fabs(x);
  uint32_t max_code = static_cast<uint32_t>(tab.values.size() - 1);
  float max_v = tab.values.back();
  if (f.total_bits == 4) saturate = true;
  auto overflow = [&]() -> uint8_t {
    if (saturate) return static_cast<uint8_t>(sign | max_code);
    if (f.has_inf) return static_cast<uint8_t>(sign | 0x7C);
    return f.uz ? 0x80 : static_cast<uint8_t>(sign | 0x7F);
  };
  if (std::isinf(x)) return overflow();
  // Next value above max in the same binade: max + ulp(max).
  float ulp = max_v - tab.values[max_code - 1];
  float virtual_next = max_v + ulp;
  if (ax >= virtual_next) return overflow();
  if (ax > max_v) {
    float mid = max_v + ulp / 2;
    bool to_max = ax < mid || (ax == mid && (max_code & 1) == 0);
    return to_max ? static_cast<uint8_t>(sign | max_code) : overflow();
  }
  auto it = std::lower_bound(tab.values.begin(), tab.values.end(), ax);
  uint32_t hi = static_cast<uint32_t>(it - tab.values.begin());
  if (hi == 0 || tab.values[hi] == ax) return static_cast<uint8_t>(sign | hi);
  uint32_t lo = hi - 1;
  float dlo = ax - tab.values[lo], dhi = tab.values[hi] - ax;
  uint32_t code = dlo < dhi ? lo : dhi < dlo ? hi : ((lo & 1) == 0 ? lo : hi);
  if (f.uz && code == 0) sign = 0;
  return static_cast<uint8_t>(sign | code);
}

}  // namespace ferry
