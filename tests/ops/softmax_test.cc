// softmax_test.cc — Softmax, LogSoftmax, Hardmax reference kernels (spec values; odd shapes vs naive loops).
#include <cmath>

#include "ops/op_test_util.h"

namespace ferry::test {
namespace {

Node sm(const std::string& op, int64_t axis, bool set_axis = true) {
  Node n = Node::make(op, {"x"}, {"y"});
  if (set_axis) n.attrs["axis"] = attr_i(axis);
  return n;
}

TEST(SoftmaxFamily, SoftmaxExample) {
  auto out = run_single_op(sm("Softmax", 0, false), {fvec({1, 3}, {-1, 0, 1})}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 3}, {0.09003057f, 0.24472847f, 0.66524096f}));
}

TEST(SoftmaxFamily, LargeNumbersAndLogSoftmax) {
  auto out = run_single_op(sm("Softmax", -1), {fvec({2, 2}, {1000, 1001, -1000, -999})}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({2, 2}, {0.26894142f, 0.73105858f, 0.26894142f, 0.73105858f}));
  auto lo = run_single_op(sm("LogSoftmax", 0, false), {fvec({1, 3}, {-1, 0, 1})}, 13);
  ASSERT_TRUE(lo.has_value()) << lo.status().to_string();
  expect_near((*lo)[0], fvec({1, 3}, {-2.40760596f, -1.40760596f, -0.40760596f}));
}

TEST(SoftmaxFamily, Coerce2DBeforeOpset13) {
  // opset 11, axis 0: the whole [2,2] tensor is one row.
  auto old = run_single_op(sm("Softmax", 0), {fvec({2, 2}, {0, 1, 2, 3})}, 11);
  ASSERT_TRUE(old.has_value()) << old.status().to_string();
  expect_near((*old)[0], fvec({2, 2}, {0.0320586f, 0.08714432f, 0.23688282f, 0.64391426f}));
  // opset 13, axis 0: each column on its own (strided lines).
  auto now = run_single_op(sm("Softmax", 0), {fvec({2, 2}, {0, 1, 2, 3})}, 13);
  ASSERT_TRUE(now.has_value()) << now.status().to_string();
  expect_near((*now)[0], fvec({2, 2}, {0.11920292f, 0.11920292f, 0.88079708f, 0.88079708f}));
  // opset 11 default axis 1 on [1,2,2]: normalize over the last 4 values.
  auto def = run_single_op(sm("LogSoftmax", 0, false), {fvec({1, 2, 2}, {0, 1, 2, 3})}, 11);
  ASSERT_TRUE(def.has_value()) << def.status().to_string();
  double lse = std::log(1 + std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  expect_near((*def)[0], fvec({1, 2, 2}, {float(-lse), float(1 - lse), float(2 - lse), float(3 - lse)}));
}

TEST(SoftmaxFamily, Hardmax) {
  auto out = run_single_op(sm("Hardmax", 0, false), {fvec({2, 3}, {3, 0, 1, 2, 2, 1})}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({2, 3}, {1, 0, 0, 1, 0, 0}));  // ties: first index
  auto col = run_single_op(sm("Hardmax", 0), {fvec({2, 3}, {3, 0, 1, 2, 2, 1})}, 13);
  ASSERT_TRUE(col.has_value()) << col.status().to_string();
  expect_near((*col)[0], fvec({2, 3}, {1, 0, 1, 0, 1, 0}));
}

TEST(SoftmaxFamily, OddShapesAgainstNaive) {
  const int64_t A = 3, B = 13, C = 127;
  std::vector<float> v(A * B * C);
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::cos(0.11f * static_cast<float>(i)) * 5.0f;
  Tensor x = fvec({A, B, C}, v);
  for (int axis : {2, 1}) {
    auto out = run_single_op(sm("Softmax", axis), {x}, 13);
    ASSERT_TRUE(out.has_value()) << out.status().to_string();
    int64_t n = axis == 2 ? C : B, inner = axis == 2 ? 1 : C, outer = A * B * C / (n * inner);
    std::vector<float> want(v.size());
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t in = 0; in < inner; ++in) {
        double s = 0;
        for (int64_t j = 0; j < n; ++j) s += std::exp(double(v[(o * n + j) * inner + in]));
        for (int64_t j = 0; j < n; ++j)
          want[(o * n + j) * inner + in] = float(std::exp(double(v[(o * n + j) * inner + in])) / s);
      }
    expect_near((*out)[0], fvec({A, B, C}, want), 1e-4, 1e-7);
  }
}

TEST(SoftmaxFamily, DoubleAndHalf) {
  Tensor d = Tensor::from_vector<double>(DType::kDouble, {3}, {-1, 0, 1});
  auto out = run_single_op(sm("Softmax", 0, false), {d}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], Tensor::from_vector<double>(DType::kDouble, {3}, {0.09003057, 0.24472847, 0.66524096}));
  Tensor h = Tensor::from_vector<Half>(DType::kFloat16, {2},
                                      {half_from_float(0.f), half_from_float(0.f)});
  auto ho = run_single_op(sm("Softmax", 0, false), {h}, 13);
  ASSERT_TRUE(ho.has_value()) << ho.status().to_string();
  EXPECT_EQ((*ho)[0].dtype(), DType::kFloat16);
  EXPECT_FLOAT_EQ(to_float((*ho)[0].data<Half>()[1]), 0.5f);
}

TEST(SoftmaxFamily, FastPathExtremes) {
  // Huge negative gaps and -inf underflow to 0; a NaN poisons its own row only.
  auto out = run_single_op(sm("Softmax", -1), {fvec({3, 3}, {0, -1e30f, -INFINITY, -100, -100, -1e38f, 1, NAN, 2})}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({3, 3}, {1, 0, 0, 0.5f, 0.5f, 0, NAN, NAN, NAN}));
  auto lo = run_single_op(sm("LogSoftmax", -1), {fvec({1, 2}, {0, -200})}, 13);
  ASSERT_TRUE(lo.has_value()) << lo.status().to_string();
  expect_near((*lo)[0], fvec({1, 2}, {0, -200}));
}

TEST(SoftmaxFamily, Errors) {
  EXPECT_FALSE(run_single_op(sm("Softmax", 2), {fvec({2, 2}, {0, 1, 2, 3})}, 13).has_value());
  EXPECT_FALSE(run_single_op(sm("LogSoftmax", -3), {fvec({2, 2}, {0, 1, 2, 3})}, 13).has_value());
  EXPECT_FALSE(run_single_op(sm("Softmax", 0, false), {ivec({2}, {1, 2})}, 13).has_value());
}

}  // namespace
}  // namespace ferry::test
