// loss_test.cc — NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss reference kernels (hand-computed values).
#include <cmath>

#include "ops/op_test_util.h"

namespace ferry::test {
namespace {

Tensor logp() { return fvec({2, 3}, {-1, -2, -3, -0.5f, -1.5f, -2.5f}); }

Node nll(const std::string& reduction, bool weight = false) {
  Node n = Node::make("NegativeLogLikelihoodLoss",
                      weight ? std::vector<std::string>{"x", "t", "w"} : std::vector<std::string>{"x", "t"}, {"y"});
  n.attrs["reduction"] = attr_s(reduction);
  return n;
}

TEST(LossFamily, NllReductions) {
  auto none = run_single_op(nll("none"), {logp(), ivec({2}, {2, 0})}, 13);
  ASSERT_TRUE(none.has_value()) << none.status().to_string();
  expect_near((*none)[0], fvec({2}, {3, 0.5f}));
  auto sum = run_single_op(nll("sum"), {logp(), ivec({2}, {2, 0})}, 13);
  ASSERT_TRUE(sum.has_value()) << sum.status().to_string();
  expect_near((*sum)[0], fvec({}, {3.5f}));
  auto mean = run_single_op(nll("mean"), {logp(), ivec({2}, {2, 0})}, 22);
  ASSERT_TRUE(mean.has_value()) << mean.status().to_string();
  expect_near((*mean)[0], fvec({}, {1.75f}));
}

TEST(LossFamily, NllWeightsAndIgnoreIndex) {
  Tensor w = fvec({3}, {0.2f, 0.3f, 0.5f});
  auto mean = run_single_op(nll("mean", true), {logp(), ivec({2}, {2, 0}), w}, 13);
  ASSERT_TRUE(mean.has_value()) << mean.status().to_string();
  expect_near((*mean)[0], fvec({}, {1.6f / 0.7f}));  // (3*0.5 + 0.5*0.2) / (0.5 + 0.2)
  Node n = nll("mean");
  n.attrs["ignore_index"] = attr_i(0);
  auto ig = run_single_op(n, {logp(), ivec({2}, {2, 0})}, 13);
  ASSERT_TRUE(ig.has_value()) << ig.status().to_string();
  expect_near((*ig)[0], fvec({}, {3}));
  // An ignore_index outside [0, C) is allowed and skipped.
  n.attrs["ignore_index"] = attr_i(-1);
  n.attrs["reduction"] = attr_s("none");
  auto neg = run_single_op(n, {logp(), Tensor::from_vector<int32_t>(DType::kInt32, {2}, {-1, 1})}, 13);
  ASSERT_TRUE(neg.has_value()) << neg.status().to_string();
  expect_near((*neg)[0], fvec({2}, {0, 1.5f}));
}

TEST(LossFamily, NllSpatial) {
  // [N=1, C=2, d1=2]: logp[0,c,d]; target [[1, 0]] -> loss [-x[0,1,0], -x[0,0,1]]
  Tensor x = fvec({1, 2, 2}, {-0.1f, -0.2f, -0.3f, -0.4f});
  auto out = run_single_op(nll("none"), {x, ivec({1, 2}, {1, 0})}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 2}, {0.3f, 0.2f}));
}

TEST(LossFamily, NllErrors) {
  EXPECT_FALSE(run_single_op(nll("mean"), {logp(), ivec({2}, {3, 0})}, 13).has_value());   // target >= C
  EXPECT_FALSE(run_single_op(nll("mean"), {logp(), ivec({2}, {-2, 0})}, 13).has_value());  // negative target
  EXPECT_FALSE(run_single_op(nll("average"), {logp(), ivec({2}, {1, 0})}, 13).has_value());
  EXPECT_FALSE(run_single_op(nll("mean"), {logp(), ivec({3}, {1, 0, 0})}, 13).has_value());
}

TEST(LossFamily, SoftmaxCrossEntropyWithLogProb) {
  Node n = Node::make("SoftmaxCrossEntropyLoss", {"x", "t"}, {"loss", "log_prob"});
  auto out = run_single_op(n, {fvec({1, 3}, {1, 2, 3}), ivec({1}, {2})}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({}, {0.40760596f}));
  expect_near((*out)[1], fvec({1, 3}, {-2.40760596f, -1.40760596f, -0.40760596f}));
}

TEST(LossFamily, SoftmaxCrossEntropyWeightedSum) {
  Node n = Node::make("SoftmaxCrossEntropyLoss", {"x", "t", "w"}, {"loss"});
  n.attrs["reduction"] = attr_s("sum");
  // Two samples with equal scores: each -logp = log(2); weights 2 and 3.
  auto out = run_single_op(n, {fvec({2, 2}, {0, 0, 5, 5}), ivec({2}, {0, 1}), fvec({2}, {2, 3})}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({}, {5.f * std::log(2.f)}));
}

}  // namespace
}  // namespace ferry::test
