// matmul_test.cc — MatMul, Gemm, Einsum, Det reference kernels and the sgemm fast path vs its oracle.
#include <cmath>
#include <random>

#include "backends/cpu/kernels/gemm.h"
#include "ops/op_test_util.h"

namespace ferry::test {
namespace {

std::vector<float> iota_f(int64_t n, float start = 1.f, float step = 1.f) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = start + step * i;
  return v;
}

TEST(MatmulFamily, MatMul2D) {
  Node n = Node::make("MatMul", {"a", "b"}, {"y"});
  auto out = run_single_op(n, {fvec({2, 3}, {1, 2, 3, 4, 5, 6}), fvec({3, 2}, {7, 8, 9, 10, 11, 12})}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({2, 2}, {58, 64, 139, 154}));
}

TEST(MatmulFamily, MatMul1D1D) {
  Node n = Node::make("MatMul", {"a", "b"}, {"y"});
  auto out = run_single_op(n, {fvec({3}, {1, 2, 3}), fvec({3}, {4, 5, 6})}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({}, {32}));
}

TEST(MatmulFamily, MatMul1DAnd3D) {
  // [2] x [2,2,3] -> [2,3]
  Node n = Node::make("MatMul", {"a", "b"}, {"y"});
  auto out = run_single_op(n, {fvec({2}, {1, 2}), fvec({2, 2, 3}, iota_f(12))}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  // batch0: [1,2,3;4,5,6] -> 1*[1,2,3]+2*[4,5,6] = [9,12,15]; batch1: [7,8,9]+2*[10,11,12] = [27,30,33]
  expect_near((*out)[0], fvec({2, 3}, {9, 12, 15, 27, 30, 33}));
}

TEST(MatmulFamily, MatMulBroadcastBatch) {
  // [2,1,1,2] x [3,2,1] -> [2,3,1,1]
  Node n = Node::make("MatMul", {"a", "b"}, {"y"});
  auto out = run_single_op(n, {fvec({2, 1, 1, 2}, {1, 2, 3, 4}), fvec({3, 2, 1}, {1, 1, 2, 0, 0, 3})}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({2, 3, 1, 1}, {3, 2, 6, 7, 6, 12}));
}

TEST(MatmulFamily, MatMulInt64AndDouble) {
  Node n = Node::make("MatMul", {"a", "b"}, {"y"});
  auto out = run_single_op(n, {ivec({1, 2}, {3, -4}), ivec({2, 1}, {5, 6})}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], ivec({1, 1}, {-9}));
  Tensor a = Tensor::from_vector<double>(DType::kDouble, {1, 2}, {0.5, 0.25});
  Tensor b = Tensor::from_vector<double>(DType::kDouble, {2, 1}, {2, 4});
  auto out2 = run_single_op(Node::make("MatMul", {"a", "b"}, {"y"}), {a, b}, 13);
  ASSERT_TRUE(out2.has_value());
  expect_near((*out2)[0], Tensor::from_vector<double>(DType::kDouble, {1, 1}, {2.0}));
}

TEST(MatmulFamily, MatMulOddShapesMatchReference) {
  // [3,13,127] x [127,5] goes through the stacked-M sgemm; [2,1,7,9] x [3,9,11] through per-batch sgemm.
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1, 1);
  auto rnd = [&](Shape s) {
    Tensor t = Tensor::empty(DType::kFloat, s);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
    return t;
  };
  for (auto [as, bs] : std::vector<std::pair<Shape, Shape>>{{{3, 13, 127}, {127, 5}}, {{2, 1, 7, 9}, {3, 9, 11}}}) {
    Tensor a = rnd(as), b = rnd(bs);
    auto out = run_single_op(Node::make("MatMul", {"a", "b"}, {"y"}), {a, b}, 13);
    ASSERT_TRUE(out.has_value()) << out.status().to_string();
    // Same product in double through the typed reference path.
    Tensor ad = Tensor::empty(DType::kDouble, as), bd = Tensor::empty(DType::kDouble, bs);
    for (int64_t i = 0; i < a.numel(); ++i) ad.data<double>()[i] = a.data<float>()[i];
    for (int64_t i = 0; i < b.numel(); ++i) bd.data<double>()[i] = b.data<float>()[i];
    auto ref = run_single_op(Node::make("MatMul", {"a", "b"}, {"y"}), {ad, bd}, 13);
    ASSERT_TRUE(ref.has_value());
    Tensor reff = Tensor::empty(DType::kFloat, (*ref)[0].shape());
    for (int64_t i = 0; i < reff.numel(); ++i) reff.data<float>()[i] = static_cast<float>((*ref)[0].data<double>()[i]);
    expect_near((*out)[0], reff, 1e-4, 1e-5);
  }
}

TEST(MatmulFamily, SgemmMatchesReferenceOnOddShapes) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1, 1);
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      int64_t m = 13, n = 17, k = 127;
      std::vector<float> a(m * k), b(k * n), c1(m * n), c2(m * n);
      for (auto& v : a) v = u(rng);
      for (auto& v : b) v = u(rng);
      for (size_t i = 0; i < c1.size(); ++i) c1[i] = c2[i] = u(rng);
      int64_t lda = ta ? m : k, ldb = tb ? k : n;
      sgemm(ta, tb, m, n, k, 0.5f, a.data(), lda, b.data(), ldb, 2.f, c1.data(), n);
      sgemm_reference(ta, tb, m, n, k, 0.5f, a.data(), lda, b.data(), ldb, 2.f, c2.data(), n);
      for (size_t i = 0; i < c1.size(); ++i) EXPECT_NEAR(c1[i], c2[i], 1e-4) << ta << tb << " at " << i;
    }
  // beta = 0 must ignore NaN garbage in C.
  std::vector<float> a = {1, 2}, b = {3, 4}, c = {NAN};
  sgemm(false, false, 1, 1, 2, 1.f, a.data(), 2, b.data(), 1, 0.f, c.data(), 1);
  EXPECT_FLOAT_EQ(c[0], 11.f);
}

TEST(MatmulFamily, MatMulErrors) {
  auto out = run_single_op(Node::make("MatMul", {"a", "b"}, {"y"}), {fvec({2, 3}, iota_f(6)), fvec({2, 3}, iota_f(6))}, 13);
  EXPECT_FALSE(out.has_value());
}

TEST(MatmulFamily, GemmAllAttributes) {
  // A^T with A [3,2], B^T with B [4,3], C [1,4] broadcast along M.
  Node n = Node::make("Gemm", {"a", "b", "c"}, {"y"});
  n.attrs["transA"] = attr_i(1);
  n.attrs["transB"] = attr_i(1);
  n.attrs["alpha"] = attr_f(0.5f);
  n.attrs["beta"] = attr_f(2.f);
  Tensor a = fvec({3, 2}, {1, 2, 3, 4, 5, 6});  // A^T = [[1,3,5],[2,4,6]]
  Tensor b = fvec({4, 3}, {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1});  // B^T columns: e0,e1,e2,(1,1,1)
  Tensor c = fvec({1, 4}, {1, 2, 3, 4});
  auto out = run_single_op(n, {a, b, c}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  // A^T B^T = [[1,3,5,9],[2,4,6,12]] ; *0.5 + 2*C
  expect_near((*out)[0], fvec({2, 4}, {2.5, 5.5, 8.5, 12.5, 3, 6, 9, 14}));
}

TEST(MatmulFamily, GemmNoCAndInt) {
  Node n = Node::make("Gemm", {"a", "b"}, {"y"});
  auto out = run_single_op(n, {fvec({1, 2}, {1, 2}), fvec({2, 3}, {1, 2, 3, 4, 5, 6})}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 3}, {9, 12, 15}));
  Node ni = Node::make("Gemm", {"a", "b", "c"}, {"y"});
  auto outi = run_single_op(ni, {ivec({1, 2}, {1, 2}), ivec({2, 1}, {3, 4}), ivec({}, {5})}, 13);
  ASSERT_TRUE(outi.has_value()) << outi.status().to_string();
  expect_near((*outi)[0], ivec({1, 1}, {16}));
}

TEST(MatmulFamily, GemmBadC) {
  Node n = Node::make("Gemm", {"a", "b", "c"}, {"y"});
  auto out = run_single_op(n, {fvec({2, 2}, iota_f(4)), fvec({2, 2}, iota_f(4)), fvec({3}, iota_f(3))}, 13);
  EXPECT_FALSE(out.has_value());
}

TEST(MatmulFamily, EinsumBatchMatmulTransposeTraceSum) {
  {
    Node n = Node::make("Einsum", {"a", "b"}, {"y"});
    n.attrs["equation"] = attr_s("bij, bjk -> bik");
    auto out = run_single_op(n, {fvec({1, 2, 2}, {1, 2, 3, 4}), fvec({1, 2, 1}, {1, 1})}, 12);
    ASSERT_TRUE(out.has_value()) << out.status().to_string();
    expect_near((*out)[0], fvec({1, 2, 1}, {3, 7}));
  }
  {
    Node n = Node::make("Einsum", {"a"}, {"y"});
    n.attrs["equation"] = attr_s("ji");  // implicit: output "ij" = transpose
    auto out = run_single_op(n, {fvec({2, 3}, iota_f(6))}, 12);
    ASSERT_TRUE(out.has_value()) << out.status().to_string();
    expect_near((*out)[0], fvec({3, 2}, {1, 4, 2, 5, 3, 6}));
  }
  {
    Node n = Node::make("Einsum", {"a"}, {"y"});
    n.attrs["equation"] = attr_s("...ii->...i");  // batch diagonal
    auto out = run_single_op(n, {fvec({2, 2, 2}, iota_f(8))}, 12);
    ASSERT_TRUE(out.has_value()) << out.status().to_string();
    expect_near((*out)[0], fvec({2, 2}, {1, 4, 5, 8}));
  }
  {
    Node n = Node::make("Einsum", {"a"}, {"y"});
    n.attrs["equation"] = attr_s("ij->");
    auto out = run_single_op(n, {fvec({2, 3}, iota_f(6))}, 12);
    ASSERT_TRUE(out.has_value()) << out.status().to_string();
    expect_near((*out)[0], fvec({}, {21}));
  }
  {
    Node n = Node::make("Einsum", {"a", "b"}, {"y"});
    n.attrs["equation"] = attr_s("i,i");  // inner product
    auto out = run_single_op(n, {fvec({3}, {1, 2, 3}), fvec({3}, {1, 0, 2})}, 12);
    ASSERT_TRUE(out.has_value()) << out.status().to_string();
    expect_near((*out)[0], fvec({}, {7}));
  }
}

TEST(MatmulFamily, EinsumErrors) {
  Node n = Node::make("Einsum", {"a"}, {"y"});
  n.attrs["equation"] = attr_s("ijk->i");  // rank mismatch
  EXPECT_FALSE(run_single_op(n, {fvec({2, 3}, iota_f(6))}, 12).has_value());
  Node m = Node::make("Einsum", {"a", "b"}, {"y"});
  m.attrs["equation"] = attr_s("ij,jk->ik");
  EXPECT_FALSE(run_single_op(m, {fvec({2, 3}, iota_f(6)), fvec({2, 3}, iota_f(6))}, 12).has_value());
}

TEST(MatmulFamily, Det) {
  Node n = Node::make("Det", {"x"}, {"y"});
  auto out = run_single_op(n, {fvec({2, 2, 2}, {1, 2, 3, 4, 0, 1, 1, 0})}, 11);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({2}, {-2, -1}));
  auto out3 = run_single_op(n, {fvec({3, 3}, {2, 0, 1, 1, 3, 2, 1, 1, 2})}, 11);
  ASSERT_TRUE(out3.has_value());
  expect_near((*out3)[0], fvec({}, {6}), 1e-5, 1e-5);  // 2*(6-2) + 1*(1-3)
}

TEST(MatmulFamily, DetNotSquare) {
  Node n = Node::make("Det", {"x"}, {"y"});
  EXPECT_FALSE(run_single_op(n, {fvec({2, 3}, iota_f(6))}, 11).has_value());
}

}  // namespace
}  // namespace ferry::test
