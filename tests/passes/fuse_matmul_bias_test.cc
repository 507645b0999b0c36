#include "passes/fuse_transformer.h"
#include "passes/pass_test_util.h"

namespace ferry::test {
namespace {

std::unique_ptr<Pass> rule() { return std::make_unique<RulePass>(make_fuse_matmul_bias_rule()); }

TEST(FuseMatMulBias, MatMulAddReluOnBatchedInput) {
  Model m = make_model({"a"}, {{"a", ftype({2, 7, 13})}}, {"y"});
  Graph& g = m.graph;
  add_init(g, "W", random_floats({13, 19}, 1));
  add_init(g, "b", random_floats({19}, 2));
  add_node(g, "Identity", {"W"}, {"w_id"});  // torch puts weights behind Identity
  add_node(g, "MatMul", {"a", "w_id"}, {"p"});
  add_node(g, "Add", {"b", "p"}, {"q"});
  add_node(g, "Relu", {"q"}, {"y"});
  Model opt = m;
  run_passes(opt, passes(rule()));
  ASSERT_EQ(count_op(opt.graph, "FusedMatMul"), 1);
  EXPECT_EQ(count_op(opt.graph, "MatMul") + count_op(opt.graph, "Add") + count_op(opt.graph, "Relu"), 0);
  for (const Node& n : opt.graph.nodes)
    if (n.op_type == "FusedMatMul") {
      EXPECT_EQ(n.attr_string("activation", ""), "relu");
      EXPECT_EQ(n.inputs[1], "W");
    }
  expect_same_outputs(m, opt, {random_floats({2, 7, 13}, 3)}, 1e-5, 1e-5);
}

TEST(FuseMatMulBias, GemmTransBAndGelu) {
  Model m = make_model({"a"}, {{"a", ftype({5, 33})}}, {"y"});
  Graph& g = m.graph;
  add_init(g, "W", random_floats({17, 33}, 4));
  add_init(g, "b", random_floats({17}, 5));
  add_node(g, "Gemm", {"a", "W", "b"}, {"p"}, {{"transB", attr_i(1)}});
  Node& gelu = add_node(g, "Gelu", {"p"}, {"y"});
  gelu.domain = "ferry";
  Model opt = m;
  run_passes(opt, passes(rule()));
  ASSERT_EQ(opt.graph.nodes.size(), 1u);
  EXPECT_EQ(opt.graph.nodes[0].op_type, "FusedMatMul");
  EXPECT_EQ(opt.graph.nodes[0].attr_string("activation", ""), "gelu");
  expect_same_outputs(m, opt, {random_floats({5, 33}, 6, -3.f, 3.f)}, 1e-5, 1e-5);
}

TEST(FuseMatMulBias, NonConstantWeightsAndSharedOutputsStay) {
  Model m = make_model({"a", "w"}, {{"a", ftype({3, 4})}, {"w", ftype({4, 5})}}, {"y", "p2", "z"});
  Graph& g = m.graph;
  add_init(g, "W", random_floats({4, 5}, 7));
  add_init(g, "b", random_floats({5}, 8));
  add_node(g, "MatMul", {"a", "w"}, {"p"});
  add_node(g, "Add", {"p", "b"}, {"y"});
  add_node(g, "MatMul", {"a", "W"}, {"p2"});  // p2 is a graph output: the Add must not absorb it
  add_node(g, "Add", {"p2", "b"}, {"z"});
  Model opt = m;
  run_passes(opt, passes(rule()));
  EXPECT_EQ(count_op(opt.graph, "MatMul"), 1);
  EXPECT_EQ(count_op(opt.graph, "FusedMatMul"), 1);
  EXPECT_EQ(count_op(opt.graph, "Add"), 2);
  expect_same_outputs(m, opt, {random_floats({3, 4}, 9), random_floats({4, 5}, 10)}, 1e-5, 1e-5);
}

// A transformer's skip connection: Add(FusedMatMul(...), R) with R of Y's shape -> the residual input.
TEST(FuseMatMulBias, ResidualAddFoldsAfterActivation) {
  Model m = make_model({"a", "r"}, {{"a", ftype({1, 9, 13})}, {"r", ftype({1, 9, 19})}, {"q", ftype({1, 9, 19})},
                                    {"y", ftype({1, 9, 19})}},
                       {"y"});
  Graph& g = m.graph;
  add_init(g, "W", random_floats({13, 19}, 21));
  add_init(g, "b", random_floats({19}, 22));
  add_node(g, "MatMul", {"a", "W"}, {"p"});
  add_node(g, "Add", {"p", "b"}, {"pb"});
  add_node(g, "Relu", {"pb"}, {"q"});
  add_node(g, "Add", {"r", "q"}, {"y"});
  Model opt = m;
  run_passes(opt, passes(rule()));
  ASSERT_EQ(opt.graph.nodes.size(), 1u);
  const Node& n = opt.graph.nodes[0];
  EXPECT_EQ(n.op_type, "FusedMatMul");
  EXPECT_EQ(n.attr_string("activation", ""), "relu");
  EXPECT_EQ(n.inputs, (std::vector<std::string>{"a", "W", "b", "r"}));
  expect_same_outputs(m, opt, {random_floats({1, 9, 13}, 23, -2.f, 2.f), random_floats({1, 9, 19}, 24)}, 1e-5, 1e-5);
}

// A broadcast addend or unknown shapes stay an Add; a Relu after the residual is not folded into the activation.
TEST(FuseMatMulBias, BroadcastResidualAndReluAfterResidualStay) {
  Model m = make_model({"a", "r"}, {{"a", ftype({4, 13})}, {"r", ftype({1, 19})}, {"p", ftype({4, 19})},
                                    {"y", ftype({4, 19})}},
                       {"y"});
  add_init(m.graph, "W", random_floats({13, 19}, 25));
  add_node(m.graph, "MatMul", {"a", "W"}, {"p"});
  add_node(m.graph, "Add", {"p", "r"}, {"y"});
  Model opt = m;
  run_passes(opt, passes(rule()));
  EXPECT_EQ(count_op(opt.graph, "Add"), 1);
  expect_same_outputs(m, opt, {random_floats({4, 13}, 26), random_floats({1, 19}, 27)}, 1e-5, 1e-5);

  Model m2 = make_model({"a", "r"}, {{"a", ftype({4, 13})}, {"r", ftype({4, 19})}, {"p", ftype({4, 19})},
                                     {"s", ftype({4, 19})}, {"y", ftype({4, 19})}},
                        {"y"});
  add_init(m2.graph, "W", random_floats({13, 19}, 28));
  add_node(m2.graph, "MatMul", {"a", "W"}, {"p"});
  add_node(m2.graph, "Add", {"p", "r"}, {"s"});
  add_node(m2.graph, "Relu", {"s"}, {"y"});
  Model opt2 = m2;
  run_passes(opt2, passes(rule()));
  EXPECT_EQ(count_op(opt2.graph, "Relu"), 1);
  for (const Node& n : opt2.graph.nodes)
    if (n.op_type == "FusedMatMul") {
      EXPECT_EQ(n.attr_string("activation", ""), "none");
      EXPECT_EQ(n.inputs.size(), 4u);
    }
  expect_same_outputs(m2, opt2, {random_floats({4, 13}, 29, -2.f, 2.f), random_floats({4, 19}, 30, -2.f, 2.f)}, 1e-5,
                      1e-5);
}

}  // namespace
}  // namespace ferry::test
