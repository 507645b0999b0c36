// training_test.cc — ai.onnx.preview.training Adagrad, Momentum, Adam (values from the ONNX spec formulas).
#include "ops/op_test_util.h"

namespace ferry::test {
namespace {

Node training_node(const std::string& op, std::vector<std::string> in, std::vector<std::string> out) {
  Node n = Node::make(op, std::move(in), std::move(out));
  n.domain = "ai.onnx.preview.training";
  return n;
}
Tensor fscalar(float v) { return fvec({}, {v}); }

TEST(TrainingOps, AdagradTwoTensors) {
  Node n = training_node("Adagrad", {"R", "T", "X1", "X2", "G1", "G2", "H1", "H2"}, {"X1n", "X2n", "H1n", "H2n"});
  n.attrs["decay_factor"] = attr_f(0.1f);
  n.attrs["epsilon"] = attr_f(1e-5f);
  n.attrs["norm_coefficient"] = attr_f(0.001f);
  auto out = run_single_op(n, {fscalar(0.1f), ivec({}, {0}), fvec({1}, {1}), fvec({2}, {1, 2}), fvec({1}, {-1}),
                               fvec({2}, {-1, -3}), fvec({1}, {2}), fvec({2}, {4, 1})}, 1);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1}, {1.0576962f}));
  expect_near((*out)[1], fvec({2}, {1.0446854f, 2.0948617f}));
  expect_near((*out)[2], fvec({1}, {2.998001f}));
  expect_near((*out)[3], fvec({2}, {4.998001f, 9.988004f}));
}

TEST(TrainingOps, MomentumStandardAndNesterov) {
  Node n = training_node("Momentum", {"R", "T", "X", "G", "V"}, {"Xn", "Vn"});
  n.attrs["alpha"] = attr_f(0.95f);
  n.attrs["beta"] = attr_f(0.1f);
  n.attrs["mode"] = attr_s("standard");
  n.attrs["norm_coefficient"] = attr_f(0.001f);
  std::vector<Tensor> in = {fscalar(0.1f), ivec({}, {0}), fvec({2}, {1.2f, 2.8f}), fvec({2}, {-0.94f, -2.5f}),
                            fvec({2}, {1.7f, 3.6f})};
  auto out = run_single_op(n, in, 1);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({2}, {1.13238f, 2.70772f}));
  expect_near((*out)[1], fvec({2}, {0.6762f, 0.9228f}));
  n.attrs["mode"] = attr_s("nesterov");
  n.attrs["beta"] = attr_f(1.0f);
  n.attrs["norm_coefficient"] = attr_f(0.01f);
  out = run_single_op(n, in, 1);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({2}, {1.227535f, 2.95714f}));
  expect_near((*out)[1], fvec({2}, {0.687f, 0.948f}));
}

TEST(TrainingOps, Adam) {
  Node n = training_node("Adam", {"R", "T", "X", "G", "V", "H"}, {"Xn", "Vn", "Hn"});
  n.attrs["alpha"] = attr_f(0.95f);
  n.attrs["beta"] = attr_f(0.1f);
  n.attrs["epsilon"] = attr_f(1e-7f);
  n.attrs["norm_coefficient"] = attr_f(0.001f);
  auto out = run_single_op(n, {fscalar(0.1f), ivec({}, {0}), fvec({2}, {1.2f, 2.8f}), fvec({2}, {-0.94f, -2.5f}),
                               fvec({2}, {1.7f, 3.6f}), fvec({2}, {0.1f, 0.1f})}, 1);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({2}, {1.0250364f, 2.6610327f}));
  expect_near((*out)[1], fvec({2}, {1.56806f, 3.29514f}));
  expect_near((*out)[2], fvec({2}, {0.8032108f, 5.622407f}));
}

TEST(TrainingOps, MismatchedGroupsIsError) {
  Node n = training_node("Momentum", {"R", "T", "X", "G", "V"}, {"Xn", "Vn"});
  n.attrs["mode"] = attr_s("standard");
  auto out = run_single_op(n, {fscalar(0.1f), ivec({}, {0}), fvec({2}, {1, 2}), fvec({3}, {1, 2, 3}),
                               fvec({2}, {1, 2})}, 1);
  EXPECT_FALSE(out.has_value());
}

}  // namespace
}  // namespace ferry::test
