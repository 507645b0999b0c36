// conv_dw_nhwc.h: the AVX-512 NHWC depthwise conv against plain loops in double, on odd channel counts (vector
// tails), both kernel sizes and strides, asymmetric padding, widths that are not multiples of 4, batch 2, every
// activation it accepts, and the multi-threaded split (rows and, for short maps, channel groups).
#include "backends/cpu/kernels/conv_dw_nhwc.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace ferry {
namespace {

double act_ref(ConvAct a, double v, float alpha, float beta) {
  switch (a) {
    case ConvAct::kRelu: return v > 0 ? v : 0;
    case ConvAct::kLeakyRelu: return v < 0 ? v * alpha : v;
    case ConvAct::kClip: return std::min<double>(std::max<double>(v, alpha), beta);
    case ConvAct::kSilu: return v / (1 + std::exp(-v));
    case ConvAct::kSigmoid: return 1 / (1 + std::exp(-v));
    default: return v;
  }
}

void check(DwConvShape s, ConvAct act, bool bias, int threads) {
  SCOPED_TRACE(::testing::Message() << "n" << s.n << " h" << s.h << " w" << s.w << " c" << s.c << " k" << s.k << " s"
                                    << s.stride << " p" << s.pad_top << "," << s.pad_left << " act"
                                    << static_cast<int>(act) << " threads " << threads);
  std::mt19937 rng(static_cast<unsigned>(s.c * 7 + s.h));
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> x(static_cast<size_t>(s.n * s.h * s.w * s.c)), b(static_cast<size_t>(s.c));
  for (auto& v : x) v = u(rng);
  for (auto& v : b) v = u(rng);
  Tensor w = Tensor::empty(DType::kFloat, {s.c, 1, s.k, s.k});
  for (int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] = u(rng);
  std::vector<float> y(static_cast<size_t>(s.n * s.oh * s.ow * s.c), 1e30f);
  const float alpha = act == ConvAct::kClip ? -0.5f : 0.1f, beta = 0.7f;
  DwConvNhwc dw;
  ASSERT_TRUE(DwConvNhwc::supports(s, act));
  for (int rep = 0; rep < 2; ++rep)  // the second run reuses the packed weights and staged-row buffers
    dw.run(s, act, alpha, beta, x.data(), w, bias ? b.data() : nullptr, y.data(), threads);
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t oy = 0; oy < s.oh; ++oy)
      for (int64_t ox = 0; ox < s.ow; ++ox)
        for (int64_t c = 0; c < s.c; ++c) {
          double acc = bias ? b[static_cast<size_t>(c)] : 0.0;
          for (int64_t kh = 0; kh < s.k; ++kh)
            for (int64_t kw = 0; kw < s.k; ++kw) {
              const int64_t iy = oy * s.stride - s.pad_top + kh, ix = ox * s.stride - s.pad_left + kw;
              if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
              acc += static_cast<double>(w.data<float>()[(c * s.k + kh) * s.k + kw]) *
                     x[static_cast<size_t>(((n * s.h + iy) * s.w + ix) * s.c + c)];
            }
          const double want = act_ref(act, acc, alpha, beta);
          const float got = y[static_cast<size_t>(((n * s.oh + oy) * s.ow + ox) * s.c + c)];
          ASSERT_NEAR(got, want, 1e-5 + 1e-5 * std::abs(want)) << "at n" << n << " y" << oy << " x" << ox << " c" << c;
        }
}

DwConvShape shape(int64_t n, int64_t h, int64_t w, int64_t c, int64_t k, int64_t s, int64_t pt, int64_t pl, int64_t pb,
                  int64_t pr) {
  return {n, h, w, c, (h + pt + pb - k) / s + 1, (w + pl + pr - k) / s + 1, k, s, pt, pl};
}

TEST(DwConvNhwc, MatchesReference) {
  if (!DwConvNhwc::supports(shape(1, 5, 5, 16, 3, 1, 1, 1, 1, 1), ConvAct::kNone)) GTEST_SKIP() << "no AVX-512";
  for (int threads : {1, 2, 3}) {
    check(shape(1, 13, 11, 19, 3, 1, 1, 1, 1, 1), ConvAct::kClip, true, threads);
    check(shape(2, 9, 14, 40, 3, 2, 1, 1, 1, 1), ConvAct::kRelu, true, threads);
    check(shape(1, 7, 7, 96, 3, 1, 1, 1, 1, 1), ConvAct::kNone, false, threads);
    check(shape(1, 12, 10, 33, 5, 1, 2, 2, 2, 2), ConvAct::kSilu, true, threads);
    check(shape(1, 15, 17, 24, 5, 2, 1, 2, 2, 1), ConvAct::kSigmoid, true, threads);  // asymmetric pads
    check(shape(1, 6, 9, 8, 3, 2, 0, 0, 1, 1), ConvAct::kLeakyRelu, true, threads);
    check(shape(1, 40, 40, 64, 3, 1, 1, 1, 1, 1), ConvAct::kClip, true, threads);     // large enough to split
    check(shape(1, 3, 3, 1024, 3, 1, 1, 1, 1, 1), ConvAct::kRelu, true, threads);     // channel groups
  }
}

TEST(DwConvNhwc, DeclinesWhatItCannotDo) {
  EXPECT_FALSE(DwConvNhwc::supports(shape(1, 9, 9, 16, 7, 1, 3, 3, 3, 3), ConvAct::kNone));  // K = 7
  EXPECT_FALSE(DwConvNhwc::supports(shape(1, 9, 9, 16, 3, 3, 1, 1, 1, 1), ConvAct::kNone));  // stride 3
  EXPECT_FALSE(DwConvNhwc::supports(shape(1, 9, 9, 16, 3, 1, 1, 1, 1, 1), ConvAct::kTanh));
}

}  // namespace
}  // namespace ferry
