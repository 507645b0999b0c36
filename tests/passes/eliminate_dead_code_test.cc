#include "passes/pass_test_util.h"

namespace ferry::test {
namespace {

TEST(EliminateDeadCode, RemovesUnreachableNodesAndInitializers) {
  Model m = make_model({"x"}, {{"x", ftype({4})}}, {"y"});
  Graph& g = m.graph;
  add_init(g, "unused_w", fvec({4}, {1, 2, 3, 4}));
  add_init(g, "k", fvec({4}, {1, 1, 1, 1}));
  add_node(g, "Relu", {"x"}, {"y"});
  add_node(g, "Sigmoid", {"x"}, {"s"});
  add_node(g, "Add", {"s", "k"}, {"t"});
  Model opt = m;
  PassReport r = run_passes(opt, passes(make_eliminate_dead_code()));
  EXPECT_EQ(r.nodes_before, 3);
  EXPECT_EQ(r.nodes_after, 1);
  EXPECT_EQ(r.applied["eliminate_dead_code"], 1);
  EXPECT_TRUE(opt.graph.initializers.empty());
  expect_same_outputs(m, opt, {random_floats({4}, 7)});
}

}  // namespace
}  // namespace ferry::test
