#include "passes/conv_fusions.h"
#include "passes/conv_pass_test_util.h"

namespace ferry::test {
namespace {

// Detection-head shape: x -> Relu(c1) -> c2 -> Reshape [1, 5, H*W] (layout-sensitive, so the NHWC region ends at c2).
Model head(bool second_reader) {
  Model m;
  Graph& g = m.graph;
  add_input(g, "x", {1, 4, 7, 9});
  g.nodes.push_back(conv_node(g, "c1", "x", "h", 4, 6, 3));
  g.nodes.push_back(op_node("Relu", {"h"}, {"r"}));
  g.nodes.push_back(conv_node(g, "c2", "r", "p", 6, 5, 1));
  add_const(g, "shape", Tensor::from_vector<int64_t>(DType::kInt64, {3}, {1, 5, 63}));
  g.nodes.push_back(op_node("Reshape", {"p", "shape"}, {"y"}));
  g.outputs = {"y"};
  if (second_reader) {
    g.nodes.push_back(op_node("Reshape", {"p", "shape"}, {"y2"}));
    g.outputs.push_back("y2");
  }
  return m;
}

Model optimize(const Model& m) {
  Model f = apply_pass(m, make_fuse_conv_activation());
  f = apply_pass(f, make_conv_channels_last());
  return apply_pass(f, make_fuse_conv_nchw_output());
}

TEST(FuseConvNchwOutput, LastConvWritesNchwAndMatches) {
  Model m = head(false);
  Model f = optimize(m);
  EXPECT_EQ(count_op(f.graph, "Transpose"), 0);
  ASSERT_EQ(count_op(f.graph, "FusedConv"), 2);
  for (const Node& n : f.graph.nodes)
    if (n.op_type == "FusedConv") EXPECT_EQ(n.attr_int("channels_last", 0), n.outputs[0] == "p" ? 3 : 2);
  std::vector<Tensor> in{random_tensor({1, 4, 7, 9}, 21)};
  expect_close(run_model(f, in), run_model(m, in));
}

TEST(FuseConvNchwOutput, AlsoWhenTheTransposeHasTwoReaders) {
  // Two Reshapes read the NCHW value: still one Transpose's worth of readers, so the conv writes NCHW.
  Model m = head(true);
  Model f = optimize(m);
  EXPECT_EQ(count_op(f.graph, "Transpose"), 0);
  std::vector<Tensor> in{random_tensor({1, 4, 7, 9}, 22)};
  expect_close(run_model(f, in), run_model(m, in));
}

TEST(FuseConvNchwOutput, KeepsTransposeWhenTheNhwcValueIsAlsoRead) {
  // c1's NHWC output feeds c2 and (through a Transpose) a graph output: c1 must keep writing NHWC.
  Model m = head(false);
  m.graph.outputs.push_back("r");
  Model f = optimize(m);
  EXPECT_EQ(count_op(f.graph, "Transpose"), 1);
  std::vector<Tensor> in{random_tensor({1, 4, 7, 9}, 23)};
  expect_close(run_model(f, in), run_model(m, in));
}

}  // namespace
}  // namespace ferry::test
