// random_test.cc — RandomNormal/Uniform(/Like), Bernoulli, Multinomial: shapes, dtypes, ranges, seeding.
#include <cmath>

#include "ops/op_test_util.h"

namespace ferry::test {
namespace {

TEST(RandomOps, UniformShapeRangeAndSeed) {
  Node n = Node::make("RandomUniform", {}, {"y"});
  n.attrs["shape"] = attr_ints({3, 5});
  n.attrs["low"] = attr_f(2.0f);
  n.attrs["high"] = attr_f(3.0f);
  n.attrs["seed"] = attr_f(7.0f);
  n.attrs["dtype"] = attr_i(11);
  auto a = run_single_op(n, {}, 22);
  auto b = run_single_op(n, {}, 22);
  ASSERT_TRUE(a.has_value()) << a.status().to_string();
  ASSERT_TRUE(b.has_value());
  const Tensor& y = (*a)[0];
  EXPECT_EQ(y.dtype(), DType::kDouble);
  EXPECT_EQ(y.shape(), (Shape{3, 5}));
  for (int64_t i = 0; i < y.numel(); ++i) {
    EXPECT_GE(y.data<double>()[i], 2.0);
    EXPECT_LT(y.data<double>()[i], 3.0);
  }
  expect_near((*b)[0], y, 0, 0);  // same seed, same values
}

TEST(RandomOps, NormalLikeTakesInputShapeAndMoments) {
  Node n = Node::make("RandomNormalLike", {"x"}, {"y"});
  n.attrs["mean"] = attr_f(10.0f);
  n.attrs["scale"] = attr_f(0.5f);
  n.attrs["seed"] = attr_f(1.0f);
  auto out = run_single_op(n, {Tensor::zeros(DType::kFloat, {100, 41})}, 22);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  const Tensor& y = (*out)[0];
  ASSERT_EQ(y.dtype(), DType::kFloat);
  ASSERT_EQ(y.shape(), (Shape{100, 41}));
  double sum = 0, sq = 0;
  for (int64_t i = 0; i < y.numel(); ++i) {
    sum += y.data<float>()[i];
    sq += y.data<float>()[i] * y.data<float>()[i];
  }
  double mean = sum / y.numel(), var = sq / y.numel() - mean * mean;
  EXPECT_NEAR(mean, 10.0, 0.05);
  EXPECT_NEAR(std::sqrt(var), 0.5, 0.05);
}

TEST(RandomOps, UniformLikeDtypeOverride) {
  Node n = Node::make("RandomUniformLike", {"x"}, {"y"});
  n.attrs["dtype"] = attr_i(10);
  auto out = run_single_op(n, {ivec({2, 3}, {0, 0, 0, 0, 0, 0})}, 22);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  EXPECT_EQ((*out)[0].dtype(), DType::kFloat16);
  EXPECT_EQ((*out)[0].shape(), (Shape{2, 3}));
}

TEST(RandomOps, BernoulliExtremesAndDtype) {
  Node n = Node::make("Bernoulli", {"p"}, {"y"});
  n.attrs["dtype"] = attr_i(9);
  auto out = run_single_op(n, {fvec({4}, {0, 1, 0, 1})}, 22);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], Tensor::from_vector<bool>(DType::kBool, {4}, {false, true, false, true}));
  Node bad = Node::make("Bernoulli", {"p"}, {"y"});
  EXPECT_FALSE(run_single_op(bad, {fvec({1}, {1.5f})}, 22).has_value());
}

TEST(RandomOps, MultinomialPicksOnlyPossibleClasses) {
  Node n = Node::make("Multinomial", {"x"}, {"y"});
  n.attrs["sample_size"] = attr_i(5);
  n.attrs["dtype"] = attr_i(7);
  auto out = run_single_op(n, {fvec({2, 3}, {0, -INFINITY, -INFINITY, -INFINITY, -INFINITY, 3})}, 22);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], ivec({2, 5}, {0, 0, 0, 0, 0, 2, 2, 2, 2, 2}));
}

TEST(RandomOps, MissingShapeIsError) {
  Node n = Node::make("RandomNormal", {}, {"y"});
  EXPECT_FALSE(run_single_op(n, {}, 22).has_value());
}

}  // namespace
}  // namespace ferry::test
