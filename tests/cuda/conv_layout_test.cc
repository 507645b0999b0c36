// conv_layout_test.cc — host-side filter layouts of the CUDA convs (conv_layout.h); runs without a GPU.
#include "backends/cuda/conv_layout.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

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

// Direct convolution, NCHW input / OIHW filter, square stride and pad, no dilation.
std::vector<float> conv_ref(const std::vector<float>& x, int64_t c, int64_t h, int64_t w, const Tensor& f, int64_t stride,
                            int64_t pad, int64_t oh, int64_t ow) {
  const Shape& fs = f.shape();
  std::vector<float> y(static_cast<size_t>(fs[0] * oh * ow), 0.f);
  for (int64_t k = 0; k < fs[0]; ++k)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) {
        double acc = 0;
        for (int64_t ch = 0; ch < fs[1]; ++ch)
          for (int64_t a = 0; a < fs[2]; ++a)
            for (int64_t b = 0; b < fs[3]; ++b) {
              const int64_t iy = i * stride + a - pad, ix = j * stride + b - pad;
              if (ch < c && iy >= 0 && iy < h && ix >= 0 && ix < w)
                acc += double(x[(ch * h + iy) * w + ix]) * f.data<float>()[((k * fs[1] + ch) * fs[2] + a) * fs[3] + b];
            }
        y[(k * oh + i) * ow + j] = static_cast<float>(acc);
      }
  return y;
}

// resnet's stem (7x7, stride 2, pad 3, 3 channels) equals a 4x4 stride-1 conv on the space-to-depth image with the
// filter_to_s2d filter (the image built as the upload kernel, nchw_to_s2d in cuda_convert.cu, builds it).
TEST(ConvLayout, SpaceToDepthStemMatchesTheStridedConv) {
  const int64_t c = 3, h = 10, w = 12, k = 5, r = 7, pad = 3;
  std::vector<float> x(static_cast<size_t>(c * h * w));
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * static_cast<float>(i)) + 0.1f;
  Tensor f = Tensor::empty(DType::kFloat, {k, c, r, r});
  for (int64_t i = 0; i < f.numel(); ++i) f.data<float>()[i] = std::cos(0.11f * static_cast<float>(i));
  const int64_t oh = (h + 2 * pad - r) / 2 + 1, ow = (w + 2 * pad - r) / 2 + 1;
  std::vector<float> want = conv_ref(x, c, h, w, f, 2, pad, oh, ow);
  const int64_t hs = (h + 2 * pad) / 2, ws = (w + 2 * pad) / 2;
  std::vector<float> s2d(static_cast<size_t>(kS2dChannels * hs * ws), 0.f);  // stored as NCHW here
  for (int64_t y = 0; y < hs; ++y)
    for (int64_t xx = 0; xx < ws; ++xx)
      for (int64_t ch = 0; ch < 4 * c; ++ch) {
        const int64_t q = ch / c, cc = ch % c, iy = 2 * y + q / 2 - pad, ix = 2 * xx + q % 2 - pad;
        if (iy >= 0 && iy < h && ix >= 0 && ix < w) s2d[(ch * hs + y) * ws + xx] = x[(cc * h + iy) * w + ix];
      }
  Tensor f2 = filter_to_s2d(f);
  ASSERT_EQ(f2.shape(), (Shape{k, kS2dChannels, 4, 4}));
  std::vector<float> got = conv_ref(s2d, kS2dChannels, hs, ws, f2, 1, 0, oh, ow);
  ASSERT_EQ(hs - 4 + 1, oh);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-4) << i;

  int64_t p = -1;
  const int64_t st[2] = {2, 2}, pads[4] = {3, 3, 3, 3}, dil[2] = {1, 1};
  EXPECT_TRUE(s2d_stem_fits({1, 3, 224, 224}, 7, 7, st, pads, dil, 1, DType::kFloat16, &p));
  EXPECT_EQ(p, 3);
  EXPECT_FALSE(s2d_stem_fits({1, 3, 224, 224}, 7, 7, st, pads, dil, 1, DType::kFloat, &p));   // FP32: exact path
  EXPECT_FALSE(s2d_stem_fits({1, 3, 225, 224}, 7, 7, st, pads, dil, 1, DType::kFloat16, &p));  // H + 2p odd
  EXPECT_FALSE(s2d_stem_fits({1, 8, 224, 224}, 7, 7, st, pads, dil, 1, DType::kFloat16, &p));  // 4C > 16
  const int64_t st1[2] = {1, 1};
  EXPECT_FALSE(s2d_stem_fits({1, 3, 224, 224}, 7, 7, st1, pads, dil, 1, DType::kFloat16, &p));
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
