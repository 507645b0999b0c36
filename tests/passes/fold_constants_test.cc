#include "passes/pass_test_util.h"

namespace ferry::test {
namespace {

Attr attr_t(Tensor t) {
  Attr a;
  a.kind = Attr::Kind::kTensor;
  a.t = std::move(t);
  return a;
}

TEST(FoldConstants, ConstantSubgraphBecomesInitializer) {
  Model m = make_model({"x"}, {{"x", ftype({2, 3})}}, {"y"});
  Graph& g = m.graph;
  add_init(g, "w", fvec({3}, {1, 2, 3}));
  add_node(g, "Constant", {}, {"c"}, {{"value", attr_t(fvec({3}, {0.5f, 0.25f, 2}))}});
  add_node(g, "Mul", {"w", "c"}, {"wc"});
  add_node(g, "Exp", {"wc"}, {"e"});
  add_node(g, "Add", {"x", "e"}, {"y"});
  Model opt = m;
  PassReport r = run_passes(opt, passes(make_fold_constants()));
  EXPECT_EQ(r.nodes_before, 4);
  ASSERT_EQ(opt.graph.nodes.size(), 1u);
  EXPECT_EQ(opt.graph.nodes[0].op_type, "Add");
  EXPECT_TRUE(opt.graph.initializers.count("e"));
  EXPECT_FALSE(opt.graph.initializers.count("w"));  // no longer read
  expect_same_outputs(m, opt, {random_floats({2, 3}, 1)});
}

TEST(FoldConstants, KeepsRandomOpsGraphOutputsAndInputDependentNodes) {
  Model m = make_model({"x"}, {{"x", ftype({2})}}, {"y", "k"});
  Graph& g = m.graph;
  Attr shape;
  shape.kind = Attr::Kind::kInts;
  shape.ints = {2};
  add_node(g, "RandomNormal", {}, {"r"}, {{"shape", shape}});
  add_node(g, "Mul", {"r", "x"}, {"y"});
  add_init(g, "a", fvec({2}, {1, 2}));
  add_node(g, "Neg", {"a"}, {"k"});  // produces a graph output: stays a node
  Model opt = m;
  run_passes(opt, passes(make_fold_constants()));
  EXPECT_EQ(opt.graph.nodes.size(), 3u);
  EXPECT_EQ(count_op(opt.graph, "RandomNormal"), 1);
}

}  // namespace
}  // namespace ferry::test
