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

}  // namespace
}  // namespace ferry::test
