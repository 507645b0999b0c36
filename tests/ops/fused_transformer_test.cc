// Kernels of the ferry-domain transformer ops checked against naive double-precision loops on odd shapes; the
// oneDNN FusedMatMul path is also checked against its own reference path (FERRY_DNNL=0).
#include <cmath>
#include <cstdlib>
#include <random>

#include "ops/op_test_util.h"

namespace ferry::test {
namespace {

Tensor rnd(Shape s, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  Tensor t = Tensor::empty(DType::kFloat, s);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

Node ferry_node(const std::string& op, std::vector<std::string> ins, std::map<std::string, Attr> attrs = {}) {
  Node n = Node::make(op, std::move(ins), {"y"});
  n.domain = "ferry";
  n.attrs = std::move(attrs);
  return n;
}

double gelu(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }

Tensor naive_fused_matmul(const Tensor& a, const Tensor& b, const Tensor* bias, bool trans_b, const std::string& act) {
  int64_t k = a.dim(a.rank() - 1), n = trans_b ? b.dim(0) : b.dim(1), m = a.numel() / k;
  Shape ys = a.shape();
  ys.back() = n;
  Tensor y = Tensor::empty(DType::kFloat, ys);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double acc = bias ? bias->data<float>()[j] : 0.0;
      for (int64_t p = 0; p < k; ++p)
        acc += double(a.data<float>()[i * k + p]) * b.data<float>()[trans_b ? j * k + p : p * n + j];
      if (act == "relu") acc = acc > 0 ? acc : 0;
      if (act == "gelu") acc = gelu(acc);
      y.data<float>()[i * n + j] = static_cast<float>(acc);
    }
  return y;
}

TEST(FusedMatMul, MatchesNaiveOnOddShapesBothPaths) {
  struct Case { Shape a; int64_t n; bool trans_b, bias; const char* act; };
  for (const Case& c : std::vector<Case>{{{3, 13}, 127, false, true, "none"},
                                         {{2, 7, 13}, 19, true, true, "relu"},
                                         {{1, 197, 65}, 33, false, true, "gelu"},
                                         {{13}, 5, false, false, "none"},
                                         {{5, 1, 31}, 17, true, false, "gelu"}}) {
    int64_t k = c.a.back();
    Tensor a = rnd(c.a, 1, -2.f, 2.f);
    Tensor b = c.trans_b ? rnd({c.n, k}, 2) : rnd({k, c.n}, 2);
    Tensor bias = rnd({c.n}, 3);
    Tensor want = naive_fused_matmul(a, b, c.bias ? &bias : nullptr, c.trans_b, c.act);
    std::map<std::string, Attr> attrs = {{"activation", attr_s(c.act)}, {"trans_b", attr_i(c.trans_b)}};
    std::vector<std::string> ins = {"a", "b"};
    std::vector<Tensor> vals = {a, b};
    if (c.bias) {
      ins.push_back("bias");
      vals.push_back(bias);
    }
    for (const char* dnnl : {"1", "0"}) {
      setenv("FERRY_DNNL", dnnl, 1);
      auto out = run_single_op(ferry_node("FusedMatMul", ins, attrs), vals, 13);
      ASSERT_TRUE(out.has_value()) << out.status().to_string();
      expect_near((*out)[0], want, 1e-4, 1e-5);
    }
    unsetenv("FERRY_DNNL");
  }
}

// The residual (4th input) is added after the activation, with and without a bias, on both paths.
TEST(FusedMatMul, ResidualAddedAfterActivationBothPaths) {
  struct Case { Shape a; int64_t n; bool trans_b, bias; const char* act; };
  for (const Case& c : std::vector<Case>{{{1, 128, 64}, 32, false, true, "none"},
                                         {{2, 7, 13}, 19, true, false, "relu"},
                                         {{197, 40}, 24, false, true, "gelu"}}) {
    int64_t k = c.a.back();
    Tensor a = rnd(c.a, 41, -2.f, 2.f);
    Tensor b = c.trans_b ? rnd({c.n, k}, 42) : rnd({k, c.n}, 42);
    Tensor bias = rnd({c.n}, 43);
    Tensor want = naive_fused_matmul(a, b, c.bias ? &bias : nullptr, c.trans_b, c.act);
    Tensor res = rnd(want.shape(), 44, -3.f, 3.f);
    for (int64_t i = 0; i < want.numel(); ++i) want.data<float>()[i] += res.data<float>()[i];
    std::map<std::string, Attr> attrs = {{"activation", attr_s(c.act)}, {"trans_b", attr_i(c.trans_b)}};
    std::vector<std::string> ins = {"a", "b", c.bias ? "bias" : "", "res"};
    std::vector<Tensor> vals = {a, b};
    if (c.bias) vals.push_back(bias);
    vals.push_back(res);
    for (const char* dnnl : {"1", "0"}) {
      setenv("FERRY_DNNL", dnnl, 1);
      auto out = run_single_op(ferry_node("FusedMatMul", ins, attrs), vals, 13);
      unsetenv("FERRY_DNNL");
      ASSERT_TRUE(out.has_value()) << out.status().to_string();
      expect_near((*out)[0], want, 1e-4, 1e-5);
    }
  }
  auto bad = run_single_op(ferry_node("FusedMatMul", {"a", "b", "", "r"}), {rnd({3, 4}, 1), rnd({4, 6}, 2),
                                                                              rnd({3, 5}, 3)}, 13);
  EXPECT_FALSE(bad.has_value());
}

TEST(FusedMatMul, RejectsBadShapes) {
  auto out = run_single_op(ferry_node("FusedMatMul", {"a", "b"}), {rnd({3, 4}, 1), rnd({5, 6}, 2)}, 13);
  EXPECT_FALSE(out.has_value());
  out = run_single_op(ferry_node("FusedMatMul", {"a", "b"}, {{"activation", attr_s("tanh")}}),
                      {rnd({3, 4}, 1), rnd({4, 6}, 2)}, 13);
  EXPECT_FALSE(out.has_value());
}

TEST(LayerNorm, MatchesNaive) {
  for (Shape xs : {Shape{1, 1}, Shape{3, 13}, Shape{2, 5, 127}, Shape{4, 768}}) {
    int64_t c = xs.back(), rows = shape_numel(xs) / c;
    Tensor x = rnd(xs, 4, -5.f, 5.f), g = rnd({c}, 5), b = rnd({c}, 6);
    Tensor want = Tensor::empty(DType::kFloat, xs);
    for (int64_t r = 0; r < rows; ++r) {
      const float* p = x.data<float>() + r * c;
      double mean = 0, var = 0;
      for (int64_t j = 0; j < c; ++j) mean += p[j];
      mean /= c;
      for (int64_t j = 0; j < c; ++j) var += (p[j] - mean) * (p[j] - mean);
      var /= c;
      for (int64_t j = 0; j < c; ++j)
        want.data<float>()[r * c + j] =
            static_cast<float>((p[j] - mean) / std::sqrt(var + 1e-5) * g.data<float>()[j] + b.data<float>()[j]);
    }
    auto out = run_single_op(ferry_node("LayerNorm", {"x", "g", "b"}, {{"epsilon", attr_f(1e-5f)}}), {x, g, b}, 13);
    ASSERT_TRUE(out.has_value()) << out.status().to_string();
    expect_near((*out)[0], want, 1e-4, 1e-5);
  }
  auto bad = run_single_op(ferry_node("LayerNorm", {"x", "g"}), {rnd({2, 3}, 1), rnd({4}, 2)}, 13);
  EXPECT_FALSE(bad.has_value());
}

TEST(Gelu, MatchesErfForm) {
  Tensor x = rnd({3, 1001}, 7, -8.f, 8.f);
  Tensor want = Tensor::empty(DType::kFloat, x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) want.data<float>()[i] = static_cast<float>(gelu(x.data<float>()[i]));
  auto out = run_single_op(ferry_node("Gelu", {"x"}), {x}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], want, 1e-5, 1e-6);
}

TEST(SdpAttention, MatchesNaiveIncludingBroadcastBatch) {
  struct Case { int64_t nq, nk, nv, s, t, d, dv; };
  for (const Case& c : std::vector<Case>{{4, 4, 4, 13, 13, 8, 8}, {3, 1, 3, 1, 127, 5, 7}, {1, 2, 2, 9, 3, 4, 6}}) {
    int64_t n = std::max({c.nq, c.nk, c.nv});
    Tensor q = rnd({c.nq, c.s, c.d}, 8, -3.f, 3.f), kt = rnd({c.nk, c.d, c.t}, 9, -3.f, 3.f),
           v = rnd({c.nv, c.t, c.dv}, 10);
    float scale = 0.35f;
    Tensor want = Tensor::empty(DType::kFloat, {n, c.s, c.dv});
    for (int64_t b = 0; b < n; ++b) {
      const float* pq = q.data<float>() + (c.nq == 1 ? 0 : b) * c.s * c.d;
      const float* pk = kt.data<float>() + (c.nk == 1 ? 0 : b) * c.d * c.t;
      const float* pv = v.data<float>() + (c.nv == 1 ? 0 : b) * c.t * c.dv;
      for (int64_t i = 0; i < c.s; ++i) {
        std::vector<double> sc(static_cast<size_t>(c.t));
        double mx = -1e300, sum = 0;
        for (int64_t j = 0; j < c.t; ++j) {
          double acc = 0;
          for (int64_t p = 0; p < c.d; ++p) acc += double(pq[i * c.d + p]) * pk[p * c.t + j];
          sc[j] = acc * scale;
          mx = std::max(mx, sc[j]);
        }
        for (auto& e : sc) sum += (e = std::exp(e - mx));
        for (int64_t o = 0; o < c.dv; ++o) {
          double acc = 0;
          for (int64_t j = 0; j < c.t; ++j) acc += sc[j] / sum * pv[j * c.dv + o];
          want.data<float>()[(b * c.s + i) * c.dv + o] = static_cast<float>(acc);
        }
      }
    }
    auto out = run_single_op(ferry_node("SdpAttention", {"q", "kt", "v"}, {{"scale", attr_f(scale)}}), {q, kt, v}, 13);
    ASSERT_TRUE(out.has_value()) << out.status().to_string();
    expect_near((*out)[0], want, 1e-4, 1e-5);
  }
}

// Naive seq-major attention: Q [S,N,d], K [T,N,d], V [T,N,dv] -> Y [S,N,dv].
Tensor naive_seq_attention(const Tensor& q, const Tensor& k, const Tensor& v, float scale) {
  int64_t s = q.dim(0), n = q.dim(1), d = q.dim(2), t = k.dim(0), dv = v.dim(2);
  Tensor y = Tensor::empty(DType::kFloat, {s, n, dv});
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < s; ++i) {
      std::vector<double> sc(static_cast<size_t>(t));
      double mx = -1e300, sum = 0;
      for (int64_t j = 0; j < t; ++j) {
        double acc = 0;
        for (int64_t p = 0; p < d; ++p) acc += double(q.data<float>()[(i * n + b) * d + p]) * k.data<float>()[(j * n + b) * d + p];
        sc[j] = acc * scale;
        mx = std::max(mx, sc[j]);
      }
      for (auto& e : sc) sum += (e = std::exp(e - mx));
      for (int64_t o = 0; o < dv; ++o) {
        double acc = 0;
        for (int64_t j = 0; j < t; ++j) acc += sc[j] / sum * v.data<float>()[(j * n + b) * dv + o];
        y.data<float>()[(i * n + b) * dv + o] = static_cast<float>(acc);
      }
    }
  return y;
}

// The AVX-512 path's tile edges: key counts around multiples of 16/64, dv with a masked tail, more heads than
// threads and fewer (rows split), query blocks with 1..3 leftover rows.
TEST(SdpAttention, SeqMajorTileEdges) {
  struct Case { int64_t s, n, t, d, dv; };
  for (const Case& c : std::vector<Case>{{197, 3, 197, 64, 64}, {13, 1, 65, 8, 40}, {17, 2, 16, 5, 17},
                                         {1, 4, 300, 64, 96}, {35, 1, 31, 64, 64}}) {
    Tensor q = rnd({c.s, c.n, c.d}, 11, -2.f, 2.f), k = rnd({c.t, c.n, c.d}, 12, -2.f, 2.f),
           v = rnd({c.t, c.n, c.dv}, 13);
    auto out = run_single_op(
        ferry_node("SdpAttention", {"q", "k", "v"}, {{"scale", attr_f(0.125f)}, {"seq_major", attr_i(1)}}), {q, k, v},
        13);
    ASSERT_TRUE(out.has_value()) << out.status().to_string();
    expect_near((*out)[0], naive_seq_attention(q, k, v, 0.125f), 1e-4, 1e-5);
  }
}

// Rows with NaN/inf scores follow the reference (double-precision) softmax on every path.
TEST(SdpAttention, NonFiniteRowsMatchReferencePath) {
  Tensor q = rnd({20, 2, 16}, 21), k = rnd({33, 2, 16}, 22), v = rnd({33, 2, 16}, 23);
  q.data<float>()[3 * 2 * 16 + 5] = std::nanf("");
  q.data<float>()[7 * 2 * 16 + 1] = INFINITY;
  k.data<float>()[(4 * 2 + 1) * 16 + 2] = -INFINITY;
  Node n = ferry_node("SdpAttention", {"q", "k", "v"}, {{"scale", attr_f(0.5f)}, {"seq_major", attr_i(1)}});
  auto fast = run_single_op(n, {q, k, v}, 13);
  ASSERT_TRUE(fast.has_value()) << fast.status().to_string();
  setenv("FERRY_DNNL", "0", 1);
  auto ref = run_single_op(n, {q, k, v}, 13);
  unsetenv("FERRY_DNNL");
  ASSERT_TRUE(ref.has_value()) << ref.status().to_string();
  expect_near((*fast)[0], (*ref)[0], 1e-4, 1e-5);
}

// Split heads: Q/K/V read as heads of packed projections [L, N, C] at column offsets; checked against the plain
// seq-major kernel on copies of the heads ([L, N*H, w]), on the fast and the reference (FERRY_DNNL=0) paths.
Tensor take_heads(const Tensor& p, int64_t off, int64_t h, int64_t w) {
  int64_t l = p.dim(0), n = p.dim(1), c = p.dim(2);
  Tensor y = Tensor::empty(DType::kFloat, {l, n * h, w});
  for (int64_t i = 0; i < l; ++i)
    for (int64_t b = 0; b < n * h; ++b)
      for (int64_t e = 0; e < w; ++e)
        y.data<float>()[(i * n * h + b) * w + e] = p.data<float>()[(i * n + b / h) * c + off + (b % h) * w + e];
  return y;
}

TEST(SdpAttention, SplitHeadsMatchesCopiedHeads) {
  struct Case { int64_t s, t, n, h, d, dv, oq, ok, ov, cq, ck, cv; };
  for (const Case& c : std::vector<Case>{{197, 197, 1, 12, 64, 64, 0, 768, 1536, 2304, 2304, 2304},
                                         {13, 21, 3, 2, 8, 5, 3, 0, 16, 20, 16, 27},
                                         {5, 7, 2, 3, 4, 4, 0, 12, 24, 36, 36, 36}}) {
    Tensor q = rnd({c.s, c.n, c.cq}, 31, -2.f, 2.f), k = rnd({c.t, c.n, c.ck}, 32, -2.f, 2.f),
           v = rnd({c.t, c.n, c.cv}, 33);
    Tensor want = naive_seq_attention(take_heads(q, c.oq, c.h, c.d), take_heads(k, c.ok, c.h, c.d),
                                      take_heads(v, c.ov, c.h, c.dv), 0.125f);
    Node n = ferry_node("SdpAttention", {"q", "k", "v"},
                        {{"scale", attr_f(0.125f)}, {"seq_major", attr_i(1)}, {"num_heads", attr_i(c.h)},
                         {"head_dim", attr_i(c.d)}, {"v_head_dim", attr_i(c.dv)}, {"offsets", attr_ints({c.oq, c.ok, c.ov})}});
    for (const char* dnnl : {"1", "0"}) {
      setenv("FERRY_DNNL", dnnl, 1);
      auto out = run_single_op(n, {q, k, v}, 13);
      unsetenv("FERRY_DNNL");
      ASSERT_TRUE(out.has_value()) << out.status().to_string();
      EXPECT_EQ((*out)[0].shape(), (Shape{c.s, c.n, c.h * c.dv}));
      expect_near((*out)[0].reshaped({c.s, c.n * c.h, c.dv}), want, 1e-4, 1e-5);
    }
  }
}

TEST(SdpAttention, SplitHeadsRejectsHeadsOutsideTheRows) {
  Tensor q = rnd({4, 1, 12}, 1), k = rnd({4, 1, 12}, 2), v = rnd({4, 1, 12}, 3);
  auto node = [](int64_t h, std::vector<int64_t> off) {
    return ferry_node("SdpAttention", {"q", "k", "v"},
                      {{"seq_major", attr_i(1)}, {"num_heads", attr_i(h)}, {"head_dim", attr_i(4)},
                       {"offsets", attr_ints(std::move(off))}});
  };
  EXPECT_TRUE(run_single_op(node(3, {0, 0, 0}), {q, k, v}, 13).has_value());
  auto bad = run_single_op(node(3, {0, 4, 0}), {q, k, v}, 13);
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.status().message().find("SdpAttention"), std::string::npos) << bad.status().to_string();
  EXPECT_FALSE(run_single_op(node(2, {0, 0}), {q, k, v}, 13).has_value());
  EXPECT_FALSE(run_single_op(node(2, {-1, 0, 0}), {q, k, v}, 13).has_value());
}

}  // namespace
}  // namespace ferry::test
