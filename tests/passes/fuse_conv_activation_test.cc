#include "passes/conv_pass_test_util.h"
#include "passes/conv_fusions.h"

namespace ferry::test {
namespace {

Model conv_then(const std::string& act) {
  Model m;
  Graph& g = m.graph;
  add_input(g, "x", {1, 5, 13, 11});
  g.nodes.push_back(conv_node(g, "c", "x", "h", 5, 7, 3));
  if (act == "SiLU") {
    g.nodes.push_back(op_node("Sigmoid", {"h"}, {"s"}));
    g.nodes.push_back(op_node("Mul", {"h", "s"}, {"y"}));
  } else if (act == "Clip") {
    add_const(g, "lo", Tensor::scalar_float(0.f));
    add_const(g, "hi", Tensor::scalar_float(0.3f));
    g.nodes.push_back(op_node("Clip", {"h", "lo", "hi"}, {"y"}));
  } else {
    Node a = op_node(act, {"h"}, {"y"});
    if (act == "LeakyRelu") a.attrs["alpha"] = Attr{Attr::Kind::kFloat, 0.2f};
    g.nodes.push_back(a);
  }
  g.outputs = {"y"};
  return m;
}

TEST(FuseConvActivation, FusesEachActivationAndMatchesUnfused) {
  for (const std::string act : {"Relu", "LeakyRelu", "Clip", "Sigmoid", "SiLU", "HardSwish", "Tanh"}) {
    SCOPED_TRACE(act);
    Model m = conv_then(act);
    Model f = apply_pass(m, make_fuse_conv_activation());
    EXPECT_EQ(f.graph.nodes.size(), 1u);
    EXPECT_EQ(f.graph.nodes[0].op_type, "FusedConv");
    std::vector<Tensor> in{random_tensor({1, 5, 13, 11}, 3)};
    expect_close(run_model(f, in), run_model(m, in));
  }
}

TEST(FuseConvActivation, KeepsConvWhoseOutputHasOtherReaders) {
  Model m = conv_then("Relu");
  m.graph.outputs.push_back("h");  // the pre-activation value is observed
  Model f = apply_pass(m, make_fuse_conv_activation());
  EXPECT_EQ(count_op(f.graph, "Conv"), 1);
  EXPECT_EQ(count_op(f.graph, "Relu"), 1);
}

TEST(FuseConvActivation, SiluNeedsTheSameValueOnBothSides) {
  Model m = conv_then("SiLU");
  add_input(m.graph, "other", {1, 7, 13, 11});
  m.graph.nodes[1].inputs[0] = "other";  // Sigmoid(other) * h is not SiLU
  Model f = apply_pass(m, make_fuse_conv_activation());
  EXPECT_EQ(count_op(f.graph, "Conv"), 1);
}

}  // namespace
}  // namespace ferry::test
