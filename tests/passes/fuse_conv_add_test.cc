#include "passes/conv_pass_test_util.h"
#include "passes/conv_fusions.h"

namespace ferry::test {
namespace {

// Residual block: y = Relu(conv2(Relu(conv1(x))) + x).
Model residual_block() {
  Model m;
  Graph& g = m.graph;
  add_input(g, "x", {2, 6, 9, 7});
  g.nodes.push_back(conv_node(g, "c1", "x", "h1", 6, 6, 3));
  g.nodes.push_back(op_node("Relu", {"h1"}, {"r1"}));
  g.nodes.push_back(conv_node(g, "c2", "r1", "h2", 6, 6, 3));
  g.nodes.push_back(op_node("Add", {"h2", "x"}, {"s"}));
  g.nodes.push_back(op_node("Relu", {"s"}, {"y"}));
  g.outputs = {"y"};
  return m;
}

TEST(FuseConvAdd, FoldsResidualAddThenReluAndMatches) {
  Model m = residual_block();
  Model f = apply_pass(m, make_fuse_conv_add());
  EXPECT_EQ(count_op(f.graph, "Add"), 0);
  EXPECT_EQ(count_op(f.graph, "FusedConv"), 1);
  std::vector<Tensor> in{random_tensor({2, 6, 9, 7}, 5)};
  expect_close(run_model(f, in), run_model(m, in));
  Model f2 = apply_pass(f, make_fuse_conv_activation());
  EXPECT_EQ(count_op(f2.graph, "Relu"), 0);
  EXPECT_EQ(f2.graph.nodes.size(), 2u);
  expect_close(run_model(f2, in), run_model(m, in));
}

TEST(FuseConvAdd, SkipsBroadcastingAdd) {
  Model m;
  Graph& g = m.graph;
  add_input(g, "x", {1, 4, 5, 5});
  add_input(g, "b", {1, 4, 1, 1});
  g.nodes.push_back(conv_node(g, "c", "x", "h", 4, 4, 1));
  g.nodes.push_back(op_node("Add", {"h", "b"}, {"y"}));
  g.outputs = {"y"};
  Model f = apply_pass(m, make_fuse_conv_add());
  EXPECT_EQ(count_op(f.graph, "Add"), 1);
}

}  // namespace
}  // namespace ferry::test
