// conv_layout_test.cc — host-side filter layouts of the CUDA convs (conv_layout.h); runs without a GPU.
#include "backends/cuda/conv_layout.h"

#include <gtest/gtest.h>

namespace ferry::cuda {
namespace {

TEST(ConvLayout, PadsOnlyNarrowUngroupedHalfConvs) {
  EXPECT_EQ(padded_conv_channels(3, DType::kFloat16, 1), 8);
  EXPECT_EQ(padded_conv_channels(1, DType::kBFloat16, 1), 8);
  EXPECT_EQ(padded_conv_channels(3, DType::kFloat, 1), 3);     // FP32 keeps exact CPU results
  EXPECT_EQ(padded_conv_channels(3, DType::kFloat16, 3), 3);   // grouped: channels belong to groups
  EXPECT_EQ(padded_conv_channels(8, DType::kFloat16, 1), 8);
  EXPECT_EQ(padded_conv_channels(12, DType::kFloat16, 1), 12);  // already wide enough for tensor cores
}

TEST(ConvLayout, OhwiWithZeroPaddedChannels) {
  const int64_t k = 2, c = 3, r = 2, s = 3, cs = 8;
  Tensor w = Tensor::empty(DType::kFloat, {k, c, r, s});
  for (int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] = static_cast<float>(i + 1);
  Tensor o = filter_to_ohwi(w, cs);
  ASSERT_EQ(o.shape(), (Shape{k, r, s, cs}));
  for (int64_t ko = 0; ko < k; ++ko)
    for (int64_t h = 0; h < r; ++h)
      for (int64_t x = 0; x < s; ++x)
        for (int64_t ci = 0; ci < cs; ++ci) {
          float got = o.data<float>()[((ko * r + h) * s + x) * cs + ci];
          float want = ci < c ? w.data<float>()[((ko * c + ci) * r + h) * s + x] : 0.0f;
          EXPECT_EQ(got, want) << ko << " " << h << " " << x << " " << ci;
        }
  // No padding requested (or a smaller count): plain OHWI.
  Tensor plain = filter_to_ohwi(w);
  ASSERT_EQ(plain.shape(), (Shape{k, r, s, c}));
  EXPECT_EQ(plain.data<float>()[1], w.data<float>()[r * s]);  // [0,0,0,1] = w[0,1,0,0]
}

TEST(ConvLayout, DepthwiseFilterAsRsc) {
  const int64_t c = 16, r = 3, s = 2;
  Tensor w = Tensor::empty(DType::kFloat, {c, 1, r, s});
  for (int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] = static_cast<float>(i);
  Tensor o = filter_to_rsc(w);
  ASSERT_EQ(o.shape(), (Shape{r, s, c}));
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t h = 0; h < r; ++h)
      for (int64_t x = 0; x < s; ++x)
        EXPECT_EQ(o.data<float>()[(h * s + x) * c + ch], w.data<float>()[(ch * r + h) * s + x]);
}

}  // namespace
}  // namespace ferry::cuda
