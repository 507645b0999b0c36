#include "passes/pass_test_util.h"

namespace ferry::test {
namespace {

TEST(EliminateIdentity, ChainOfNoOpsCollapsesToRelu) {
  Model m = make_model({"x"}, {{"x", ftype({2, 3})}}, {"y"});
  Graph& g = m.graph;
  add_init(g, "ax", ivec({1}, {0}));
  add_init(g, "same", ivec({2}, {2, 3}));
  add_node(g, "Identity", {"x"}, {"a"});
  add_node(g, "Relu", {"a"}, {"b"});
  add_node(g, "Dropout", {"b"}, {"c"});
  add_node(g, "Cast", {"c"}, {"d"}, {{"to", attr_i(static_cast<int64_t>(DType::kFloat))}});
  add_node(g, "Transpose", {"d"}, {"e"}, {{"perm", attr_ints({0, 1})}});
  add_node(g, "Unsqueeze", {"e", "ax"}, {"f"});
  add_node(g, "Squeeze", {"f", "ax"}, {"h"});
  add_node(g, "Reshape", {"h", "same"}, {"i"});
  add_node(g, "Expand", {"i", "same"}, {"j"});
  add_node(g, "Identity", {"j"}, {"y"});
  Model opt = m;
  PassReport r = run_passes(opt, passes(make_fold_shapes(), make_eliminate_identity(), make_eliminate_dead_code()));
  ASSERT_EQ(opt.graph.nodes.size(), 1u) << r.nodes_after;
  EXPECT_EQ(opt.graph.nodes[0].op_type, "Relu");
  EXPECT_EQ(opt.graph.nodes[0].outputs[0], "y");  // the graph output keeps its name
  expect_same_outputs(m, opt, {random_floats({2, 3}, 5)});
}

TEST(EliminateIdentity, KeepsRealWork) {
  Model m = make_model({"x"}, {{"x", ftype({2, 3})}}, {"y", "mask"});
  Graph& g = m.graph;
  add_node(g, "Cast", {"x"}, {"a"}, {{"to", attr_i(static_cast<int64_t>(DType::kDouble))}});
  add_node(g, "Cast", {"a"}, {"b"}, {{"to", attr_i(static_cast<int64_t>(DType::kFloat))}});
  add_node(g, "Transpose", {"b"}, {"c"}, {{"perm", attr_ints({1, 0})}});
  add_node(g, "Dropout", {"c"}, {"y", "mask"});  // the mask is read: keep
  add_node(g, "Identity", {"x"}, {"unused"});
  Model opt = m;
  run_passes(opt, passes(make_fold_shapes(), make_eliminate_identity()));
  EXPECT_EQ(count_op(opt.graph, "Cast"), 2);
  EXPECT_EQ(count_op(opt.graph, "Transpose"), 1);
  EXPECT_EQ(count_op(opt.graph, "Dropout"), 1);
  EXPECT_EQ(count_op(opt.graph, "Identity"), 0);
  expect_same_outputs(m, opt, {random_floats({2, 3}, 6)});
}

}  // namespace
}  // namespace ferry::test
