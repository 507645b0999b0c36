// norm_test.cc — BatchNormalization, InstanceNormalization, LayerNormalization, GroupNormalization,
// RMSNormalization, LRN, LpNormalization, MeanVarianceNormalization. Expected values are hand-computed.
#include <cmath>

#include "ops/op_test_util.h"

namespace ferry::test {
namespace {

Tensor hvec(Shape shape, std::vector<float> v) {
  std::vector<Half> h;
  for (float f : v) h.push_back(half_from_float(f));
  return Tensor::from_vector<Half>(DType::kFloat16, std::move(shape), h);
}
Tensor dvec(Shape shape, std::vector<double> v) { return Tensor::from_vector<double>(DType::kDouble, std::move(shape), v); }

TEST(NormOps, LayerNormLastAxisWithStats) {
  Node n = Node::make("LayerNormalization", {"x", "w", "b"}, {"y", "mean", "inv"});
  n.attrs["epsilon"] = attr_f(0.0f);
  auto out = run_single_op(n, {fvec({2, 3}, {1, 2, 3, 2, 4, 6}), fvec({3}, {1, 1, 1}), fvec({3}, {0, 0, 0})}, 17);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  const float k = 1.2247449f;
  expect_near((*out)[0], fvec({2, 3}, {-k, 0, k, -k, 0, k}));
  expect_near((*out)[1], fvec({2, 1}, {2, 4}));
  expect_near((*out)[2], fvec({2, 1}, {k, k / 2}));
}

TEST(NormOps, LayerNormBroadcastScaleAndOddShape) {
  Node n = Node::make("LayerNormalization", {"x", "w", "b"}, {"y"});
  n.attrs["epsilon"] = attr_f(0.0f);
  n.attrs["axis"] = attr_i(1);
  // Normalized over dims [1, 2] = 6 elements; scale [1] and bias [3] broadcast.
  auto out = run_single_op(n, {fvec({1, 2, 3}, {0, 0, 0, 2, 2, 2}), fvec({1}, {2}), fvec({3}, {1, 2, 3})}, 17);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 2, 3}, {-1, 0, 1, 3, 4, 5}));
}

TEST(NormOps, LayerNormHalfAndDouble) {
  Node n = Node::make("LayerNormalization", {"x", "w"}, {"y"});
  n.attrs["epsilon"] = attr_f(0.0f);
  auto h = run_single_op(n, {hvec({1, 2}, {1, 3}), hvec({2}, {1, 0.5f})}, 17);
  ASSERT_TRUE(h.has_value()) << h.status().to_string();
  expect_near((*h)[0], hvec({1, 2}, {-1, 0.5f}), 1e-3, 1e-3);
  n.attrs["axis"] = attr_i(0);
  auto d = run_single_op(n, {dvec({2, 1}, {-1, 1}), dvec({2, 1}, {3, 3})}, 17);
  ASSERT_TRUE(d.has_value()) << d.status().to_string();
  expect_near((*d)[0], dvec({2, 1}, {-3, 3}));
}

TEST(NormOps, LayerNormErrors) {
  Node n = Node::make("LayerNormalization", {"x", "w"}, {"y"});
  n.attrs["axis"] = attr_i(2);
  EXPECT_FALSE(run_single_op(n, {fvec({2, 2}, {1, 2, 3, 4}), fvec({2}, {1, 1})}, 17).has_value());
  n.attrs["axis"] = attr_i(-1);
  EXPECT_FALSE(run_single_op(n, {fvec({2, 2}, {1, 2, 3, 4}), fvec({3}, {1, 1, 1})}, 17).has_value());
  EXPECT_FALSE(run_single_op(n, {ivec({2, 2}, {1, 2, 3, 4}), ivec({2}, {1, 1})}, 17).has_value());
}

TEST(NormOps, RMSNorm) {
  Node n = Node::make("RMSNormalization", {"x", "w"}, {"y"});
  n.attrs["epsilon"] = attr_f(0.0f);
  auto out = run_single_op(n, {fvec({2, 2}, {3, 4, 0, 2}), fvec({2}, {1, 2})}, 23);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  const float r = std::sqrt(12.5f), q = std::sqrt(2.0f);
  expect_near((*out)[0], fvec({2, 2}, {3 / r, 8 / r, 0, 4 / q}));
}

TEST(NormOps, BatchNormInference) {
  Node n = Node::make("BatchNormalization", {"x", "s", "b", "m", "v"}, {"y"});
  n.attrs["epsilon"] = attr_f(0.0f);
  auto out = run_single_op(n, {fvec({1, 2, 1, 2}, {1, 2, 3, 4}), fvec({2}, {1, 2}), fvec({2}, {0, 1}),
                               fvec({2}, {1, 3}), fvec({2}, {4, 1})},
                           15);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 2, 1, 2}, {0, 0.5f, 1, 3}));
}

TEST(NormOps, BatchNormOpset7NonSpatial) {
  // spatial=0: parameters per (channel, position).
  Node n = Node::make("BatchNormalization", {"x", "s", "b", "m", "v"}, {"y"});
  n.attrs["epsilon"] = attr_f(0.0f);
  n.attrs["spatial"] = attr_i(0);
  auto out = run_single_op(n, {fvec({1, 2, 2}, {1, 2, 3, 4}), fvec({2, 2}, {1, 2, 3, 4}), fvec({2, 2}, {0, 0, 0, 1}),
                               fvec({2, 2}, {0, 1, 2, 3}), fvec({2, 2}, {1, 1, 1, 4})},
                           7);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 2, 2}, {1, 2, 3, 3}));
}

TEST(NormOps, BatchNormTrainingMode) {
  Node n = Node::make("BatchNormalization", {"x", "s", "b", "m", "v"}, {"y", "rm", "rv"});
  n.attrs["epsilon"] = attr_f(0.0f);
  n.attrs["momentum"] = attr_f(0.5f);
  n.attrs["training_mode"] = attr_i(1);
  auto out = run_single_op(
      n, {fvec({2, 1, 1, 1}, {1, 3}), fvec({1}, {1}), fvec({1}, {0}), fvec({1}, {0}), fvec({1}, {3})}, 15);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({2, 1, 1, 1}, {-1, 1}));
  expect_near((*out)[1], fvec({1}, {1}));
  expect_near((*out)[2], fvec({1}, {2}));
}

TEST(NormOps, BatchNormWrongParamSize) {
  Node n = Node::make("BatchNormalization", {"x", "s", "b", "m", "v"}, {"y"});
  auto out = run_single_op(n, {fvec({1, 2, 1, 1}, {1, 2}), fvec({3}, {1, 1, 1}), fvec({2}, {0, 0}),
                               fvec({2}, {0, 0}), fvec({2}, {1, 1})},
                           15);
  EXPECT_FALSE(out.has_value());
}

TEST(NormOps, InstanceNormConstantChannel) {
  Node n = Node::make("InstanceNormalization", {"x", "s", "b"}, {"y"});
  auto out = run_single_op(n, {fvec({1, 2, 2}, {1, 3, 2, 2}), fvec({2}, {1, 1}), fvec({2}, {0, 5})}, 22);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  const float k = 1.0f / std::sqrt(1.0f + 1e-5f);
  expect_near((*out)[0], fvec({1, 2, 2}, {-k, k, 5, 5}));
}

TEST(NormOps, GroupNormOpset21PerChannel) {
  Node n = Node::make("GroupNormalization", {"x", "s", "b"}, {"y"});
  n.attrs["num_groups"] = attr_i(2);
  auto out = run_single_op(n, {fvec({1, 4, 1}, {1, 3, 5, 5}), fvec({4}, {1, 2, 1, 1}), fvec({4}, {0, 0, 0, 1})}, 21);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  const float k = 1.0f / std::sqrt(1.0f + 1e-5f);
  expect_near((*out)[0], fvec({1, 4, 1}, {-k, 2 * k, 0, 1}));
}

TEST(NormOps, GroupNormOpset18PerGroup) {
  Node n = Node::make("GroupNormalization", {"x", "s", "b"}, {"y"});
  n.attrs["num_groups"] = attr_i(2);
  n.attrs["epsilon"] = attr_f(0.0f);
  auto out = run_single_op(n, {fvec({1, 4, 1}, {1, 3, 4, 6}), fvec({2}, {2, 1}), fvec({2}, {0, 3})}, 18);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 4, 1}, {-2, 2, 2, 4}));
}

TEST(NormOps, GroupNormIndivisible) {
  Node n = Node::make("GroupNormalization", {"x", "s", "b"}, {"y"});
  n.attrs["num_groups"] = attr_i(3);
  EXPECT_FALSE(run_single_op(n, {fvec({1, 4, 1}, {1, 2, 3, 4}), fvec({4}, {1, 1, 1, 1}), fvec({4}, {0, 0, 0, 0})}, 21)
                   .has_value());
}

TEST(NormOps, LRNWindow) {
  Node n = Node::make("LRN", {"x"}, {"y"});
  n.attrs["size"] = attr_i(3);
  n.attrs["alpha"] = attr_f(3.0f);
  n.attrs["beta"] = attr_f(1.0f);
  auto out = run_single_op(n, {fvec({1, 3, 1, 1}, {1, 2, 3})}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 3, 1, 1}, {1.0f / 6, 2.0f / 15, 3.0f / 14}));
  // Even size: window [c, c+1].
  n.attrs["size"] = attr_i(2);
  n.attrs["alpha"] = attr_f(2.0f);
  out = run_single_op(n, {fvec({1, 3, 1, 1}, {1, 2, 3})}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 3, 1, 1}, {1.0f / 6, 2.0f / 14, 3.0f / 10}));
}

TEST(NormOps, LpNormalization) {
  Node n = Node::make("LpNormalization", {"x"}, {"y"});
  n.attrs["p"] = attr_i(1);
  n.attrs["axis"] = attr_i(0);
  auto out = run_single_op(n, {fvec({2, 2}, {1, 2, -3, 2})}, 22);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({2, 2}, {0.25f, 0.5f, -0.75f, 0.5f}));
  n.attrs["p"] = attr_i(2);
  n.attrs["axis"] = attr_i(-1);
  out = run_single_op(n, {fvec({2, 2}, {3, 4, 0, 0})}, 22);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({2, 2}, {0.6f, 0.8f, 0, 0}));
  n.attrs["p"] = attr_i(3);
  EXPECT_FALSE(run_single_op(n, {fvec({2}, {3, 4})}, 22).has_value());
}

TEST(NormOps, MeanVarianceNormalization) {
  Node n = Node::make("MeanVarianceNormalization", {"x"}, {"y"});
  auto out = run_single_op(n, {fvec({1, 2, 1, 2}, {1, 3, 5, 5})}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 2, 1, 2}, {-1, 1, 0, 0}));
  n.attrs["axes"] = attr_ints({1});
  out = run_single_op(n, {fvec({2, 2}, {0, 2, 4, 8})}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({2, 2}, {-1, 1, -1, 1}));
}

}  // namespace
}  // namespace ferry::test
