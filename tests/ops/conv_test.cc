// conv_test.cc — Conv, ConvTranspose, DeformConv, Col2Im: hand-checked values (mostly the ONNX spec examples)
// and the oneDNN path checked against the reference kernel (FERRY_DNNL=0) on odd shapes.
#include <cstdlib>
#include <numeric>

#include "ops/op_test_util.h"

namespace ferry::test {
namespace {

Tensor iota(Shape shape, float start = 0.0f) {
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  std::iota(v.begin(), v.end(), start);
  return fvec(shape, v);
}
Tensor filled(Shape shape, float value) {
  return fvec(shape, std::vector<float>(static_cast<size_t>(shape_numel(shape)), value));
}
Tensor random_tensor(Shape shape, uint32_t seed) {
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  uint32_t s = seed * 2654435761u + 1;
  for (auto& x : v) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<float>((s >> 8) & 0xffff) / 32768.0f - 1.0f;
  }
  return fvec(shape, v);
}

Node conv_node(std::vector<std::string> inputs, std::map<std::string, Attr> attrs = {}, std::string op = "Conv") {
  Node n = Node::make(op, std::move(inputs), {"y"});
  n.attrs = std::move(attrs);
  return n;
}

// Runs the node with the oneDNN path and with the reference only; both must succeed and agree.
void expect_dnnl_matches_reference(const Node& n, const std::vector<Tensor>& inputs) {
  setenv("FERRY_DNNL", "0", 1);
  auto ref = run_single_op(n, inputs);
  unsetenv("FERRY_DNNL");
  ASSERT_TRUE(ref.has_value()) << ref.status().to_string();
  auto fast = run_single_op(n, inputs);
  ASSERT_TRUE(fast.has_value()) << fast.status().to_string();
  expect_near((*fast)[0], (*ref)[0], 1e-4, 1e-4);
}

TEST(ConvTest, BasicWithAndWithoutPadding) {
  auto out = run_single_op(conv_node({"x", "w"}, {{"pads", attr_ints({1, 1, 1, 1})}}),
                           {iota({1, 1, 5, 5}), filled({1, 1, 3, 3}, 1)});
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 5, 5}, {12, 21, 27, 33, 24, 33, 54, 63, 72, 51, 63, 99, 108, 117, 81,
                                             93, 144, 153, 162, 111, 72, 111, 117, 123, 84}));
  out = run_single_op(conv_node({"x", "w"}), {iota({1, 1, 5, 5}), filled({1, 1, 3, 3}, 1)});
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 3, 3}, {54, 63, 72, 99, 108, 117, 144, 153, 162}));
}

TEST(ConvTest, StridesAndAutoPad) {
  auto out = run_single_op(conv_node({"x", "w"}, {{"pads", attr_ints({1, 1, 1, 1})}, {"strides", attr_ints({2, 2})}}),
                           {iota({1, 1, 5, 5}), filled({1, 1, 3, 3}, 1)});
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  const Tensor want = fvec({1, 1, 3, 3}, {12, 27, 24, 63, 108, 81, 72, 117, 84});
  expect_near((*out)[0], want);
  out = run_single_op(conv_node({"x", "w"}, {{"auto_pad", attr_s("SAME_LOWER")}, {"strides", attr_ints({2, 2})}}),
                      {iota({1, 1, 5, 5}), filled({1, 1, 3, 3}, 1)});
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], want);
  // VALID: no padding, floor.
  out = run_single_op(conv_node({"x", "w"}, {{"auto_pad", attr_s("VALID")}, {"strides", attr_ints({2, 2})}}),
                      {iota({1, 1, 5, 5}), filled({1, 1, 3, 3}, 1)});
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 2, 2}, {54, 72, 144, 162}));
}

TEST(ConvTest, GroupsAndBias) {
  auto out = run_single_op(conv_node({"x", "w", "b"}, {{"group", attr_i(2)}}),
                           {iota({1, 2, 2, 2}, 1), fvec({2, 1, 1, 1}, {2, 3}), fvec({2}, {1, -1})});
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 2, 2, 2}, {3, 5, 7, 9, 14, 17, 20, 23}));
}

TEST(ConvTest, OneDimensionalWithDilation) {
  auto out = run_single_op(conv_node({"x", "w"}), {iota({1, 1, 5}, 1), fvec({1, 1, 2}, {1, -1})});
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 4}, {-1, -1, -1, -1}));
  out = run_single_op(conv_node({"x", "w"}, {{"dilations", attr_ints({2})}}), {iota({1, 1, 5}, 1), fvec({1, 1, 2}, {1, -1})});
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 3}, {-2, -2, -2}));
}

TEST(ConvTest, DoubleAndFloat16) {
  Tensor x = Tensor::from_vector<double>(DType::kDouble, {1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor w = Tensor::from_vector<double>(DType::kDouble, {1, 1, 2, 2}, {1, 1, 1, 1});
  auto out = run_single_op(conv_node({"x", "w"}), {x, w});
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], Tensor::from_vector<double>(DType::kDouble, {1, 1, 1, 1}, {10}));
  std::vector<Half> xh{half_from_float(1), half_from_float(2), half_from_float(3), half_from_float(4)};
  std::vector<Half> wh(4, half_from_float(0.5f));
  out = run_single_op(conv_node({"x", "w"}), {Tensor::from_vector<Half>(DType::kFloat16, {1, 1, 2, 2}, xh),
                                              Tensor::from_vector<Half>(DType::kFloat16, {1, 1, 2, 2}, wh)});
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  ASSERT_EQ((*out)[0].dtype(), DType::kFloat16);
  EXPECT_FLOAT_EQ(to_float((*out)[0].data<Half>()[0]), 5.0f);
}

TEST(ConvTest, ChannelMismatchIsAnError) {
  auto out = run_single_op(conv_node({"x", "w"}), {iota({1, 3, 4, 4}), filled({2, 2, 3, 3}, 1)});
  ASSERT_FALSE(out.has_value());
  EXPECT_NE(out.status().message().find("channel"), std::string::npos) << out.status().to_string();
  out = run_single_op(conv_node({"x", "w"}), {iota({1, 1, 2, 2}), filled({1, 1, 3, 3}, 1)});
  EXPECT_FALSE(out.has_value());
}

TEST(ConvTest, DnnlMatchesReferenceOddShapes) {
  // 13x13, groups, strides, asymmetric pads, dilations, bias.
  expect_dnnl_matches_reference(
      conv_node({"x", "w", "b"}, {{"group", attr_i(2)}, {"strides", attr_ints({2, 1})},
                                  {"pads", attr_ints({1, 0, 2, 1})}, {"dilations", attr_ints({1, 2})}}),
      {random_tensor({2, 6, 13, 13}, 1), random_tensor({4, 3, 3, 3}, 2), random_tensor({4}, 3)});
  // Depthwise 3x3, SAME_UPPER, stride 2.
  expect_dnnl_matches_reference(
      conv_node({"x", "w"}, {{"group", attr_i(8)}, {"strides", attr_ints({2, 2})}, {"auto_pad", attr_s("SAME_UPPER")}}),
      {random_tensor({1, 8, 13, 13}, 4), random_tensor({8, 1, 3, 3}, 5)});
  // Pointwise with many channels (blocked layouts), no bias.
  expect_dnnl_matches_reference(conv_node({"x", "w"}), {random_tensor({1, 32, 7, 9}, 6), random_tensor({48, 32, 1, 1}, 7)});
  // 1-D and 3-D.
  expect_dnnl_matches_reference(conv_node({"x", "w", "b"}, {{"pads", attr_ints({2, 1})}, {"strides", attr_ints({3})}}),
                                {random_tensor({2, 3, 17}, 8), random_tensor({5, 3, 4}, 9), random_tensor({5}, 10)});
  expect_dnnl_matches_reference(conv_node({"x", "w"}, {{"pads", attr_ints({1, 1, 1, 1, 1, 1})}}),
                                {random_tensor({1, 2, 5, 6, 7}, 11), random_tensor({3, 2, 3, 3, 3}, 12)});
}

TEST(ConvTest, DnnlWeightsChangeBetweenRunsAreSeen) {
  // Same node, same shapes, different weight values: a stale weight cache would give the first answer.
  Node n = conv_node({"x", "w"});
  auto a = run_single_op(n, {iota({1, 1, 3, 3}), filled({1, 1, 3, 3}, 1)});
  auto b = run_single_op(n, {iota({1, 1, 3, 3}), filled({1, 1, 3, 3}, 2)});
  ASSERT_TRUE(a.has_value() && b.has_value());
  expect_near((*a)[0], fvec({1, 1, 1, 1}, {36}));
  expect_near((*b)[0], fvec({1, 1, 1, 1}, {72}));
}

TEST(ConvTransposeTest, SpecExample) {
  auto out = run_single_op(conv_node({"x", "w"}, {}, "ConvTranspose"), {iota({1, 1, 3, 3}), filled({1, 2, 3, 3}, 1)});
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  std::vector<float> plane{0, 1, 3, 3, 2, 3, 8, 15, 12, 7, 9, 21, 36, 27, 15, 9, 20, 33, 24, 13, 6, 13, 21, 15, 8};
  std::vector<float> both = plane;
  both.insert(both.end(), plane.begin(), plane.end());
  expect_near((*out)[0], fvec({1, 2, 5, 5}, both));
}

TEST(ConvTransposeTest, AutoPadSameUpperAndOutputShape) {
  auto out = run_single_op(conv_node({"x", "w"}, {{"auto_pad", attr_s("SAME_UPPER")}, {"strides", attr_ints({2, 2})}},
                                     "ConvTranspose"),
                           {iota({1, 1, 3, 3}), filled({1, 1, 3, 3}, 1)});
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  ASSERT_EQ((*out)[0].shape(), (Shape{1, 1, 6, 6}));
  const float* p = (*out)[0].data<float>();
  EXPECT_FLOAT_EQ(p[0], 0);
  EXPECT_FLOAT_EQ(p[4], 3);  // row 0 = [0 0 1 1 3 2]
  EXPECT_FLOAT_EQ(p[14], 8);
  // output_shape bigger than the natural size: the extra row/col lands at the end.
  out = run_single_op(conv_node({"x", "w"}, {{"output_shape", attr_ints({10, 8})}, {"strides", attr_ints({3, 2})}},
                                "ConvTranspose"),
                      {iota({1, 1, 3, 3}), filled({1, 2, 3, 3}, 1)});
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  ASSERT_EQ((*out)[0].shape(), (Shape{1, 2, 10, 8}));
  p = (*out)[0].data<float>();
  std::vector<float> row0{0, 0, 1, 1, 3, 2, 2, 0};
  for (int i = 0; i < 8; ++i) EXPECT_FLOAT_EQ(p[i], row0[static_cast<size_t>(i)]) << i;
}

TEST(ConvTransposeTest, DnnlMatchesReferenceOddShapes) {
  expect_dnnl_matches_reference(
      conv_node({"x", "w", "b"}, {{"group", attr_i(2)}, {"strides", attr_ints({2, 3})}, {"pads", attr_ints({1, 0, 0, 2})},
                                  {"output_padding", attr_ints({1, 1})}, {"dilations", attr_ints({1, 2})}},
                "ConvTranspose"),
      {random_tensor({2, 4, 13, 11}, 21), random_tensor({4, 3, 3, 3}, 22), random_tensor({6}, 23)});
  expect_dnnl_matches_reference(conv_node({"x", "w"}, {{"strides", attr_ints({2})}}, "ConvTranspose"),
                                {random_tensor({1, 3, 13}, 24), random_tensor({3, 2, 4}, 25)});
  expect_dnnl_matches_reference(conv_node({"x", "w"}, {{"strides", attr_ints({2, 2, 2})}}, "ConvTranspose"),
                                {random_tensor({1, 2, 3, 4, 5}, 26), random_tensor({2, 3, 2, 2, 2}, 27)});
}

TEST(DeformConvTest, ZeroOffsetIsConvAndShiftedOffsets) {
  Node n = Node::make("DeformConv", {"x", "w", "offset"}, {"y"});
  auto out = run_single_op(n, {iota({1, 1, 3, 3}), filled({1, 1, 2, 2}, 1), filled({1, 8, 2, 2}, 0)}, 19);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 2, 2}, {8, 12, 20, 24}));
  // x-offset +1 for every tap (odd channels), with a 0.5 mask and a bias.
  std::vector<float> off(32, 0);
  for (int k = 0; k < 4; ++k)
    for (int p = 0; p < 4; ++p) off[static_cast<size_t>((2 * k + 1) * 4 + p)] = 1;
  Node nm = Node::make("DeformConv", {"x", "w", "offset", "b", "mask"}, {"y"});
  out = run_single_op(nm, {iota({1, 1, 3, 3}), filled({1, 1, 2, 2}, 1), fvec({1, 8, 2, 2}, off), fvec({1}, {1}),
                           filled({1, 4, 2, 2}, 0.5f)},
                      19);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 2, 2}, {7, 4.5f, 13, 7.5f}));
  // Fractional offset: sample halfway between columns.
  std::fill(off.begin(), off.end(), 0.0f);
  for (int p = 0; p < 4; ++p) off[static_cast<size_t>(1 * 4 + p)] = 0.5f;  // tap 0 x-offset
  Node n1 = Node::make("DeformConv", {"x", "w", "offset"}, {"y"});
  out = run_single_op(n1, {iota({1, 1, 3, 3}), fvec({1, 1, 2, 2}, {1, 0, 0, 0}), fvec({1, 8, 2, 2}, off)}, 19);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 2, 2}, {0.5f, 1.5f, 3.5f, 4.5f}));
  // Wrong offset shape is an error.
  out = run_single_op(n, {iota({1, 1, 3, 3}), filled({1, 1, 2, 2}, 1), filled({1, 4, 2, 2}, 0)}, 19);
  EXPECT_FALSE(out.has_value());
}

TEST(Col2ImTest, SpecExampleAndOverlap) {
  std::vector<float> in(25);
  for (int b = 0; b < 5; ++b)
    for (int l = 0; l < 5; ++l) in[static_cast<size_t>(b * 5 + l)] = static_cast<float>(1 + b + 5 * l);
  Node n = Node::make("Col2Im", {"x", "image", "block"}, {"y"});
  auto out = run_single_op(n, {fvec({1, 5, 5}, in), ivec({2}, {5, 5}), ivec({2}, {1, 5})}, 18);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], iota({1, 1, 5, 5}, 1));
  // 1-D overlapping blocks: image 4, block 2, stride 1 -> 3 blocks; positions 1 and 2 get two contributions.
  out = run_single_op(n, {fvec({1, 2, 3}, {1, 2, 3, 10, 20, 30}), ivec({1}, {4}), ivec({1}, {2})}, 18);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 4}, {1, 12, 23, 30}));
  out = run_single_op(n, {fvec({1, 2, 4}, std::vector<float>(8, 1)), ivec({1}, {4}), ivec({1}, {2})}, 18);
  EXPECT_FALSE(out.has_value());
}

}  // namespace
}  // namespace ferry::test
