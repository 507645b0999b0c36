// conv_act.h: the in-place AVX-512 SiLU / sigmoid that FusedConv applies after oneDNN, against double math on
// odd lengths (vector tails), special values, and the multi-threaded split.
#include "backends/cpu/kernels/conv_act.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace ferry {
namespace {

double ref(ConvAct a, double v) { return a == ConvAct::kSilu ? v / (1.0 + std::exp(-v)) : 1.0 / (1.0 + std::exp(-v)); }

void check(ConvAct act, std::vector<float> x, int threads) {
  std::vector<float> y = x;
  apply_conv_activation(act, y.data(), static_cast<int64_t>(y.size()), threads);
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i])) {
      EXPECT_TRUE(std::isnan(y[i])) << i;
      continue;
    }
    const double want = ref(act, x[i]);
    if (std::isinf(x[i]) && std::isnan(want)) continue;  // SiLU(-inf): -inf * 0, no defined answer
    if (std::isinf(want)) {
      EXPECT_EQ(y[i], want) << i;
      continue;
    }
    EXPECT_NEAR(y[i], want, 1e-6 + 2e-6 * std::abs(want)) << "x=" << x[i] << " i=" << i;
  }
}

TEST(ConvAct, MatchesDoubleMath) {
  if (!deferred_activation_supported(ConvAct::kSilu)) GTEST_SKIP() << "no AVX-512 on this CPU";
  EXPECT_FALSE(deferred_activation_supported(ConvAct::kRelu));
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-30, 30);
  for (ConvAct act : {ConvAct::kSilu, ConvAct::kSigmoid})
    for (size_t n : {1u, 15u, 16u, 17u, 131u, 100003u}) {  // the last one splits over threads
      std::vector<float> x(n);
      for (auto& v : x) v = u(rng);
      for (int threads : {1, 2}) check(act, x, threads);
    }
}

TEST(ConvAct, SpecialValues) {
  if (!deferred_activation_supported(ConvAct::kSilu)) GTEST_SKIP() << "no AVX-512 on this CPU";
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> x{0.f, -0.f, 1e-30f, -1e-30f, 88.f, -88.f, 100.f, -100.f, 1e30f, -1e30f, inf, -inf,
                       std::numeric_limits<float>::quiet_NaN(), 3.f, -3.f, 0.5f, -0.5f};
  for (ConvAct act : {ConvAct::kSilu, ConvAct::kSigmoid}) check(act, x, 1);
}

}  // namespace
}  // namespace ferry
