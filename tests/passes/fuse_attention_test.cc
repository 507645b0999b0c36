#include <cmath>

#include "passes/fuse_transformer.h"
#include "passes/pass_test_util.h"

namespace ferry::test {
namespace {

// Div(Q, c) -> MatMul(., KT) -> Softmax(-1) -> MatMul(., V), as nn.MultiheadAttention exports it.
Model attention_model(int64_t n, int64_t s, int64_t t, int64_t d, int64_t dv, bool scale_scores) {
  Model m = make_model({"q", "kt", "v"}, {{"q", ftype({n, s, d})}, {"kt", ftype({n, d, t})}, {"v", ftype({n, t, dv})}},
                       {"y"});
  Graph& g = m.graph;
  add_init(g, "c", fvec({}, {8.f}));
  if (scale_scores) {
    add_node(g, "MatMul", {"q", "kt"}, {"raw"});
    add_node(g, "Div", {"raw", "c"}, {"sc"});
  } else {
    add_node(g, "Div", {"q", "c"}, {"qs"});
    add_node(g, "MatMul", {"qs", "kt"}, {"sc"});
  }
  add_node(g, "Softmax", {"sc"}, {"p"}, {{"axis", attr_i(-1)}});
  add_node(g, "MatMul", {"p", "v"}, {"y"});
  return m;
}

TEST(FuseAttention, RewritesAndMatches) {
  for (bool scale_scores : {false, true}) {
    for (auto [n, s, t, d, dv] : std::vector<std::array<int64_t, 5>>{{4, 13, 13, 8, 8}, {3, 1, 127, 5, 7}}) {
      Model m = attention_model(n, s, t, d, dv, scale_scores);
      Model opt = m;
      run_passes(opt, passes(std::make_unique<RulePass>(make_fuse_attention_rule())));
      ASSERT_EQ(opt.graph.nodes.size(), 1u);
      EXPECT_EQ(opt.graph.nodes[0].op_type, "SdpAttention");
      EXPECT_FLOAT_EQ(opt.graph.nodes[0].attr_float("scale", 0), 0.125f);
      expect_same_outputs(m, opt,
                          {random_floats({n, s, d}, 1, -2.f, 2.f), random_floats({n, d, t}, 2, -2.f, 2.f),
                           random_floats({n, t, dv}, 3)},
                          1e-4, 1e-5);
    }
  }
}

// torch's layout: Q0 [S,N,d], K0 [T,N,d], V0 [T,N,dv] transposed in, Y transposed back to [S,N,dv].
TEST(FuseAttention, AbsorbsSurroundingTransposes) {
  int64_t n = 3, s = 13, t = 13, d = 8, dv = 8;
  Model m = make_model({"q0", "k0", "v0"},
                       {{"q0", ftype({s, n, d})}, {"k0", ftype({t, n, d})}, {"v0", ftype({t, n, dv})},
                        {"q", ftype({n, s, d})}, {"kt", ftype({n, d, t})}, {"v", ftype({n, t, dv})}},
                       {"out"});
  Graph& g = m.graph;
  add_init(g, "c", fvec({}, {8.f}));
  add_node(g, "Transpose", {"q0"}, {"q"}, {{"perm", attr_ints({1, 0, 2})}});
  add_node(g, "Transpose", {"k0"}, {"kt"}, {{"perm", attr_ints({1, 2, 0})}});
  add_node(g, "Transpose", {"v0"}, {"v"}, {{"perm", attr_ints({1, 0, 2})}});
  add_node(g, "Div", {"q", "c"}, {"qs"});
  add_node(g, "MatMul", {"qs", "kt"}, {"sc"});
  add_node(g, "Softmax", {"sc"}, {"p"}, {{"axis", attr_i(-1)}});
  add_node(g, "MatMul", {"p", "v"}, {"y"});
  add_node(g, "Transpose", {"y"}, {"out"}, {{"perm", attr_ints({1, 0, 2})}});
  Model opt = m;
  run_passes(opt, passes(std::make_unique<RulePass>(make_fuse_attention_rule())));
  ASSERT_EQ(opt.graph.nodes.size(), 1u);
  EXPECT_EQ(opt.graph.nodes[0].attr_int("seq_major", 0), 1);
  expect_same_outputs(m, opt,
                      {random_floats({s, n, d}, 1, -2.f, 2.f), random_floats({t, n, d}, 2, -2.f, 2.f),
                       random_floats({t, n, dv}, 3)},
                      1e-4, 1e-5);
}

TEST(FuseAttention, BroadcastBatchMatches) {
  Model m = make_model({"q", "kt", "v"}, {{"q", ftype({3, 5, 4})}, {"kt", ftype({1, 4, 6})}, {"v", ftype({3, 6, 2})}},
                       {"y"});
  add_node(m.graph, "MatMul", {"q", "kt"}, {"sc"});
  add_node(m.graph, "Softmax", {"sc"}, {"p"}, {{"axis", attr_i(2)}});
  add_node(m.graph, "MatMul", {"p", "v"}, {"y"});
  Model opt = m;
  run_passes(opt, passes(std::make_unique<RulePass>(make_fuse_attention_rule())));
  ASSERT_EQ(count_op(opt.graph, "SdpAttention"), 1);
  expect_same_outputs(m, opt, {random_floats({3, 5, 4}, 4), random_floats({1, 4, 6}, 5), random_floats({3, 6, 2}, 6)},
                      1e-4, 1e-5);
}

TEST(FuseAttention, UnknownRankOrOtherAxisStays) {
  Model m = attention_model(2, 3, 3, 4, 4, false);
  m.graph.nodes[2].attrs["axis"] = attr_i(1);
  run_passes(m, passes(std::make_unique<RulePass>(make_fuse_attention_rule())));
  EXPECT_EQ(count_op(m.graph, "SdpAttention"), 0);
  Model u = attention_model(2, 3, 3, 4, 4, false);
  u.graph.value_info.erase("v");
  run_passes(u, passes(std::make_unique<RulePass>(make_fuse_attention_rule())));
  EXPECT_EQ(count_op(u.graph, "SdpAttention"), 0);
}

// torch's MultiheadAttention around the core: the packed in-projection P [S, N, 3E] sliced into Q, K, V, each
// reshaped to [S, N*H, d] with a shape built from Shape(P) (as the exporter writes it), transposed in, the result
// transposed back and reshaped to [S*N, E].
Model packed_attention_model(int64_t s, int64_t n, int64_t h, int64_t d, bool reshape_out) {
  const int64_t e = h * d;
  // Types as shape inference leaves them (the rules read them; the test harness runs no inference).
  Model m = make_model({"p"},
                       {{"p", ftype({s, n, 3 * e})}, {"nh1", {DType::kInt64, SymShape::from_shape({1})}},
                        {"q0", ftype({s, n * h, d})}, {"k0", ftype({s, n * h, d})}, {"v0", ftype({s, n * h, d})},
                        {"q", ftype({n * h, s, d})}, {"kt", ftype({n * h, d, s})}, {"v", ftype({n * h, s, d})}},
                       {"out"});
  Graph& g = m.graph;
  auto i64 = [](std::vector<int64_t> v) {
    Tensor t = Tensor::empty(DType::kInt64, {static_cast<int64_t>(v.size())});
    for (size_t i = 0; i < v.size(); ++i) t.data<int64_t>()[i] = v[i];
    return t;
  };
  Tensor one = Tensor::empty(DType::kInt64, {});
  one.data<int64_t>()[0] = 1;
  Tensor heads = Tensor::empty(DType::kInt64, {});
  heads.data<int64_t>()[0] = h;
  add_init(g, "one", one);
  add_init(g, "heads", heads);
  add_init(g, "axes0", i64({0}));
  add_init(g, "axis", i64({-1}));
  add_init(g, "seq", i64({s}));
  add_init(g, "hd", i64({d}));
  add_init(g, "c", fvec({}, {std::sqrt(static_cast<float>(d))}));
  for (int i = 0; i <= 3; ++i) add_init(g, "b" + std::to_string(i), i64({i * e}));
  add_node(g, "Shape", {"p"}, {"shp"});
  add_node(g, "Gather", {"shp", "one"}, {"nb"}, {{"axis", attr_i(0)}});
  add_node(g, "Mul", {"nb", "heads"}, {"nh"});
  add_node(g, "Unsqueeze", {"nh", "axes0"}, {"nh1"});
  add_node(g, "Concat", {"seq", "nh1", "hd"}, {"shape3"}, {{"axis", attr_i(0)}});
  const char* names[3] = {"q", "k", "v"};
  for (int i = 0; i < 3; ++i) {
    std::string x = names[i];
    add_node(g, "Slice", {"p", "b" + std::to_string(i), "b" + std::to_string(i + 1), "axis"}, {x + "_sl"});
    add_node(g, "Reshape", {x + "_sl", "shape3"}, {x + "0"});
  }
  add_node(g, "Transpose", {"q0"}, {"q"}, {{"perm", attr_ints({1, 0, 2})}});
  add_node(g, "Transpose", {"k0"}, {"kt"}, {{"perm", attr_ints({1, 2, 0})}});
  add_node(g, "Transpose", {"v0"}, {"v"}, {{"perm", attr_ints({1, 0, 2})}});
  add_node(g, "Div", {"q", "c"}, {"qs"});
  add_node(g, "MatMul", {"qs", "kt"}, {"sc"});
  add_node(g, "Softmax", {"sc"}, {"pr"}, {{"axis", attr_i(-1)}});
  add_node(g, "MatMul", {"pr", "v"}, {"y"});
  if (reshape_out) {
    add_node(g, "Transpose", {"y"}, {"yt"}, {{"perm", attr_ints({1, 0, 2})}});
    add_init(g, "flat", i64({s * n, e}));
    add_node(g, "Reshape", {"yt", "flat"}, {"out"});
  } else {
    add_node(g, "Transpose", {"y"}, {"out"}, {{"perm", attr_ints({1, 0, 2})}});
  }
  return m;
}

TEST(FuseAttention, SplitsHeadsOfThePackedProjection) {
  for (auto [s, n, h, d] : std::vector<std::array<int64_t, 4>>{{7, 2, 3, 4}, {33, 1, 4, 16}}) {
    Model m = packed_attention_model(s, n, h, d, true);
    Model opt = m;
    run_passes(opt, passes(std::make_unique<RulePass>(make_fuse_attention_rule())));
    ASSERT_EQ(count_op(opt.graph, "SdpAttention"), 1);
    EXPECT_EQ(count_op(opt.graph, "Slice"), 0);
    EXPECT_EQ(count_op(opt.graph, "Transpose"), 0);
    EXPECT_EQ(count_op(opt.graph, "Reshape"), 1);  // the output's
    const Node* att = nullptr;
    for (const Node& x : opt.graph.nodes)
      if (x.op_type == "SdpAttention") att = &x;
    EXPECT_EQ(att->inputs, (std::vector<std::string>{"p", "p", "p"}));
    EXPECT_EQ(att->attr_int("num_heads", 0), h);
    EXPECT_EQ(att->attr_int("head_dim", 0), d);
    EXPECT_EQ(att->attr_ints("offsets"), (std::vector<int64_t>{0, h * d, 2 * h * d}));
    expect_same_outputs(m, opt, {random_floats({s, n, 3 * h * d}, 7, -2.f, 2.f)}, 1e-4, 1e-5);
  }
}

// The output's shape changes ([S, N*H, dv] -> [S, N, H*dv]), so only a Reshape may read it.
TEST(FuseAttention, SplitHeadsNeedsAReshapeReader) {
  Model m = packed_attention_model(5, 2, 2, 4, false);
  run_passes(m, passes(std::make_unique<RulePass>(make_fuse_attention_rule())));
  ASSERT_EQ(count_op(m.graph, "SdpAttention"), 1);
  EXPECT_EQ(count_op(m.graph, "Slice"), 3);
  for (const Node& x : m.graph.nodes)
    if (x.op_type == "SdpAttention") EXPECT_EQ(x.attr_int("num_heads", 0), 0);
}

}  // namespace
}  // namespace ferry::test
