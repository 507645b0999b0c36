// signal_test.cc — DFT, STFT, window functions, MelWeightMatrix (hand-computed transforms of short signals).
#include "ops/op_test_util.h"

namespace ferry::test {
namespace {

TEST(SignalOps, DftRealForwardAndOnesided) {
  Node n = Node::make("DFT", {"x"}, {"y"});
  auto out = run_single_op(n, {fvec({1, 4, 1}, {1, 2, 3, 4})}, 17);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 4, 2}, {10, 0, -2, 2, -2, 0, -2, -2}));
  n.attrs["onesided"] = attr_i(1);
  out = run_single_op(n, {fvec({1, 4, 1}, {1, 2, 3, 4})}, 17);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 3, 2}, {10, 0, -2, 2, -2, 0}));
}

TEST(SignalOps, DftInverseComplexAndAxisInput) {
  Node n = Node::make("DFT", {"x", "", "axis"}, {"y"});
  n.attrs["inverse"] = attr_i(1);
  // Transform along axis 0 of a [4, 1, 2] complex tensor (opset 20: axis is an input).
  auto out = run_single_op(n, {fvec({4, 1, 2}, {10, 0, -2, 2, -2, 0, -2, -2}), ivec({}, {0})}, 20);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({4, 1, 2}, {1, 0, 2, 0, 3, 0, 4, 0}));
}

TEST(SignalOps, DftIrfftAndDftLengthPadding) {
  Node n = Node::make("DFT", {"x"}, {"y"});
  n.attrs["inverse"] = attr_i(1);
  n.attrs["onesided"] = attr_i(1);
  auto out = run_single_op(n, {fvec({1, 3, 2}, {10, 0, -2, 2, -2, 0})}, 19);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 4, 1}, {1, 2, 3, 4}));
  Node m = Node::make("DFT", {"x", "len"}, {"y"});
  out = run_single_op(m, {fvec({1, 2, 1}, {1, 2}), ivec({}, {3})}, 20);  // zero-padded to [1, 2, 0]
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 3, 2}, {3, 0, 0, -1.7320508f, 0, 1.7320508f}), 1e-5, 1e-6);
}

TEST(SignalOps, DftRejectsBadAxis) {
  Node n = Node::make("DFT", {"x"}, {"y"});
  n.attrs["axis"] = attr_i(2);
  EXPECT_FALSE(run_single_op(n, {fvec({1, 4, 1}, {1, 2, 3, 4})}, 17).has_value());
}

TEST(SignalOps, StftFramesWithoutWindow) {
  Node n = Node::make("STFT", {"x", "step", "", "len"}, {"y"});
  auto out = run_single_op(n, {fvec({1, 5, 1}, {1, 2, 3, 4, 5}), ivec({}, {2}), ivec({}, {2})}, 17);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  // frames [1,2] and [3,4] (the 5th sample starts no full frame): bins X0 = a+b, X1 = a-b
  expect_near((*out)[0], fvec({1, 2, 2, 2}, {3, 0, -1, 0, 7, 0, -1, 0}));
}

TEST(SignalOps, StftWithWindowTwoSided) {
  Node n = Node::make("STFT", {"x", "step", "w"}, {"y"});
  n.attrs["onesided"] = attr_i(0);
  auto out = run_single_op(n, {fvec({1, 4, 1}, {1, 2, 3, 4}), ivec({}, {4}), fvec({4}, {1, 0, 1, 0})}, 17);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  // windowed [1,0,3,0]: X_k = 1 + 3 (-1)^k
  expect_near((*out)[0], fvec({1, 1, 4, 2}, {4, 0, -2, 0, 4, 0, -2, 0}));
}

TEST(SignalOps, Windows) {
  Node h = Node::make("HannWindow", {"n"}, {"y"});
  auto out = run_single_op(h, {ivec({}, {4})}, 17);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({4}, {0, 0.5f, 1, 0.5f}));
  h.attrs["periodic"] = attr_i(0);
  out = run_single_op(h, {ivec({}, {5})}, 17);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({5}, {0, 0.5f, 1, 0.5f, 0}));
  Node m = Node::make("HammingWindow", {"n"}, {"y"});
  out = run_single_op(m, {ivec({}, {4})}, 17);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({4}, {4.f / 46, 25.f / 46, 1, 25.f / 46}));
  Node b = Node::make("BlackmanWindow", {"n"}, {"y"});
  b.attrs["output_datatype"] = attr_i(static_cast<int64_t>(DType::kDouble));
  out = run_single_op(b, {ivec({}, {4})}, 17);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], Tensor::from_vector<double>(DType::kDouble, {4}, {0, 0.34, 1, 0.34}), 1e-9, 1e-12);
}

TEST(SignalOps, MelWeightMatrix) {
  Node n = Node::make("MelWeightMatrix", {"bins", "dft", "rate", "lo", "hi"}, {"y"});
  auto out = run_single_op(n, {ivec({}, {8}), ivec({}, {16}), ivec({}, {8192}), fvec({}, {0}), fvec({}, {4096})}, 17);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  std::vector<float> e(72, 0.f);
  for (auto [r, c] : std::vector<std::pair<int, int>>{{0, 0}, {0, 1}, {1, 2}, {1, 3}, {2, 4}, {3, 5}, {4, 6}, {5, 7}})
    e[static_cast<size_t>(r * 8 + c)] = 1.f;  // [spectrogram bin r, mel bin c]
  expect_near((*out)[0], fvec({9, 8}, e));
}

TEST(SignalOps, WindowRejectsNegativeSize) {
  Node n = Node::make("HannWindow", {"n"}, {"y"});
  EXPECT_FALSE(run_single_op(n, {ivec({}, {-3})}, 17).has_value());
}

}  // namespace
}  // namespace ferry::test
