// resize_test.cc — Resize (opsets 10/11/13/18/19), Upsample (7/9), GridSample, AffineGrid, RoiAlign.
// Expected values are hand-computed or taken from the ONNX operator documentation examples.
#include <limits>

#include "ops/op_test_util.h"
#include "ops/op_registry.h"

namespace ferry::test {
namespace {

Tensor empty_f() { return fvec({0}, {}); }

TEST(ResizeOps, NearestUpsampleHalfPixel) {
  Node n = Node::make("Resize", {"x", "", "scales"}, {"y"});
  auto out = run_single_op(n, {fvec({1, 1, 2, 2}, {1, 2, 3, 4}), fvec({4}, {1, 1, 2, 3})}, 19);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 4, 6}, {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4}));
}

TEST(ResizeOps, LinearAlignCorners) {
  Node n = Node::make("Resize", {"x", "", "scales"}, {"y"});
  n.attrs["mode"] = attr_s("linear");
  n.attrs["coordinate_transformation_mode"] = attr_s("align_corners");
  auto out = run_single_op(n, {fvec({1, 1, 2, 2}, {1, 2, 3, 4}), fvec({4}, {1, 1, 2, 2})}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  const float a = 1.0f / 3, b = 2.0f / 3;
  expect_near((*out)[0], fvec({1, 1, 4, 4}, {1, 1 + a, 1 + b, 2, 1 + b, 2, 2 + a, 2 + b, 2 + a, 2 + b, 3, 3 + a, 3,
                                             3 + a, 3 + b, 4}));
}

TEST(ResizeOps, LinearDownsampleOpset11WithEmptyRoi) {
  // Opset 11 takes roi and scales as (possibly empty) required inputs.
  Node n = Node::make("Resize", {"x", "roi", "scales"}, {"y"});
  n.attrs["mode"] = attr_s("linear");
  auto out = run_single_op(n, {fvec({1, 1, 2, 4}, {1, 2, 3, 4, 5, 6, 7, 8}), empty_f(), fvec({4}, {1, 1, 0.6f, 0.6f})},
                           11);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 1, 2}, {2.6666665f, 4.3333331f}));
}

TEST(ResizeOps, CubicAsymmetricAndExcludeOutside) {
  Node n = Node::make("Resize", {"x", "", "scales"}, {"y"});
  n.attrs["mode"] = attr_s("cubic");
  n.attrs["coordinate_transformation_mode"] = attr_s("asymmetric");
  Tensor x = fvec({8}, {0, 1, 2, 3, 4, 5, 6, 7});
  auto out = run_single_op(n, {x, fvec({1}, {2})}, 19);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  const Tensor& y = (*out)[0];
  ASSERT_EQ(y.shape(), Shape({16}));
  // Keys kernel (A=-0.75) at ratio 0.5: weights -0.09375, 0.59375, 0.59375, -0.09375; edge values repeat.
  EXPECT_NEAR(load_double(y, 0), 0.0, 1e-6);
  EXPECT_NEAR(load_double(y, 1), 0.40625, 1e-6);
  EXPECT_NEAR(load_double(y, 4), 2.0, 1e-6);
  EXPECT_NEAR(load_double(y, 5), 2.5, 1e-6);
  EXPECT_NEAR(load_double(y, 15), 7.09375, 1e-6);
  n.attrs["exclude_outside"] = attr_i(1);
  out = run_single_op(n, {x, fvec({1}, {2})}, 19);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  EXPECT_NEAR(load_double((*out)[0], 1), 0.40625 / 1.09375, 1e-6);
  EXPECT_NEAR(load_double((*out)[0], 5), 2.5, 1e-6);
}

TEST(ResizeOps, LinearAntialiasDownsample) {
  Node n = Node::make("Resize", {"x", "", "scales"}, {"y"});
  n.attrs["mode"] = attr_s("linear");
  n.attrs["antialias"] = attr_i(1);
  auto out = run_single_op(n, {fvec({4}, {0, 1, 2, 3}), fvec({1}, {0.5f})}, 18);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({2}, {0.625f, 2.375f}));
}

TEST(ResizeOps, SizesWithAxesNotLarger) {
  Node n = Node::make("Resize", {"x", "", "", "sizes"}, {"y"});
  n.attrs["axes"] = attr_ints({2, 3});
  n.attrs["keep_aspect_ratio_policy"] = attr_s("not_larger");
  auto out = run_single_op(n, {fvec({1, 1, 2, 4}, {1, 2, 3, 4, 5, 6, 7, 8}), ivec({2}, {1, 3})}, 18);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 1, 2}, {1, 3}));
}

TEST(ResizeOps, NearestModesOnOddSizes) {
  Node n = Node::make("Resize", {"x", "", "", "sizes"}, {"y"});
  n.attrs["coordinate_transformation_mode"] = attr_s("asymmetric");
  n.attrs["nearest_mode"] = attr_s("ceil");
  // x_ori = o * 3/5: 0, 0.6, 1.2, 1.8, 2.4 -> ceil 0, 1, 2, 2, 3 -> clamped to 2.
  auto out = run_single_op(n, {fvec({3}, {10, 20, 30}), ivec({1}, {5})}, 19);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({5}, {10, 20, 30, 30, 30}));
  n.attrs["nearest_mode"] = attr_s("floor");
  out = run_single_op(n, {fvec({3}, {10, 20, 30}), ivec({1}, {5})}, 19);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({5}, {10, 10, 20, 20, 30}));
}

TEST(ResizeOps, TfCropAndResizeExtrapolation) {
  Node n = Node::make("Resize", {"x", "roi", "", "sizes"}, {"y"});
  n.attrs["mode"] = attr_s("linear");
  n.attrs["coordinate_transformation_mode"] = attr_s("tf_crop_and_resize");
  n.attrs["extrapolation_value"] = attr_f(10.0f);
  // x_ori = o * (1.5 - 0.5) * 3 / 2 + 0.5 * 3 = 1.5 o + 1.5.
  auto out = run_single_op(n, {fvec({4}, {0, 1, 2, 3}), fvec({2}, {0.5f, 1.5f}), ivec({1}, {3})}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({3}, {1.5f, 3, 10}));
}

TEST(ResizeOps, Uint8Nearest) {
  Node n = Node::make("Resize", {"x", "", "scales"}, {"y"});
  Tensor x = Tensor::from_vector<uint8_t>(DType::kUInt8, {1, 2}, {7, 250});
  auto out = run_single_op(n, {x, fvec({2}, {1, 2})}, 19);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], Tensor::from_vector<uint8_t>(DType::kUInt8, {1, 4}, {7, 7, 250, 250}));
}

TEST(ResizeOps, ResizeOpset10AndUpsample) {
  Node r10 = Node::make("Resize", {"x", "scales"}, {"y"});
  auto out = run_single_op(r10, {fvec({1, 1, 2, 2}, {1, 2, 3, 4}), fvec({4}, {1, 1, 1, 2})}, 10);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 2, 4}, {1, 1, 2, 2, 3, 3, 4, 4}));

  Node up9 = Node::make("Upsample", {"x", "scales"}, {"y"});
  up9.attrs["mode"] = attr_s("nearest");
  out = run_single_op(up9, {fvec({1, 1, 2, 2}, {1, 2, 3, 4}), fvec({4}, {1, 1, 2, 3})}, 9);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 4, 6}, {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4}));

  Node up7 = Node::make("Upsample", {"x"}, {"y"});
  up7.attrs["mode"] = attr_s("linear");
  up7.attrs["scales"] = attr_floats({1, 1, 2, 2});
  out = run_single_op(up7, {fvec({1, 1, 2, 2}, {1, 2, 3, 4})}, 7);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 4, 4}, {1, 1.5f, 2, 2, 2, 2.5f, 3, 3, 3, 3.5f, 4, 4, 3, 3.5f, 4, 4}));
}

TEST(ResizeOps, StaticInferenceKeepsSymbols) {
  // X [N, 3, 4, W] with constant scales [1, 1, 2, 2]: N kept, 4 -> 8, W unknown.
  Node n = Node::make("Resize", {"x", "", "scales"}, {"y"});
  n.opset = 19;
  Tensor scales = fvec({4}, {1, 1, 2, 2});
  SymShape xs = SymShape::from_dims({Dim::symbolic("N"), Dim(3), Dim(4), Dim::symbolic("W")});
  InferContext c(n, {{DType::kFloat, xs}, {}, {DType::kFloat, SymShape::from_shape({4})}}, {nullptr, nullptr, &scales});
  const OpSchema* schema = OpRegistry::global().find("", "Resize");
  ASSERT_NE(schema, nullptr);
  ASSERT_TRUE(infer_node(*schema, c).is_ok());
  EXPECT_EQ(c.outputs()[0].shape.to_string(), SymShape::from_dims({Dim::symbolic("N"), Dim(3), Dim(8), Dim()}).to_string());
}

TEST(ResizeOps, Errors) {
  Node both = Node::make("Resize", {"x", "", "scales", "sizes"}, {"y"});
  EXPECT_FALSE(run_single_op(both, {fvec({2}, {1, 2}), fvec({1}, {2}), ivec({1}, {4})}, 19).has_value());
  Node neg = Node::make("Resize", {"x", "", "scales"}, {"y"});
  EXPECT_FALSE(run_single_op(neg, {fvec({2}, {1, 2}), fvec({1}, {-2})}, 19).has_value());
  EXPECT_FALSE(run_single_op(neg, {fvec({2}, {1, 2}), fvec({2}, {1, 2})}, 19).has_value());  // wrong length
  Node bad = Node::make("Resize", {"x", "", "scales"}, {"y"});
  bad.attrs["mode"] = attr_s("area");
  EXPECT_FALSE(run_single_op(bad, {fvec({2}, {1, 2}), fvec({1}, {2})}, 19).has_value());
}

TEST(GridSampleOps, BilinearPaddingModes) {
  Node n = Node::make("GridSample", {"x", "g"}, {"y"});
  Tensor x = fvec({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor g = fvec({1, 1, 2, 2}, {0, 0, -1, -1});
  auto out = run_single_op(n, {x, g}, 20);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 1, 2}, {2.5f, 0.25f}));
  n.attrs["padding_mode"] = attr_s("border");
  out = run_single_op(n, {x, g}, 20);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 1, 2}, {2.5f, 1}));
  n.attrs["padding_mode"] = attr_s("reflection");
  n.attrs["align_corners"] = attr_i(1);
  // W = 3, x = 1.5 -> 2.5 reflected at 2 -> 1.5 -> between 2 and 3.
  out = run_single_op(n, {fvec({1, 1, 1, 3}, {1, 2, 3}), fvec({1, 1, 1, 2}, {1.5f, 0})}, 20);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 1, 1}, {2.5f}));
}

TEST(GridSampleOps, NearestCubicAnd3D) {
  Node n = Node::make("GridSample", {"x", "g"}, {"y"});
  n.attrs["mode"] = attr_s("cubic");
  n.attrs["align_corners"] = attr_i(1);
  auto out = run_single_op(n, {fvec({1, 1, 1, 4}, {1, 2, 3, 4}), fvec({1, 1, 1, 2}, {-1.0f / 3, 0})}, 20);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 1, 1}, {2}), 1e-5, 1e-5);
  // Opset 16 spelling, nearest: x = 0.4 * 3 = 1.2 -> 1 (value 2); 0.6*3 = 1.8 -> 2 (value 3).
  Node b = Node::make("GridSample", {"x", "g"}, {"y"});
  b.attrs["mode"] = attr_s("nearest");
  b.attrs["align_corners"] = attr_i(1);
  out = run_single_op(b, {fvec({1, 1, 1, 4}, {1, 2, 3, 4}), fvec({1, 1, 2, 2}, {-0.2f, 0, 0.2f, 0})}, 16);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 1, 2}, {2, 3}));
  // 3-D linear at the center of a 2x2x2 cube: mean of all 8 values.
  Node v = Node::make("GridSample", {"x", "g"}, {"y"});
  out = run_single_op(v, {fvec({1, 1, 2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8}), fvec({1, 1, 1, 1, 3}, {0, 0, 0})}, 20);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 1, 1, 1}, {4.5f}));
}

TEST(GridSampleOps, GridShapeMismatch) {
  Node n = Node::make("GridSample", {"x", "g"}, {"y"});
  EXPECT_FALSE(run_single_op(n, {fvec({1, 1, 2, 2}, {1, 2, 3, 4}), fvec({1, 1, 1, 3}, {0, 0, 0})}, 20).has_value());
}

TEST(GridSampleOps, NonFiniteGridIsPadding) {
  Node n = Node::make("GridSample", {"x", "g"}, {"y"});
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  auto out = run_single_op(n, {fvec({1, 1, 2, 2}, {1, 2, 3, 4}), fvec({1, 1, 2, 2}, {nan, 0, inf, 1e30f})}, 20);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 1, 2}, {0, 0}));
  n.attrs["padding_mode"] = attr_s("reflection");
  out = run_single_op(n, {fvec({1, 1, 2, 2}, {1, 2, 3, 4}), fvec({1, 1, 2, 2}, {nan, 0, inf, 1e30f})}, 20);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
}

TEST(AffineGridOps, Identity2D) {
  Node n = Node::make("AffineGrid", {"theta", "size"}, {"grid"});
  Tensor theta = fvec({1, 2, 3}, {1, 0, 0, 0, 1, 0});
  auto out = run_single_op(n, {theta, ivec({4}, {1, 1, 2, 2})}, 20);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 2, 2, 2}, {-0.5f, -0.5f, 0.5f, -0.5f, -0.5f, 0.5f, 0.5f, 0.5f}));
  n.attrs["align_corners"] = attr_i(1);
  // Scale x by 2, shift y by 1, on a 1x3 grid.
  out = run_single_op(n, {fvec({1, 2, 3}, {2, 0, 0, 0, 1, 1}), ivec({4}, {1, 1, 1, 3})}, 20);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 3, 2}, {-2, 0, 0, 0, 2, 0}));
}

TEST(AffineGridOps, ThetaMismatch) {
  Node n = Node::make("AffineGrid", {"theta", "size"}, {"grid"});
  EXPECT_FALSE(run_single_op(n, {fvec({1, 3, 4}, std::vector<float>(12, 0)), ivec({4}, {1, 1, 2, 2})}, 20).has_value());
}

TEST(RoiAlignOps, AvgMaxAndHalfPixel) {
  std::vector<float> ramp(16);
  for (int i = 0; i < 16; ++i) ramp[static_cast<size_t>(i)] = static_cast<float>(i);  // value = 4y + x
  Tensor x = fvec({1, 1, 4, 4}, ramp);
  Node n = Node::make("RoiAlign", {"x", "rois", "bi"}, {"y"});
  n.attrs["sampling_ratio"] = attr_i(2);
  n.attrs["coordinate_transformation_mode"] = attr_s("output_half_pixel");
  auto out = run_single_op(n, {x, fvec({1, 4}, {0, 0, 2, 2}), ivec({1}, {0})}, 16);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 1, 1}, {5}));
  n.attrs["mode"] = attr_s("max");
  out = run_single_op(n, {x, fvec({1, 4}, {0, 0, 2, 2}), ivec({1}, {0})}, 16);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 1, 1}, {2.5f}));
  Node h = Node::make("RoiAlign", {"x", "rois", "bi"}, {"y"});
  h.attrs["sampling_ratio"] = attr_i(2);
  h.attrs["output_height"] = attr_i(1);
  h.attrs["output_width"] = attr_i(1);
  out = run_single_op(h, {x, fvec({1, 4}, {0, 0, 2, 2}), ivec({1}, {0})}, 22);  // default half_pixel
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 1, 1}, {2.5f}));
}

TEST(RoiAlignOps, BatchIndexOutOfRangeAndNonFiniteRoi) {
  Node n = Node::make("RoiAlign", {"x", "rois", "bi"}, {"y"});
  auto out = run_single_op(n, {fvec({1, 1, 2, 2}, {1, 2, 3, 4}), fvec({1, 4}, {0, 0, 1, 1}), ivec({1}, {3})}, 16);
  EXPECT_FALSE(out.has_value());
  const float nan = std::numeric_limits<float>::quiet_NaN();
  out = run_single_op(n, {fvec({1, 1, 2, 2}, {1, 2, 3, 4}), fvec({1, 4}, {0, nan, 1, 1}), ivec({1}, {0})}, 16);
  EXPECT_FALSE(out.has_value());
}

}  // namespace
}  // namespace ferry::test
