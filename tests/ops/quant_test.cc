// quant_test.cc — QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, MatMulInteger, QLinearMatMul,
// ConvInteger, QLinearConv. Expected values are from the ONNX spec examples or computed by hand.
#include "ops/op_test_util.h"

namespace ferry::test {
namespace {

template <typename T>
Tensor tvec(DType t, Shape shape, std::vector<T> v) {
  return Tensor::from_vector<T>(t, std::move(shape), v);
}
Tensor u8(Shape s, std::vector<uint8_t> v) { return tvec<uint8_t>(DType::kUInt8, std::move(s), std::move(v)); }
Tensor i8(Shape s, std::vector<int8_t> v) { return tvec<int8_t>(DType::kInt8, std::move(s), std::move(v)); }
Tensor i32(Shape s, std::vector<int32_t> v) { return tvec<int32_t>(DType::kInt32, std::move(s), std::move(v)); }

TEST(QuantOps, QuantizeLinearPerTensorSaturates) {
  Node n = Node::make("QuantizeLinear", {"x", "s", "z"}, {"y"});
  auto out = run_single_op(n, {fvec({6}, {0, 2, 3, 1000, -254, -1000}), fvec({}, {2}), u8({}, {128})}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], u8({6}, {128, 129, 130, 255, 1, 0}));  // 1.5 rounds to even 2
}

TEST(QuantOps, QuantizeLinearPerAxisInt8) {
  Node n = Node::make("QuantizeLinear", {"x", "s", "z"}, {"y"});
  // x [1, 2, 3], axis 1: channel 0 scale 1 zp 0, channel 1 scale 0.5 zp -10.
  auto out = run_single_op(n, {fvec({1, 2, 3}, {-1.5f, 2.5f, 300, 1, -2, 100}), fvec({2}, {1, 0.5f}), i8({2}, {0, -10})}, 19);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], i8({1, 2, 3}, {-2, 2, 127, -8, -14, 127}));
}

TEST(QuantOps, QuantizeLinearBlockedOddBlockAndInt4) {
  Node n = Node::make("QuantizeLinear", {"x", "s", "z"}, {"y"});
  n.attrs["axis"] = attr_i(1);
  n.attrs["block_size"] = attr_i(2);
  // x [2, 3]: blocks along axis 1 are {0,1} and {2}; scale [2, 2].
  Tensor z = tvec<int8_t>(DType::kInt4, {2, 2}, {0, 1, -1, 0});
  auto out = run_single_op(n, {fvec({2, 3}, {1, 2, 3, 40, -40, 5}), fvec({2, 2}, {1, 2, 10, 1}), z}, 21);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], tvec<int8_t>(DType::kInt4, {2, 3}, {1, 2, 3, 3, -5, 5}));
}

TEST(QuantOps, QuantizeLinearOutputDtypeWithoutZeroPoint) {
  Node n = Node::make("QuantizeLinear", {"x", "s"}, {"y"});
  n.attrs["output_dtype"] = attr_i(static_cast<int64_t>(DType::kUInt16));
  auto out = run_single_op(n, {fvec({3}, {-1, 7, 1e6f}), fvec({}, {0.5f})}, 21);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], tvec<uint16_t>(DType::kUInt16, {3}, {0, 14, 65535}));
}

TEST(QuantOps, QuantizeLinearFloat8) {
  Node n = Node::make("QuantizeLinear", {"x", "s", "z"}, {"y"});
  Tensor z = tvec<uint8_t>(DType::kFloat8E4M3FN, {}, {0});
  auto out = run_single_op(n, {fvec({4}, {0, 1, 2, 100000}), fvec({}, {0.5f}), z}, 21);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  // 0 -> 0x00, 2 -> 0x40, 4 -> 0x48, saturated to 448 -> 0x7E
  expect_near((*out)[0], tvec<uint8_t>(DType::kFloat8E4M3FN, {4}, {0x00, 0x40, 0x48, 0x7E}));
}

TEST(QuantOps, QuantizeLinearRejectsBadAxisScale) {
  Node n = Node::make("QuantizeLinear", {"x", "s", "z"}, {"y"});
  auto out = run_single_op(n, {fvec({2, 3}, {1, 2, 3, 4, 5, 6}), fvec({2}, {1, 1}), u8({2}, {0, 0})}, 13);
  EXPECT_FALSE(out.has_value());
}

TEST(QuantOps, DequantizeLinearPerTensorAndInt32) {
  Node n = Node::make("DequantizeLinear", {"x", "s", "z"}, {"y"});
  auto out = run_single_op(n, {u8({4}, {0, 3, 128, 255}), fvec({}, {2}), u8({}, {128})}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({4}, {-256, -250, 0, 254}));
  Node m = Node::make("DequantizeLinear", {"x", "s"}, {"y"});
  auto out2 = run_single_op(m, {i32({3}, {-5, 0, 100000}), fvec({}, {0.25f})}, 13);
  ASSERT_TRUE(out2.has_value()) << out2.status().to_string();
  expect_near((*out2)[0], fvec({3}, {-1.25f, 0, 25000}));
}

TEST(QuantOps, DequantizeLinearBlockedUInt4) {
  Node n = Node::make("DequantizeLinear", {"x", "s", "z"}, {"y"});
  n.attrs["axis"] = attr_i(0);
  n.attrs["block_size"] = attr_i(2);
  Tensor x = tvec<uint8_t>(DType::kUInt4, {3, 1}, {15, 0, 7});
  Tensor z = tvec<uint8_t>(DType::kUInt4, {2, 1}, {8, 1});
  auto out = run_single_op(n, {x, fvec({2, 1}, {0.5f, 3}), z}, 21);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({3, 1}, {3.5f, -4, 18}));
}

TEST(QuantOps, DynamicQuantizeLinearSpecExample) {
  Node n = Node::make("DynamicQuantizeLinear", {"x"}, {"y", "s", "z"});
  auto out = run_single_op(n, {fvec({6}, {0, 2, -3, -2.5f, 1.34f, 0.5f})}, 11);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], u8({6}, {153, 255, 0, 26, 221, 179}));
  expect_near((*out)[1], fvec({}, {0.019607844f}));
  expect_near((*out)[2], u8({}, {153}));
}

TEST(QuantOps, MatMulIntegerSpecExample) {
  Node n = Node::make("MatMulInteger", {"a", "b", "az", "bz"}, {"y"});
  auto out = run_single_op(n, {u8({4, 3}, {11, 7, 3, 10, 6, 2, 9, 5, 1, 8, 4, 0}), u8({3, 2}, {1, 4, 2, 5, 3, 6}),
                               u8({}, {12}), u8({}, {0})}, 10);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], i32({4, 2}, {-38, -83, -44, -98, -50, -113, -56, -128}));
}

TEST(QuantOps, MatMulIntegerBroadcastBatchAndPerRowZeroPoint) {
  Node n = Node::make("MatMulInteger", {"a", "b", "az"}, {"y"});
  // a [2, 1, 2] int8, b [2, 1] int8, per-row a zero point [1] (M = 1) -> y [2, 1, 1]
  auto out = run_single_op(n, {i8({2, 1, 2}, {1, 2, -3, 4}), i8({2, 1}, {5, -1}), i8({1}, {1})}, 10);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], i32({2, 1, 1}, {0 * 5 + 1 * -1, -4 * 5 + 3 * -1}));
}

TEST(QuantOps, QLinearMatMulRequantizes) {
  Node n = Node::make("QLinearMatMul", {"a", "as", "az", "b", "bs", "bz", "ys", "yz"}, {"y"});
  // real a = (a - 2) * 0.5, real b = (b - 0) * 1; y = real / 2 + 10
  auto out = run_single_op(n, {u8({1, 3}, {4, 6, 2}), fvec({}, {0.5f}), u8({}, {2}), u8({3, 2}, {1, 2, 3, 4, 250, 6}),
                               fvec({}, {1}), u8({}, {0}), fvec({}, {2}), u8({}, {10})}, 10);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  // acc = [2*1 + 4*3 + 0, 2*2 + 4*4 + 0] = [14, 20]; * 0.25 = [3.5, 5] -> round-even [4, 5] + 10
  expect_near((*out)[0], u8({1, 2}, {14, 15}));
}

TEST(QuantOps, ConvIntegerSpecExample) {
  Node n = Node::make("ConvInteger", {"x", "w", "xz"}, {"y"});
  auto out = run_single_op(n, {u8({1, 1, 3, 3}, {2, 3, 4, 5, 6, 7, 8, 9, 10}), u8({1, 1, 2, 2}, {1, 1, 1, 1}), u8({}, {1})}, 10);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], i32({1, 1, 2, 2}, {12, 16, 24, 28}));
}

TEST(QuantOps, ConvIntegerPaddingStridePerChannelZeroPoint) {
  Node n = Node::make("ConvInteger", {"x", "w", "xz", "wz"}, {"y"});
  n.attrs["pads"] = attr_ints({1, 1});
  n.attrs["strides"] = attr_ints({2});
  // 1-D: x [1,1,3] = {1,2,3} (zp 0); w [2,1,2] = {{1,1},{3,0}} with zp {0, 1} -> {{1,1},{2,-1}}
  auto out = run_single_op(n, {u8({1, 1, 3}, {1, 2, 3}), u8({2, 1, 2}, {1, 1, 3, 0}), u8({}, {0}), u8({2}, {0, 1})}, 10);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  // padded x = {0,1,2,3,0}; windows at 0 and 2: {0,1}, {2,3}
  expect_near((*out)[0], i32({1, 2, 2}, {1, 5, -1, 1}));
}

TEST(QuantOps, QLinearConvWithBias) {
  Node n = Node::make("QLinearConv", {"x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"}, {"y"});
  auto out = run_single_op(n, {u8({1, 1, 2, 2}, {10, 20, 30, 250}), fvec({}, {0.5f}), u8({}, {10}),
                               i8({2, 1, 1, 1}, {2, -1}), fvec({2}, {1, 2}), i8({2}, {0, 0}), fvec({}, {1}),
                               u8({}, {100}), i32({2}, {3, 0})}, 10);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  // channel 0: acc = 2*(x-10) + 3 = {3, 23, 43, 483}; * 0.5 -> {1.5, 11.5, 21.5, 241.5} -> even {2, 12, 22, 242}+100
  // channel 1: acc = -(x-10) = {0,-10,-20,-240}; * 1 -> +100 = {100, 90, 80, -140 -> 0}
  expect_near((*out)[0], u8({1, 2, 2, 2}, {102, 112, 122, 255, 100, 90, 80, 0}));
}

TEST(QuantOps, QLinearConvRejectsChannelMismatch) {
  Node n = Node::make("QLinearConv", {"x", "xs", "xz", "w", "ws", "wz", "ys", "yz"}, {"y"});
  auto out = run_single_op(n, {u8({1, 2, 2, 2}, {0, 0, 0, 0, 0, 0, 0, 0}), fvec({}, {1}), u8({}, {0}),
                               u8({1, 1, 1, 1}, {1}), fvec({}, {1}), u8({}, {0}), fvec({}, {1}), u8({}, {0})}, 10);
  EXPECT_FALSE(out.has_value());
}

}  // namespace
}  // namespace ferry::test
