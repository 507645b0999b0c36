#include "passes/pass_test_util.h"

namespace ferry::test {
namespace {

TEST(TransposeCancel, InversePairDisappears) {
  Model m = make_model({"x"}, {{"x", ftype({2, 3, 4})}}, {"y"});
  Graph& g = m.graph;
  add_node(g, "Transpose", {"x"}, {"t1"}, {{"perm", attr_ints({1, 2, 0})}});
  add_node(g, "Transpose", {"t1"}, {"t2"}, {{"perm", attr_ints({2, 0, 1})}});
  add_node(g, "Relu", {"t2"}, {"y"});
  Model opt = m;
  run_passes(opt, passes(make_transpose_cancel(), make_eliminate_dead_code()));
  ASSERT_EQ(opt.graph.nodes.size(), 1u);
  EXPECT_EQ(opt.graph.nodes[0].op_type, "Relu");
  expect_same_outputs(m, opt, {random_floats({2, 3, 4}, 120)});
}

TEST(TransposeCancel, ChainComposesToOne) {
  Model m = make_model({"x"}, {{"x", ftype({2, 3, 4, 5})}}, {"y"});
  Graph& g = m.graph;
  add_node(g, "Transpose", {"x"}, {"t1"}, {{"perm", attr_ints({0, 2, 3, 1})}});
  add_node(g, "Transpose", {"t1"}, {"t2"}, {{"perm", attr_ints({1, 0, 3, 2})}});
  add_node(g, "Transpose", {"t2"}, {"y"});  // no perm: reverse
  Model opt = m;
  run_passes(opt, passes(make_fold_shapes(), make_transpose_cancel(), make_eliminate_dead_code()));
  ASSERT_EQ(opt.graph.nodes.size(), 1u);
  EXPECT_EQ(opt.graph.nodes[0].op_type, "Transpose");
  expect_same_outputs(m, opt, {random_floats({2, 3, 4, 5}, 121)});
}

TEST(TransposeCancel, ReshapePairBecomesOneUnlessZeroCopiesADim) {
  Model m = make_model({"x"}, {{"x", ftype({2, 3, 4})}}, {"y", "z"});
  Graph& g = m.graph;
  add_init(g, "s1", ivec({2}, {6, 4}));
  add_init(g, "s2", ivec({3}, {4, -1, 2}));
  add_init(g, "s0", ivec({2}, {0, -1}));
  add_node(g, "Reshape", {"x", "s1"}, {"r1"});
  add_node(g, "Reshape", {"r1", "s2"}, {"y"});
  add_node(g, "Reshape", {"r1", "s0"}, {"z"});  // 0 copies r1's dim 0 (6), not x's (2): keep
  Model opt = m;
  run_passes(opt, passes(make_transpose_cancel(), make_eliminate_dead_code()));
  EXPECT_EQ(count_op(opt.graph, "Reshape"), 3);
  bool direct = false;
  for (const Node& n : opt.graph.nodes) direct |= n.outputs[0] == "y" && n.inputs[0] == "x";
  EXPECT_TRUE(direct);
  expect_same_outputs(m, opt, {random_floats({2, 3, 4}, 122)});
}

}  // namespace
}  // namespace ferry::test
