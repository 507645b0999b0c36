// fuse_squeeze_excite: an NCHW squeeze-and-excitation block after a conv, taken through the real kAll chain
// (activation fusion, channels-last, then this pass), becomes one ferry.SqueezeExcite and computes the same.
#include "passes/conv_fusions.h"
#include "passes/conv_pass_test_util.h"

namespace ferry::test {
namespace {

// x -> Conv 3x3 -> a; s = Sigmoid(Conv1x1(act(Conv1x1(GlobalAveragePool(a))))); y = Mul(a, s).
Model se_block(const std::string& act, bool s_is_output = false) {
  Model m;
  Graph& g = m.graph;
  add_input(g, "x", {1, 6, 9, 7});
  g.nodes.push_back(conv_node(g, "c0", "x", "a", 6, 12, 3));
  g.nodes.push_back(op_node("GlobalAveragePool", {"a"}, {"p"}));
  g.nodes.push_back(conv_node(g, "fc1", "p", "h", 12, 3, 1));
  if (act == "silu") {
    g.nodes.push_back(op_node("Sigmoid", {"h"}, {"hs"}));
    g.nodes.push_back(op_node("Mul", {"h", "hs"}, {"ha"}));
  } else {
    g.nodes.push_back(op_node("Relu", {"h"}, {"ha"}));
  }
  g.nodes.push_back(conv_node(g, "fc2", "ha", "e", 3, 12, 1));
  g.nodes.push_back(op_node("Sigmoid", {"e"}, {"s"}));
  g.nodes.push_back(op_node("Mul", {"s", "a"}, {"y"}));
  g.outputs = {"y"};
  if (s_is_output) g.outputs.push_back("s");
  return m;
}

Model optimize(const Model& in) {
  Model m = in;
  EXPECT_TRUE(m.graph.topo_sort().is_ok());
  EXPECT_TRUE(infer_graph_types(m.graph, {}).has_value());
  PassManager pm;
  pm.add(make_fuse_conv_activation());
  pm.add(make_conv_channels_last());
  pm.add(make_fuse_squeeze_excite());
  auto r = pm.run(m);
  EXPECT_TRUE(r.has_value()) << r.status().to_string();
  return m;
}

TEST(FuseSqueezeExcite, FusesTheBlockAndMatchesUnfused) {
  for (const std::string act : {"silu", "relu"}) {
    SCOPED_TRACE(act);
    Model m = se_block(act);
    Model f = optimize(m);
    EXPECT_EQ(count_op(f.graph, "SqueezeExcite"), 1);
    EXPECT_EQ(count_op(f.graph, "ReduceMean"), 0);
    EXPECT_EQ(count_op(f.graph, "Mul"), 0);
    EXPECT_EQ(count_op(f.graph, "FusedConv"), 1);  // only c0 is left
    for (const Node& n : f.graph.nodes)
      if (n.op_type == "SqueezeExcite") EXPECT_EQ(n.attr_string("activation", ""), act);
    std::vector<Tensor> in{random_tensor({1, 6, 9, 7}, 3)};
    expect_close(run_model(f, in), run_model(m, in));
  }
}

TEST(FuseSqueezeExcite, KeepsTheBlockWhenTheGateIsObserved) {
  Model m = se_block("relu", /*s_is_output=*/true);
  Model f = optimize(m);
  EXPECT_EQ(count_op(f.graph, "SqueezeExcite"), 0);
  std::vector<Tensor> in{random_tensor({1, 6, 9, 7}, 4)};
  expect_close(run_model(f, in), run_model(m, in));
}

}  // namespace
}  // namespace ferry::test
