// cast_test.cc — Cast / CastLike / BitCast across the standard, float8, float4, e8m0, sub-byte and string types.
#include <cmath>
#include <cstring>
#include <limits>

#include "ops/op_test_util.h"

namespace ferry::test {
namespace {

Node cast_node(DType to) {
  Node n = Node::make("Cast", {"x"}, {"y"});
  n.attrs["to"] = attr_i(static_cast<int64_t>(to));
  return n;
}

Tensor run1(Node n, const std::vector<Tensor>& ins, int opset = 25) {
  auto out = run_single_op(std::move(n), ins, opset);
  EXPECT_TRUE(out.has_value()) << out.status().to_string();
  if (!out.has_value()) return Tensor();
  return (*out)[0];
}

std::vector<uint8_t> bytes_of(const Tensor& t) {
  const uint8_t* p = static_cast<const uint8_t*>(t.raw_data());
  return std::vector<uint8_t>(p, p + t.numel());
}

Tensor strings(Shape s, std::vector<std::string> v) {
  Tensor t = Tensor::empty(DType::kString, std::move(s));
  for (size_t i = 0; i < v.size(); ++i) t.data<std::string>()[i] = v[i];
  return t;
}

TEST(CastFamily, StandardTypes) {
  Tensor x = fvec({4}, {2.7f, -2.7f, 0.f, 1.f / 3});
  expect_near(run1(cast_node(DType::kInt32), {x}), Tensor::from_vector<int32_t>(DType::kInt32, {4}, {2, -2, 0, 0}));
  Tensor h = run1(cast_node(DType::kFloat16), {x});
  ASSERT_EQ(h.dtype(), DType::kFloat16);
  EXPECT_EQ(h.data<Half>()[3].bits, 0x3555);  // 0.33325195
  Tensor b = run1(cast_node(DType::kBool), {x});
  EXPECT_TRUE(b.data<bool>()[0]);
  EXPECT_FALSE(b.data<bool>()[2]);
  // int64 -> int8 wraps like numpy.
  expect_near(run1(cast_node(DType::kInt8), {ivec({3}, {300, -129, 5})}),
              Tensor::from_vector<int8_t>(DType::kInt8, {3}, {44, 127, 5}));
  // bfloat16 round trip through float.
  Tensor bf = run1(cast_node(DType::kBFloat16), {fvec({1}, {1.00390625f})});  // halfway: ties to even -> 1.0
  EXPECT_EQ(bf.data<BFloat16>()[0].bits, 0x3F80);
}

TEST(CastFamily, DoubleToHalfRoundsOnce) {
  // 1 + 2^-11 + 2^-40 is just above the halfway point between 1 and 1 + 2^-10: a correct rounding gives 0x3C01
  // (going through float first would land exactly on the halfway point and round to 1.0).
  Tensor d = Tensor::from_vector<double>(DType::kDouble, {1}, {1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40)});
  Tensor h = run1(cast_node(DType::kFloat16), {d});
  EXPECT_EQ(h.data<Half>()[0].bits, 0x3C01);
}

TEST(CastFamily, Float8Saturate) {
  Tensor x = fvec({4}, {1000.f, -1000.f, 0.5f, NAN});
  EXPECT_EQ(bytes_of(run1(cast_node(DType::kFloat8E4M3FN), {x})), (std::vector<uint8_t>{0x7E, 0xFE, 0x30, 0x7F}));
  Node ns = cast_node(DType::kFloat8E4M3FN);
  ns.attrs["saturate"] = attr_i(0);
  std::vector<uint8_t> y = bytes_of(run1(ns, {x}));
  EXPECT_EQ(y[0] & 0x7F, 0x7F);  // NaN
  Node e5 = cast_node(DType::kFloat8E5M2);
  e5.attrs["saturate"] = attr_i(0);
  EXPECT_EQ(bytes_of(run1(e5, {fvec({2}, {1e6f, -1e6f})})), (std::vector<uint8_t>{0x7C, 0xFC}));  // +-inf
  // Back to float.
  Tensor f8 = Tensor::from_vector<uint8_t>(DType::kFloat8E4M3FN, {2}, {0x7E, 0x30});
  expect_near(run1(cast_node(DType::kFloat), {f8}), fvec({2}, {448.f, 0.5f}));
}

TEST(CastFamily, E8M0RoundModes) {
  Tensor x = fvec({4}, {0.124f, 0.3f, 1.f, 0.f});
  EXPECT_EQ(bytes_of(run1(cast_node(DType::kFloat8E8M0), {x})), (std::vector<uint8_t>{0x7C, 0x7E, 0x7F, 0x00}));
  Node down = cast_node(DType::kFloat8E8M0);
  down.attrs["round_mode"] = attr_s("down");
  EXPECT_EQ(bytes_of(run1(down, {x})), (std::vector<uint8_t>{0x7B, 0x7D, 0x7F, 0x00}));
  Node nearest = cast_node(DType::kFloat8E8M0);
  nearest.attrs["round_mode"] = attr_s("nearest");
  EXPECT_EQ(bytes_of(run1(nearest, {x})), (std::vector<uint8_t>{0x7C, 0x7D, 0x7F, 0x00}));
  Tensor e = Tensor::from_vector<uint8_t>(DType::kFloat8E8M0, {2}, {0x7C, 0x80});
  expect_near(run1(cast_node(DType::kFloat), {e}), fvec({2}, {0.125f, 2.f}));
}

TEST(CastFamily, Float4AndSubByteInts) {
  Tensor x = fvec({6}, {0.48f, 0.25f, -3.5f, 9.f, NAN, -0.f});
  EXPECT_EQ(bytes_of(run1(cast_node(DType::kFloat4E2M1), {x})), (std::vector<uint8_t>{0x1, 0x0, 0xE, 0x7, 0x8, 0x8}));
  Tensor i = fvec({4}, {-9, 8, 7, -8});
  Tensor i4 = run1(cast_node(DType::kInt4), {i});
  EXPECT_EQ(i4.data<int8_t>()[0], 7);
  EXPECT_EQ(i4.data<int8_t>()[1], -8);
  EXPECT_EQ(i4.data<int8_t>()[2], 7);
  EXPECT_EQ(i4.data<int8_t>()[3], -8);
  EXPECT_EQ(bytes_of(run1(cast_node(DType::kUInt2), {fvec({3}, {-1, 4, 2})})), (std::vector<uint8_t>{3, 0, 2}));
  Tensor u4 = Tensor::from_vector<uint8_t>(DType::kUInt4, {2}, {15, 3});
  expect_near(run1(cast_node(DType::kFloat), {u4}), fvec({2}, {15, 3}));
  Tensor s4 = Tensor::from_vector<int8_t>(DType::kInt4, {2}, {-8, 7});
  expect_near(run1(cast_node(DType::kInt8), {s4}), Tensor::from_vector<int8_t>(DType::kInt8, {2}, {-8, 7}));
}

TEST(CastFamily, Strings) {
  Tensor s = strings({4}, {"3.5", "-INF", "1e-2", "NaN"});
  Tensor f = run1(cast_node(DType::kFloat), {s});
  EXPECT_EQ(f.data<float>()[0], 3.5f);
  EXPECT_EQ(f.data<float>()[1], -std::numeric_limits<float>::infinity());
  EXPECT_FLOAT_EQ(f.data<float>()[2], 0.01f);
  EXPECT_TRUE(std::isnan(f.data<float>()[3]));
  expect_near(run1(cast_node(DType::kInt64), {strings({2}, {"100", "-7"})}), ivec({2}, {100, -7}));
  Tensor out = run1(cast_node(DType::kString), {fvec({7}, {0.1f, 1e-5f, 2.f, -1.5f, 123456.f, 0.00025f, 1e16f})});
  expect_near(out, strings({7}, {"0.1", "1e-05", "2.0", "-1.5", "123456.0", "0.00025", "1e+16"}));
  expect_near(run1(cast_node(DType::kString), {ivec({2}, {-3, 42})}), strings({2}, {"-3", "42"}));
}

TEST(CastFamily, CastLikeAndBitCast) {
  Node cl = Node::make("CastLike", {"x", "t"}, {"y"});
  expect_near(run1(cl, {fvec({2}, {1.5f, -2.5f}), ivec({1}, {0})}), ivec({2}, {1, -2}));
  Node bc = Node::make("BitCast", {"x"}, {"y"});
  bc.attrs["to"] = attr_i(static_cast<int64_t>(DType::kInt32));
  Tensor y = run1(bc, {fvec({2}, {1.f, -2.f})}, 26);
  ASSERT_EQ(y.dtype(), DType::kInt32);
  EXPECT_EQ(static_cast<uint32_t>(y.data<int32_t>()[0]), 0x3F800000u);
  EXPECT_EQ(static_cast<uint32_t>(y.data<int32_t>()[1]), 0xC0000000u);
}

TEST(CastFamily, Errors) {
  Node bc = Node::make("BitCast", {"x"}, {"y"});
  bc.attrs["to"] = attr_i(static_cast<int64_t>(DType::kInt64));
  EXPECT_FALSE(run_single_op(bc, {fvec({1}, {1})}, 26).has_value());  // size mismatch
  EXPECT_FALSE(run_single_op(cast_node(DType::kFloat), {strings({1}, {"abc"})}, 21).has_value());
  Node bad = Node::make("Cast", {"x"}, {"y"});
  bad.attrs["to"] = attr_i(99);
  EXPECT_FALSE(run_single_op(bad, {fvec({1}, {1})}, 21).has_value());
  Node rm = cast_node(DType::kFloat8E8M0);
  rm.attrs["round_mode"] = attr_s("sideways");
  EXPECT_FALSE(run_single_op(rm, {fvec({1}, {1})}, 25).has_value());
}

}  // namespace
}  // namespace ferry::test
