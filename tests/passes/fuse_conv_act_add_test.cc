#include "passes/conv_fusions.h"
#include "passes/conv_pass_test_util.h"

namespace ferry::test {
namespace {

// YOLO-style bottleneck: h = act(c1(x)); y = h + act(c2(h)).
Model bottleneck(const std::string& act) {
  Model m;
  Graph& g = m.graph;
  add_input(g, "x", {1, 6, 9, 11});
  auto activate = [&](const std::string& in, const std::string& out) {
    if (act == "SiLU") {
      g.nodes.push_back(op_node("Sigmoid", {in}, {in + "_s"}));
      g.nodes.push_back(op_node("Mul", {in, in + "_s"}, {out}));
    } else {
      g.nodes.push_back(op_node(act, {in}, {out}));
    }
  };
  g.nodes.push_back(conv_node(g, "c1", "x", "p1", 6, 8, 1));
  activate("p1", "h");
  g.nodes.push_back(conv_node(g, "c2", "h", "p2", 8, 8, 3));
  activate("p2", "b");
  g.nodes.push_back(op_node("Add", {"h", "b"}, {"y"}));
  g.outputs = {"y"};
  return m;
}

Model fuse_all(const Model& m) {
  Model f = apply_pass(m, make_fuse_conv_activation());
  return apply_pass(f, make_fuse_conv_act_add());
}

TEST(FuseConvActAdd, FoldsTheAddAfterTheActivationAndMatches) {
  for (const std::string act : {"SiLU", "Relu", "Sigmoid", "Tanh"}) {
    SCOPED_TRACE(act);
    Model m = bottleneck(act);
    Model f = fuse_all(m);
    EXPECT_EQ(count_op(f.graph, "Add"), 0);
    ASSERT_EQ(f.graph.nodes.size(), 2u);
    const Node& c2 = f.graph.nodes[1];
    EXPECT_EQ(c2.op_type, "FusedConv");
    EXPECT_EQ(c2.attr_int("z_after_activation", 0), 1);
    ASSERT_EQ(c2.inputs.size(), 4u);
    EXPECT_EQ(c2.inputs[3], "h");
    EXPECT_EQ(c2.outputs[0], "y");
    std::vector<Tensor> in{random_tensor({1, 6, 9, 11}, 11, 2.f)};
    expect_close(run_model(f, in), run_model(m, in));
    // The fused conv then moves to NHWC with its Z like any other.
    Model cl = apply_pass(f, make_conv_channels_last());
    expect_close(run_model(cl, in), run_model(m, in));
  }
}

TEST(FuseConvActAdd, KeepsAddsItCannotFold) {
  {  // the activated value is also read elsewhere
    Model m = bottleneck("Relu");
    m.graph.outputs.push_back("b");
    Model f = fuse_all(m);
    EXPECT_EQ(count_op(f.graph, "Add"), 1);
  }
  {  // broadcasting residual
    Model m = bottleneck("Relu");
    add_input(m.graph, "z", {1, 8, 1, 1});
    m.graph.nodes.back().inputs = {"z", "b"};
    Model f = fuse_all(m);
    EXPECT_EQ(count_op(f.graph, "Add"), 1);
  }
  {  // no activation: that is fuse_conv_add's case (Z before the activation), not this pass's
    Model m;
    Graph& g = m.graph;
    add_input(g, "x", {1, 4, 5, 5});
    g.nodes.push_back(conv_node(g, "c", "x", "h", 4, 4, 3));
    g.nodes.push_back(op_node("Add", {"h", "x"}, {"y"}));
    g.outputs = {"y"};
    Model f = apply_pass(m, make_fuse_conv_act_add());
    EXPECT_EQ(count_op(f.graph, "Add"), 1);
  }
}

}  // namespace
}  // namespace ferry::test
