// reduce_test.cc — ReduceX, ArgMax/ArgMin, CumSum/CumProd reference kernels (values from the ONNX spec examples
// or computed by hand; odd shapes checked against naive loops in the test).
#include <cmath>
#include <cstdint>

#include "ops/op_test_util.h"

namespace ferry::test {
namespace {

Tensor data_3x2x2() { return fvec({3, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}); }

Node reduce_node(const std::string& op, bool axes_input, std::map<std::string, Attr> attrs = {}) {
  Node n = Node::make(op, axes_input ? std::vector<std::string>{"x", "axes"} : std::vector<std::string>{"x"}, {"y"});
  n.attrs = std::move(attrs);
  return n;
}

TEST(ReduceFamily, SumAxesInputKeepdims) {
  auto out = run_single_op(reduce_node("ReduceSum", true), {data_3x2x2(), ivec({1}, {1})}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({3, 1, 2}, {4, 6, 12, 14, 20, 22}));
}

TEST(ReduceFamily, SumAxesAttributeOldOpset) {
  auto out = run_single_op(reduce_node("ReduceSum", false, {{"axes", attr_ints({-2})}, {"keepdims", attr_i(0)}}),
                           {data_3x2x2()}, 11);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({3, 2}, {4, 6, 12, 14, 20, 22}));
}

TEST(ReduceFamily, MeanNoKeepdims) {
  auto out = run_single_op(reduce_node("ReduceMean", true, {{"keepdims", attr_i(0)}}),
                           {data_3x2x2(), ivec({1}, {1})}, 18);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({3, 2}, {2, 3, 6, 7, 10, 11}));
}

TEST(ReduceFamily, MaxDefaultAxesAllOpset13) {
  auto out = run_single_op(reduce_node("ReduceMax", false), {data_3x2x2()}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 1}, {12}));
}

TEST(ReduceFamily, MinUint8AndBool) {
  Tensor u = Tensor::from_vector<uint8_t>(DType::kUInt8, {2, 3}, {7, 3, 9, 200, 255, 1});
  auto out = run_single_op(reduce_node("ReduceMin", true, {{"keepdims", attr_i(0)}}), {u, ivec({1}, {1})}, 18);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], Tensor::from_vector<uint8_t>(DType::kUInt8, {2}, {3, 1}));

  Tensor b = Tensor::from_vector<bool>(DType::kBool, {2, 2}, {true, false, true, true});
  auto mn = run_single_op(reduce_node("ReduceMin", true), {b, ivec({1}, {1})}, 20);
  ASSERT_TRUE(mn.has_value()) << mn.status().to_string();
  expect_near((*mn)[0], Tensor::from_vector<bool>(DType::kBool, {2, 1}, {false, true}));
  auto mx = run_single_op(reduce_node("ReduceMax", true), {b, ivec({1}, {0})}, 20);
  ASSERT_TRUE(mx.has_value()) << mx.status().to_string();
  expect_near((*mx)[0], Tensor::from_vector<bool>(DType::kBool, {1, 2}, {true, true}));
}

TEST(ReduceFamily, EmptySetValues) {
  Tensor x = Tensor::zeros(DType::kFloat, {2, 0, 4});
  struct Case { const char* op; float v; };
  for (Case c : {Case{"ReduceSum", 0.f}, Case{"ReduceProd", 1.f}, Case{"ReduceL2", 0.f},
                 Case{"ReduceMin", INFINITY}, Case{"ReduceMax", -INFINITY}, Case{"ReduceLogSumExp", -INFINITY},
                 Case{"ReduceLogSum", -INFINITY}}) {
    auto out = run_single_op(reduce_node(c.op, true), {x, ivec({1}, {1})}, 18);
    ASSERT_TRUE(out.has_value()) << c.op << ": " << out.status().to_string();
    expect_near((*out)[0], fvec({2, 1, 4}, std::vector<float>(8, c.v)));
  }
  // Zero-size kept axis: output is empty.
  auto z = run_single_op(reduce_node("ReduceSum", true), {x, ivec({1}, {2})}, 18);
  ASSERT_TRUE(z.has_value()) << z.status().to_string();
  EXPECT_EQ((*z)[0].shape(), (Shape{2, 0, 1}));
}

TEST(ReduceFamily, NormsAndLogs) {
  auto l2 = run_single_op(reduce_node("ReduceL2", false, {{"keepdims", attr_i(0)}}), {fvec({2}, {3, 4})}, 13);
  ASSERT_TRUE(l2.has_value()) << l2.status().to_string();
  expect_near((*l2)[0], fvec({}, {5}));
  auto l1 = run_single_op(reduce_node("ReduceL1", true, {{"keepdims", attr_i(0)}}),
                          {fvec({2}, {-1, 2}), ivec({1}, {0})}, 18);
  ASSERT_TRUE(l1.has_value()) << l1.status().to_string();
  expect_near((*l1)[0], fvec({}, {3}));
  auto ss = run_single_op(reduce_node("ReduceSumSquare", false), {fvec({3}, {1, 2, 3})}, 13);
  ASSERT_TRUE(ss.has_value()) << ss.status().to_string();
  expect_near((*ss)[0], fvec({1}, {14}));
  auto ls = run_single_op(reduce_node("ReduceLogSum", false), {fvec({3}, {1, 2, 3})}, 13);
  ASSERT_TRUE(ls.has_value()) << ls.status().to_string();
  expect_near((*ls)[0], fvec({1}, {std::log(6.f)}));
  // log(e^1000 + e^1001) = 1001 + log(1 + e^-1), must not overflow.
  auto lse = run_single_op(reduce_node("ReduceLogSumExp", false), {fvec({2}, {1000, 1001})}, 13);
  ASSERT_TRUE(lse.has_value()) << lse.status().to_string();
  expect_near((*lse)[0], fvec({1}, {1001.31326169f}));
}

TEST(ReduceFamily, NoopWithEmptyAxes) {
  Tensor empty_axes = Tensor::from_vector<int64_t>(DType::kInt64, {0}, {});
  auto out = run_single_op(reduce_node("ReduceSum", true, {{"noop_with_empty_axes", attr_i(1)}}),
                           {data_3x2x2(), empty_axes}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], data_3x2x2());
  // Without the flag an empty axes list reduces everything.
  auto all = run_single_op(reduce_node("ReduceSum", true, {{"keepdims", attr_i(0)}}), {data_3x2x2(), empty_axes}, 13);
  ASSERT_TRUE(all.has_value()) << all.status().to_string();
  expect_near((*all)[0], fvec({}, {78}));
}

TEST(ReduceFamily, Int64SumIsExact) {
  int64_t big = int64_t(1) << 60;
  auto out = run_single_op(reduce_node("ReduceSum", false, {{"keepdims", attr_i(0)}}), {ivec({3}, {big, 1, 2})}, 11);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  EXPECT_EQ((*out)[0].data<int64_t>()[0], big + 3);
  auto pr = run_single_op(reduce_node("ReduceProd", false), {ivec({2, 2}, {2, 3, 4, 5})}, 13);
  ASSERT_TRUE(pr.has_value()) << pr.status().to_string();
  expect_near((*pr)[0], ivec({1, 1}, {120}));
}

TEST(ReduceFamily, OddShapesAgainstNaiveLoops) {
  // [3, 13, 127]: reduce the last axis (float fast path), the first, and the outer two.
  const int64_t A = 3, B = 13, C = 127;
  std::vector<float> v(A * B * C);
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(0.37f * static_cast<float>(i)) * 3.0f;
  Tensor x = fvec({A, B, C}, v);
  auto last = run_single_op(reduce_node("ReduceMean", true, {{"keepdims", attr_i(0)}}), {x, ivec({1}, {-1})}, 18);
  ASSERT_TRUE(last.has_value()) << last.status().to_string();
  std::vector<float> e_last(A * B);
  for (int64_t a = 0; a < A; ++a)
    for (int64_t b = 0; b < B; ++b) {
      double s = 0;
      for (int64_t c = 0; c < C; ++c) s += v[(a * B + b) * C + c];
      e_last[a * B + b] = static_cast<float>(s / C);
    }
  expect_near((*last)[0], fvec({A, B}, e_last), 1e-4, 1e-5);

  auto outer = run_single_op(reduce_node("ReduceMax", true), {x, ivec({2}, {0, 1})}, 18);
  ASSERT_TRUE(outer.has_value()) << outer.status().to_string();
  std::vector<float> e_outer(C, -INFINITY);
  for (int64_t a = 0; a < A; ++a)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t c = 0; c < C; ++c) e_outer[c] = std::max(e_outer[c], v[(a * B + b) * C + c]);
  expect_near((*outer)[0], fvec({1, 1, C}, e_outer));

  // float Sum over the middle axis and Mean over the two outer axes (row-accumulating fast path).
  auto msum = run_single_op(reduce_node("ReduceSum", true, {{"keepdims", attr_i(0)}}), {x, ivec({1}, {1})}, 13);
  ASSERT_TRUE(msum.has_value()) << msum.status().to_string();
  std::vector<float> e_msum(A * C, 0), e_omean(C, 0);
  for (int64_t a = 0; a < A; ++a)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t c = 0; c < C; ++c) {
        e_msum[a * C + c] += v[(a * B + b) * C + c];
        e_omean[c] += v[(a * B + b) * C + c] / (A * B);
      }
  expect_near((*msum)[0], fvec({A, C}, e_msum), 1e-4, 1e-4);
  auto omean = run_single_op(reduce_node("ReduceMean", true), {x, ivec({2}, {1, 0})}, 18);
  ASSERT_TRUE(omean.has_value()) << omean.status().to_string();
  expect_near((*omean)[0], fvec({1, 1, C}, e_omean), 1e-4, 1e-5);

  auto mid = run_single_op(reduce_node("ReduceSumSquare", true), {x, ivec({2}, {0, 2})}, 18);
  ASSERT_TRUE(mid.has_value()) << mid.status().to_string();
  std::vector<float> e_mid(B, 0);
  for (int64_t a = 0; a < A; ++a)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t c = 0; c < C; ++c) e_mid[b] += v[(a * B + b) * C + c] * v[(a * B + b) * C + c];
  expect_near((*mid)[0], fvec({1, B, 1}, e_mid), 1e-4, 1e-4);
}

TEST(ReduceFamily, Errors) {
  auto bad = run_single_op(reduce_node("ReduceSum", true), {data_3x2x2(), ivec({1}, {3})}, 13);
  EXPECT_FALSE(bad.has_value());
  auto dup = run_single_op(reduce_node("ReduceMean", true), {data_3x2x2(), ivec({2}, {1, -2})}, 18);
  EXPECT_FALSE(dup.has_value());
  auto arg = run_single_op(Node::make("ArgMax", {"x"}, {"y"}), {Tensor::zeros(DType::kFloat, {0, 3})}, 13);
  EXPECT_FALSE(arg.has_value());
  auto cum = run_single_op(Node::make("CumSum", {"x", "axis"}, {"y"}), {fvec({3}, {1, 2, 3}), ivec({}, {1})}, 14);
  EXPECT_FALSE(cum.has_value());
}

TEST(ReduceFamily, ArgMaxArgMin) {
  Node n = Node::make("ArgMax", {"x"}, {"y"});
  n.attrs["axis"] = attr_i(1);
  auto out = run_single_op(n, {fvec({2, 2}, {2, 1, 3, 10})}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], ivec({2, 1}, {0, 1}));

  n.attrs["select_last_index"] = attr_i(1);
  n.attrs["keepdims"] = attr_i(0);
  out = run_single_op(n, {fvec({2, 2}, {2, 2, 3, 10})}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], ivec({2}, {1, 1}));

  Node m = Node::make("ArgMin", {"x"}, {"y"});  // default axis 0, keepdims 1; ties -> first index
  auto mo = run_single_op(m, {fvec({3, 2}, {2, 1, 1, 10, 1, 0})}, 13);
  ASSERT_TRUE(mo.has_value()) << mo.status().to_string();
  expect_near((*mo)[0], ivec({1, 2}, {1, 2}));
}

TEST(ReduceFamily, CumSumVariants) {
  Tensor x = fvec({5}, {1, 2, 3, 4, 5});
  struct Case { int ex, rev; std::vector<float> want; };
  for (const Case& c : {Case{0, 0, {1, 3, 6, 10, 15}}, Case{1, 0, {0, 1, 3, 6, 10}}, Case{0, 1, {15, 14, 12, 9, 5}},
                        Case{1, 1, {14, 12, 9, 5, 0}}}) {
    Node n = Node::make("CumSum", {"x", "axis"}, {"y"});
    n.attrs["exclusive"] = attr_i(c.ex);
    n.attrs["reverse"] = attr_i(c.rev);
    auto out = run_single_op(n, {x, ivec({}, {0})}, 14);
    ASSERT_TRUE(out.has_value()) << out.status().to_string();
    expect_near((*out)[0], fvec({5}, c.want));
  }
  // int32 2-D along axis 1 with an int32 axis.
  Tensor xi = Tensor::from_vector<int32_t>(DType::kInt32, {2, 3}, {1, 2, 3, 4, 5, 6});
  auto out = run_single_op(Node::make("CumSum", {"x", "axis"}, {"y"}),
                           {xi, Tensor::from_vector<int32_t>(DType::kInt32, {1}, {-1})}, 14);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], Tensor::from_vector<int32_t>(DType::kInt32, {2, 3}, {1, 3, 6, 4, 9, 15}));
}

TEST(ReduceFamily, CumProd) {
  Node n = Node::make("CumProd", {"x", "axis"}, {"y"});
  auto out = run_single_op(n, {fvec({2, 3}, {1, 2, 3, 4, 5, 6}), ivec({}, {0})}, 26);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({2, 3}, {1, 2, 3, 4, 10, 18}));
  n.attrs["exclusive"] = attr_i(1);
  out = run_single_op(n, {fvec({5}, {1, 2, 3, 4, 5}), ivec({}, {0})}, 26);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({5}, {1, 1, 2, 6, 24}));
}

}  // namespace
}  // namespace ferry::test
