// ferry.SqueezeExcite against a double-precision reference of its definition (src/ops/squeeze_excite.cc):
// odd channel counts (vector tails), batch > 1, every activation, a tensor large enough for the two-thread
// split, and the shape errors inference must report.
#include <cmath>
#include <random>

#include "ops/op_test_util.h"

namespace ferry::test {
namespace {

Tensor rnd(Shape s, unsigned seed, float scale) {
  Tensor t = Tensor::empty(DType::kFloat, std::move(s));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-scale, scale);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
  return t;
}

Tensor reference(const std::vector<Tensor>& in, const std::string& act) {
  const Tensor& x = in[0];
  const int64_t n = x.dim(0), rows = x.dim(1) * x.dim(2), c = x.dim(3), r = in[1].dim(0);
  const float *w1 = in[1].data<float>(), *b1 = in[2].data<float>(), *w2 = in[3].data<float>(), *b2 = in[4].data<float>();
  Tensor y = Tensor::empty(DType::kFloat, x.shape());
  for (int64_t b = 0; b < n; ++b) {
    const float* xb = x.data<float>() + b * rows * c;
    std::vector<double> mean(static_cast<size_t>(c), 0.0), h(static_cast<size_t>(r)), g(static_cast<size_t>(c));
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t k = 0; k < c; ++k) mean[static_cast<size_t>(k)] += xb[i * c + k];
    for (auto& m : mean) m /= static_cast<double>(rows);
    for (int64_t j = 0; j < r; ++j) {
      double s = b1[j];
      for (int64_t k = 0; k < c; ++k) s += w1[j * c + k] * mean[static_cast<size_t>(k)];
      if (act == "relu") s = s > 0 ? s : 0;
      if (act == "silu") s = s / (1 + std::exp(-s));
      h[static_cast<size_t>(j)] = s;
    }
    for (int64_t k = 0; k < c; ++k) {
      double s = b2[k];
      for (int64_t j = 0; j < r; ++j) s += w2[k * r + j] * h[static_cast<size_t>(j)];
      g[static_cast<size_t>(k)] = 1 / (1 + std::exp(-s));
    }
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t k = 0; k < c; ++k)
        y.data<float>()[b * rows * c + i * c + k] = static_cast<float>(xb[i * c + k] * g[static_cast<size_t>(k)]);
  }
  return y;
}

Node se_node(const std::string& act) {
  Node n = Node::make("SqueezeExcite", {"x", "w1", "b1", "w2", "b2"}, {"y"});
  n.domain = "ferry";
  n.attrs["activation"] = attr_s(act);
  return n;
}

std::vector<Tensor> inputs(Shape x, int64_t r, unsigned seed) {
  const int64_t c = x[3];
  return {rnd(x, seed, 2.f), rnd({r, c, 1, 1}, seed + 1, 0.5f), rnd({r}, seed + 2, 0.5f), rnd({c, r, 1, 1}, seed + 3, 0.5f),
          rnd({c}, seed + 4, 0.5f)};
}

TEST(SqueezeExcite, MatchesReferenceOnOddShapes) {
  for (const std::string act : {"none", "relu", "silu"})
    for (Shape x : {Shape{1, 3, 13, 19}, Shape{2, 5, 1, 33}, Shape{1, 1, 1, 16}, Shape{2, 40, 41, 24}}) {
      SCOPED_TRACE(act + " " + shape_to_string(x));
      auto in = inputs(x, x[3] == 16 ? 4 : 5, 11);
      RUN_OK(out, se_node(act), in, 13);
      expect_near((*out)[0], reference(in, act), 1e-5, 1e-6);
    }
}

TEST(SqueezeExcite, RejectsMismatchedWeights) {
  auto in = inputs({1, 3, 3, 8}, 2, 5);
  in[3] = rnd({8, 3, 1, 1}, 9, 0.5f);  // W2 must be [C, R, 1, 1] with R = 2
  auto out = run_single_op(se_node("relu"), in, 13);
  EXPECT_FALSE(out.has_value());
  Node bad = se_node("gelu");
  EXPECT_FALSE(run_single_op(bad, inputs({1, 3, 3, 8}, 2, 5), 13).has_value());
}

}  // namespace
}  // namespace ferry::test
