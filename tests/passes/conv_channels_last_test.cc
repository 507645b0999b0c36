#include "passes/conv_pass_test_util.h"
#include "passes/conv_fusions.h"

namespace ferry::test {
namespace {

// conv -> relu -> depthwise conv (+ residual) -> squeeze-excite style GAP/Mul -> concat -> output (NCHW).
Model cnn() {
  Model m;
  Graph& g = m.graph;
  add_input(g, "x", {1, 3, 17, 15});
  g.nodes.push_back(conv_node(g, "c1", "x", "h1", 3, 8, 3, 1, 2));
  g.nodes.push_back(op_node("Relu", {"h1"}, {"r1"}));
  g.nodes.push_back(conv_node(g, "dw", "r1", "h2", 8, 8, 3, 8));
  g.nodes.push_back(op_node("Add", {"h2", "r1"}, {"s"}));
  g.nodes.push_back(op_node("GlobalAveragePool", {"s"}, {"gap"}));
  g.nodes.push_back(conv_node(g, "se", "gap", "e", 8, 8, 1));
  g.nodes.push_back(op_node("Sigmoid", {"e"}, {"es"}));
  g.nodes.push_back(op_node("Mul", {"s", "es"}, {"sc"}));
  g.nodes.push_back(conv_node(g, "c3", "sc", "h3", 8, 4, 1));
  Node cat = op_node("Concat", {"h3", "sc"}, {"y"});
  cat.attrs["axis"] = Attr{Attr::Kind::kInt, 0, 1};
  g.nodes.push_back(cat);
  g.outputs = {"y"};
  return m;
}

TEST(ConvChannelsLast, OnlyBorderTransposesRemainAndOutputsMatch) {
  Model m = cnn();
  Model f = apply_pass(m, make_conv_channels_last());
  EXPECT_EQ(count_op(f.graph, "Conv"), 0);
  EXPECT_EQ(count_op(f.graph, "FusedConv"), 4);
  EXPECT_EQ(count_op(f.graph, "Transpose"), 1);  // the Concat output; the first conv reads NCHW x itself
  EXPECT_EQ(count_op(f.graph, "GlobalAveragePool"), 0);
  std::vector<Tensor> in{random_tensor({1, 3, 17, 15}, 9)};
  expect_close(run_model(f, in), run_model(m, in));
}

TEST(ConvChannelsLast, AfterFusionsToo) {
  Model m = cnn();
  Model f = apply_pass(m, make_fuse_conv_add());
  f = apply_pass(f, make_fuse_conv_activation());
  f = apply_pass(f, make_conv_channels_last());
  EXPECT_EQ(count_op(f.graph, "Transpose"), 1);
  EXPECT_EQ(count_op(f.graph, "Relu"), 0);
  std::vector<Tensor> in{random_tensor({1, 3, 17, 15}, 11)};
  expect_close(run_model(f, in), run_model(m, in));
  Model again = apply_pass(f, make_conv_channels_last());  // idempotent
  EXPECT_EQ(again.graph.nodes.size(), f.graph.nodes.size());
}

}  // namespace
}  // namespace ferry::test
