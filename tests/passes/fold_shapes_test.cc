#include "passes/pass_test_util.h"

namespace ferry::test {
namespace {

TEST(FoldShapes, KnownShapeFoldsIntoReshape) {
  Model m = make_model({"x"}, {{"x", ftype({2, 3, 4})}}, {"y"});
  Graph& g = m.graph;
  add_node(g, "Shape", {"x"}, {"s"});
  add_node(g, "Size", {"x"}, {"n"});
  add_init(g, "i0", ivec({1}, {0}));
  add_node(g, "Gather", {"s", "i0"}, {"d0"});
  add_node(g, "Div", {"n", "d0"}, {"rest"});
  add_node(g, "Concat", {"d0", "rest"}, {"shape"}, {{"axis", attr_i(0)}});
  add_node(g, "Reshape", {"x", "shape"}, {"y"});
  Model opt = m;
  run_passes(opt, passes(make_fold_shapes(), make_fold_constants(), make_eliminate_dead_code()));
  ASSERT_EQ(opt.graph.nodes.size(), 1u);
  EXPECT_EQ(opt.graph.nodes[0].op_type, "Reshape");
  expect_same_outputs(m, opt, {random_floats({2, 3, 4}, 2)});
}

TEST(FoldShapes, SymbolicDimStaysButKnownDimGatherFolds) {
  Model m = make_model({"x"}, {}, {"y"});
  Graph& g = m.graph;
  g.value_info["x"] = {DType::kFloat, SymShape::from_dims({Dim::symbolic("batch"), Dim(3), Dim(4)})};
  add_node(g, "Shape", {"x"}, {"s"});
  add_init(g, "i0", Tensor::scalar_int64(0));
  add_init(g, "i2", Tensor::scalar_int64(2));
  add_node(g, "Gather", {"s", "i0"}, {"b"}, {{"axis", attr_i(0)}});
  add_node(g, "Gather", {"s", "i2"}, {"w"}, {{"axis", attr_i(0)}});
  add_init(g, "ax", ivec({1}, {0}));
  add_node(g, "Unsqueeze", {"b", "ax"}, {"b1"});
  add_node(g, "Unsqueeze", {"w", "ax"}, {"w1"});
  add_init(g, "m1", ivec({1}, {-1}));
  add_node(g, "Concat", {"b1", "m1", "w1"}, {"shape"}, {{"axis", attr_i(0)}});
  add_node(g, "Reshape", {"x", "shape"}, {"y"});
  Model opt = m;
  run_passes(opt, passes(make_fold_shapes(), make_fold_constants(), make_eliminate_dead_code()));
  // Shape(x) -> Gather(0) must stay (batch is symbolic); the Gather(2) branch folds to the constant 4.
  EXPECT_EQ(count_op(opt.graph, "Shape"), 1);
  EXPECT_EQ(count_op(opt.graph, "Gather"), 1);
  EXPECT_EQ(count_op(opt.graph, "Unsqueeze"), 1);
  EXPECT_EQ(opt.graph.nodes.size(), 5u);
  expect_same_outputs(m, opt, {random_floats({2, 3, 4}, 3)});
  expect_same_outputs(m, opt, {random_floats({5, 3, 4}, 4)});
}

}  // namespace
}  // namespace ferry::test
