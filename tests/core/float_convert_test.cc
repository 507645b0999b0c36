#include "core/float_convert.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "core/dtype_dispatch.h"

namespace ferry {

TEST(FloatConvert, HalfRoundTripsExactValues) {
  for (float v : {0.0f, 1.0f, -2.5f, 65504.0f, 6.103515625e-05f, 5.960464477539063e-08f}) {
    EXPECT_EQ(half_to_float(float_to_half(v)), v) << v;
  }
  EXPECT_TRUE(std::isinf(half_to_float(float_to_half(70000.0f))));
  EXPECT_TRUE(std::isnan(half_to_float(float_to_half(NAN))));
  // 1 + 2^-11 is halfway between 1 and the next half: ties to even -> 1.
  EXPECT_EQ(half_to_float(float_to_half(1.0f + std::ldexp(1.0f, -11))), 1.0f);
}

TEST(FloatConvert, BFloat16RoundsToNearestEven) {
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f)), 1.0f);
  EXPECT_EQ(bf16_to_float(float_to_bf16(3.140625f)), 3.140625f);
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(NAN))));
}

// The bulk converters (F16C on x86) agree bit for bit with the scalar ones: normal values, ties, subnormals,
// the overflow edge, infinities and NaN, at every position of an 8-wide block and its scalar tail.
TEST(FloatConvert, BulkConversionMatchesScalar) {
  std::vector<float> v = {0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 65519.0f, 65520.0f, 1e6f, -1e6f, INFINITY, -INFINITY, NAN,
                          1.0f + std::ldexp(1.0f, -11), 1.0f + 3 * std::ldexp(1.0f, -11), 6.103515625e-05f,
                          5.960464477539063e-08f, 2.9e-08f, 3.0e-08f, 1e-10f, 3.14159265f, -0.1f, 1e-5f};
  for (int i = 0; i < 1000; ++i) v.push_back(std::ldexp(std::sin(i * 0.37f) + 1.5f, (i % 60) - 30) * (i % 2 ? 1 : -1));
  std::vector<uint16_t> half(v.size()), bf(v.size());
  floats_to_halves(v.data(), half.data(), v.size());
  floats_to_bf16s(v.data(), bf.data(), v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (std::isnan(v[i])) {
      EXPECT_TRUE(std::isnan(half_to_float(half[i]))) << i;
      EXPECT_TRUE(std::isnan(bf16_to_float(bf[i]))) << i;
      continue;
    }
    EXPECT_EQ(half[i], float_to_half(v[i])) << "value " << v[i] << " at " << i;
    EXPECT_EQ(bf[i], float_to_bf16(v[i])) << "value " << v[i] << " at " << i;
  }
}

// Half / bfloat16 -> float in bulk: every one of the 65536 bit patterns, as the scalar functions do it (NaN stays
// NaN).
TEST(FloatConvert, BulkWideningMatchesScalarOnEveryPattern) {
  std::vector<uint16_t> bits(65536 + 5);
  for (size_t i = 0; i < bits.size(); ++i) bits[i] = static_cast<uint16_t>(i);
  std::vector<float> half(bits.size()), bf(bits.size());
  halves_to_floats(bits.data(), half.data(), bits.size());
  bf16s_to_floats(bits.data(), bf.data(), bits.size());
  for (size_t i = 0; i < bits.size(); ++i) {
    const float h = half_to_float(bits[i]), b = bf16_to_float(bits[i]);
    if (std::isnan(h)) EXPECT_TRUE(std::isnan(half[i])) << i;
    else ASSERT_EQ(std::memcmp(&half[i], &h, sizeof h), 0) << "half bits " << bits[i];
    if (std::isnan(b)) EXPECT_TRUE(std::isnan(bf[i])) << i;
    else ASSERT_EQ(std::memcmp(&bf[i], &b, sizeof b), 0) << "bf16 bits " << bits[i];
  }
}

TEST(FloatConvert, Float8E4M3FN) {
  EXPECT_EQ(narrow_float_to_float(DType::kFloat8E4M3FN, 0x7E), 448.0f);
  EXPECT_TRUE(std::isnan(narrow_float_to_float(DType::kFloat8E4M3FN, 0x7F)));
  EXPECT_EQ(float_to_narrow_float(DType::kFloat8E4M3FN, 1000.0f, true), 0x7E);
  EXPECT_EQ(float_to_narrow_float(DType::kFloat8E4M3FN, 1000.0f, false), 0x7F);
  EXPECT_EQ(float_to_narrow_float(DType::kFloat8E4M3FN, -1.0f, true), 0xB8);
  EXPECT_EQ(narrow_float_to_float(DType::kFloat8E4M3FN, 0x01), std::ldexp(1.0f, -9));  // smallest subnormal
}

TEST(FloatConvert, Float8E5M2AndFnuz) {
  EXPECT_EQ(narrow_float_to_float(DType::kFloat8E5M2, 0x7B), 57344.0f);
  EXPECT_TRUE(std::isinf(narrow_float_to_float(DType::kFloat8E5M2, 0x7C)));
  EXPECT_EQ(float_to_narrow_float(DType::kFloat8E5M2, INFINITY, false), 0x7C);
  EXPECT_TRUE(std::isnan(narrow_float_to_float(DType::kFloat8E4M3FNUZ, 0x80)));
  EXPECT_EQ(float_to_narrow_float(DType::kFloat8E4M3FNUZ, -0.0f, true), 0x00);
}

TEST(FloatConvert, Float4E2M1Saturates) {
  EXPECT_EQ(narrow_float_to_float(DType::kFloat4E2M1, 0x7), 6.0f);
  EXPECT_EQ(narrow_float_to_float(DType::kFloat4E2M1, 0xF), -6.0f);
  EXPECT_EQ(float_to_narrow_float(DType::kFloat4E2M1, 100.0f, false), 0x7);
  EXPECT_EQ(float_to_narrow_float(DType::kFloat4E2M1, 1.25f, false), 0x2);  // tie between 1 (even) and 1.5
}

TEST(DTypeDispatch, LoadStoreThroughDouble) {
  Tensor t = Tensor::zeros(DType::kInt4, {3});
  store_double(t, 0, -3);
  EXPECT_EQ(load_double(t, 0), -3);
  Tensor h = Tensor::zeros(DType::kFloat16, {1});
  store_double(h, 0, 0.5);
  EXPECT_EQ(load_double(h, 0), 0.5);
}

}  // namespace ferry
