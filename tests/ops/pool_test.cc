// pool_test.cc — MaxPool/AveragePool/LpPool/Global*Pool/MaxUnpool: hand-checked values and the oneDNN path
// checked against the reference kernel (FERRY_DNNL=0) on odd shapes.
#include <cmath>
#include <cstdlib>
#include <numeric>

#include "ops/op_test_util.h"

namespace ferry::test {
namespace {

Tensor iota(Shape shape, float start = 1.0f) {
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  std::iota(v.begin(), v.end(), start);
  return fvec(shape, v);
}
Tensor random_tensor(Shape shape, uint32_t seed) {
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  uint32_t s = seed * 2654435761u + 7;
  for (auto& x : v) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<float>((s >> 8) & 0xffff) / 32768.0f - 1.0f;
  }
  return fvec(shape, v);
}
Node pool_node(const std::string& op, std::map<std::string, Attr> attrs, int outputs = 1) {
  Node n = Node::make(op, {"x"}, outputs == 1 ? std::vector<std::string>{"y"} : std::vector<std::string>{"y", "i"});
  n.attrs = std::move(attrs);
  return n;
}
void expect_dnnl_matches_reference(const Node& n, const Tensor& x) {
  setenv("FERRY_DNNL", "0", 1);
  auto ref = run_single_op(n, {x});
  unsetenv("FERRY_DNNL");
  ASSERT_TRUE(ref.has_value()) << ref.status().to_string();
  auto fast = run_single_op(n, {x});
  ASSERT_TRUE(fast.has_value()) << fast.status().to_string();
  expect_near((*fast)[0], (*ref)[0], 1e-5, 1e-6);
}

TEST(PoolTest, MaxPoolWithIndicesBothStorageOrders) {
  auto out = run_single_op(pool_node("MaxPool", {{"kernel_shape", attr_ints({2, 2})}, {"strides", attr_ints({2, 2})}}, 2),
                           {iota({1, 1, 4, 4})});
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 2, 2}, {6, 8, 14, 16}));
  expect_near((*out)[1], ivec({1, 1, 2, 2}, {5, 7, 13, 15}));
  out = run_single_op(pool_node("MaxPool", {{"kernel_shape", attr_ints({2, 2})}, {"strides", attr_ints({2, 2})},
                                            {"storage_order", attr_i(1)}},
                                2),
                      {iota({2, 1, 4, 4})});
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  // Column-major offsets within a plane (w*H + h), plus the plane offset (16 for the second batch item).
  expect_near((*out)[1], ivec({2, 1, 2, 2}, {5, 13, 7, 15, 21, 29, 23, 31}));
}

TEST(PoolTest, CeilModeAndDilations) {
  auto out = run_single_op(pool_node("MaxPool", {{"kernel_shape", attr_ints({3, 3})}, {"strides", attr_ints({2, 2})},
                                                 {"ceil_mode", attr_i(1)}}),
                           {iota({1, 1, 4, 4})});
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 2, 2}, {11, 12, 15, 16}));
  out = run_single_op(pool_node("AveragePool", {{"kernel_shape", attr_ints({3, 3})}, {"strides", attr_ints({2, 2})},
                                                {"ceil_mode", attr_i(1)}}),
                      {iota({1, 1, 4, 4})});
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 2, 2}, {6, 7.5f, 12, 13.5f}));
  // Last window would start past the input: output shrinks by one (ONNX test maxpool_2d_ceil_output_size_reduce_by_one).
  out = run_single_op(pool_node("MaxPool", {{"kernel_shape", attr_ints({1, 1})}, {"strides", attr_ints({2, 2})},
                                            {"ceil_mode", attr_i(1)}}),
                      {iota({1, 1, 2, 2})});
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 1, 1}, {1}));
  out = run_single_op(pool_node("MaxPool", {{"kernel_shape", attr_ints({2, 2})}, {"dilations", attr_ints({2, 2})}}),
                      {iota({1, 1, 4, 4})});
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 2, 2}, {11, 12, 15, 16}));
}

TEST(PoolTest, AveragePoolCountIncludePad) {
  std::map<std::string, Attr> a{{"kernel_shape", attr_ints({2, 2})}, {"pads", attr_ints({1, 1, 1, 1})}};
  auto out = run_single_op(pool_node("AveragePool", a), {iota({1, 1, 3, 3})});
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  ASSERT_EQ((*out)[0].shape(), (Shape{1, 1, 4, 4}));
  EXPECT_FLOAT_EQ((*out)[0].data<float>()[0], 1.0f);
  EXPECT_FLOAT_EQ((*out)[0].data<float>()[1], 1.5f);
  EXPECT_FLOAT_EQ((*out)[0].data<float>()[5], 3.0f);  // (1+2+4+5)/4
  a["count_include_pad"] = attr_i(1);
  out = run_single_op(pool_node("AveragePool", a), {iota({1, 1, 3, 3})});
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  EXPECT_FLOAT_EQ((*out)[0].data<float>()[0], 0.25f);
  EXPECT_FLOAT_EQ((*out)[0].data<float>()[1], 0.75f);
  EXPECT_FLOAT_EQ((*out)[0].data<float>()[15], 9.0f / 4);
}

TEST(PoolTest, LpPoolAndGlobalPools) {
  auto out = run_single_op(pool_node("LpPool", {{"kernel_shape", attr_ints({1, 2})}}), {fvec({1, 1, 1, 2}, {3, -4})});
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 1, 1}, {5}));
  out = run_single_op(pool_node("GlobalAveragePool", {}), {iota({1, 2, 2, 2})});
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 2, 1, 1}, {2.5f, 6.5f}));
  out = run_single_op(pool_node("GlobalMaxPool", {}), {iota({1, 2, 2, 2})});
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 2, 1, 1}, {4, 8}));
  out = run_single_op(pool_node("GlobalLpPool", {}), {iota({1, 2, 2, 2})});
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 2, 1, 1}, {std::sqrt(30.0f), std::sqrt(174.0f)}));
  out = run_single_op(pool_node("GlobalAveragePool", {}), {iota({1, 1, 5})});
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 1}, {3}));
}

TEST(PoolTest, MaxPoolUint8AndDouble) {
  Tensor x = Tensor::from_vector<uint8_t>(DType::kUInt8, {1, 1, 2, 2}, {3, 250, 7, 9});
  auto out = run_single_op(pool_node("MaxPool", {{"kernel_shape", attr_ints({2, 2})}}), {x});
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  ASSERT_EQ((*out)[0].dtype(), DType::kUInt8);
  EXPECT_EQ((*out)[0].data<uint8_t>()[0], 250);
  Tensor xd = Tensor::from_vector<double>(DType::kDouble, {1, 1, 1, 3}, {1, 2, 4});
  out = run_single_op(pool_node("AveragePool", {{"kernel_shape", attr_ints({1, 2})}}), {xd});
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], Tensor::from_vector<double>(DType::kDouble, {1, 1, 1, 2}, {1.5, 3}));
}

TEST(PoolTest, Errors) {
  auto out = run_single_op(pool_node("MaxPool", {{"kernel_shape", attr_ints({2, 2, 2})}}), {iota({1, 1, 4, 4})});
  EXPECT_FALSE(out.has_value());
  out = run_single_op(pool_node("AveragePool", {{"kernel_shape", attr_ints({5, 5})}}), {iota({1, 1, 4, 4})});
  EXPECT_FALSE(out.has_value());
  out = run_single_op(pool_node("MaxPool", {{"kernel_shape", attr_ints({2, 2})}, {"strides", attr_ints({0, 1})}}),
                      {iota({1, 1, 4, 4})});
  EXPECT_FALSE(out.has_value());
}

TEST(PoolTest, DnnlMatchesReferenceOddShapes) {
  const Tensor x = random_tensor({2, 3, 13, 13}, 1);
  expect_dnnl_matches_reference(pool_node("MaxPool", {{"kernel_shape", attr_ints({3, 3})}, {"strides", attr_ints({2, 2})},
                                                      {"pads", attr_ints({1, 1, 1, 1})}}),
                                x);
  expect_dnnl_matches_reference(pool_node("MaxPool", {{"kernel_shape", attr_ints({3, 2})}, {"strides", attr_ints({2, 3})},
                                                      {"ceil_mode", attr_i(1)}, {"dilations", attr_ints({2, 1})}}),
                                x);
  expect_dnnl_matches_reference(pool_node("AveragePool", {{"kernel_shape", attr_ints({3, 3})}, {"strides", attr_ints({2, 2})},
                                                          {"pads", attr_ints({1, 0, 1, 2})}}),
                                x);
  expect_dnnl_matches_reference(pool_node("AveragePool", {{"kernel_shape", attr_ints({3, 3})}, {"strides", attr_ints({2, 2})},
                                                          {"pads", attr_ints({1, 1, 1, 1})}, {"count_include_pad", attr_i(1)},
                                                          {"ceil_mode", attr_i(1)}}),
                                x);
  expect_dnnl_matches_reference(pool_node("AveragePool", {{"kernel_shape", attr_ints({2, 2})}, {"auto_pad", attr_s("SAME_UPPER")},
                                                          {"strides", attr_ints({2, 2})}}),
                                x);
  expect_dnnl_matches_reference(pool_node("MaxPool", {{"kernel_shape", attr_ints({3})}, {"strides", attr_ints({2})}}),
                                random_tensor({2, 3, 17}, 2));
  expect_dnnl_matches_reference(pool_node("AveragePool", {{"kernel_shape", attr_ints({2, 3, 2})}}),
                                random_tensor({1, 2, 5, 7, 6}, 3));
}

TEST(MaxUnpoolTest, DefaultAndExplicitOutputShape) {
  Node n = Node::make("MaxUnpool", {"x", "i"}, {"y"});
  n.attrs = {{"kernel_shape", attr_ints({2, 2})}, {"strides", attr_ints({2, 2})}};
  auto out = run_single_op(n, {fvec({1, 1, 2, 2}, {1, 2, 3, 4}), ivec({1, 1, 2, 2}, {5, 7, 13, 15})});
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 4, 4}, {0, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4}));
  Node n3 = Node::make("MaxUnpool", {"x", "i", "s"}, {"y"});
  n3.attrs = n.attrs;
  out = run_single_op(n3, {fvec({1, 1, 2, 2}, {5, 6, 7, 8}), ivec({1, 1, 2, 2}, {5, 7, 13, 15}), ivec({4}, {1, 1, 5, 5})});
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 5, 5}, {0, 0, 0, 0, 0, 0, 5, 0, 6, 0, 0, 0, 0, 0, 0, 0, 7, 0, 8, 0, 0, 0, 0, 0, 0}));
  out = run_single_op(n, {fvec({1, 1, 2, 2}, {1, 2, 3, 4}), ivec({1, 1, 2, 2}, {5, 7, 13, 99})});
  EXPECT_FALSE(out.has_value());
}

}  // namespace
}  // namespace ferry::test
