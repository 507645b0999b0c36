// transpose_sink_test.cc — a Transpose moves below a unary elementwise op so transpose_cancel can merge it with the
// Transpose after it; the rewrite and numerical equality with the unoptimized graph.
#include "passes/pass_test_util.h"

namespace ferry::test {
namespace {

TEST(TransposeSink, RoundTripAroundAnActivationVanishes) {
  Model m = make_model({"x"}, {{"x", ftype({2, 3, 4, 5})}}, {"y"});
  Graph& g = m.graph;
  add_node(g, "Transpose", {"x"}, {"t1"}, {{"perm", attr_ints({0, 2, 3, 1})}});  // NCHW -> NHWC
  add_node(g, "Sigmoid", {"t1"}, {"s"});
  add_node(g, "Transpose", {"s"}, {"y"}, {{"perm", attr_ints({0, 3, 1, 2})}});  // NHWC -> NCHW
  Model opt = m;
  run_passes(opt, passes(make_transpose_sink(), make_transpose_cancel(), make_eliminate_dead_code()));
  ASSERT_EQ(opt.graph.nodes.size(), 1u);
  EXPECT_EQ(opt.graph.nodes[0].op_type, "Sigmoid");
  expect_same_outputs(m, opt, {random_floats({2, 3, 4, 5}, 130)});
}

TEST(TransposeSink, ClipWithScalarBoundsAndAComposedPerm) {
  Model m = make_model({"x"}, {{"x", ftype({2, 3, 4})}}, {"y"});
  Graph& g = m.graph;
  add_init(g, "lo", fvec({}, {-0.25f}));
  add_init(g, "hi", fvec({}, {0.5f}));
  add_node(g, "Transpose", {"x"}, {"t1"}, {{"perm", attr_ints({1, 2, 0})}});
  add_node(g, "Clip", {"t1", "lo", "hi"}, {"c"});
  add_node(g, "Transpose", {"c"}, {"y"}, {{"perm", attr_ints({1, 0, 2})}});
  Model opt = m;
  run_passes(opt, passes(make_transpose_sink(), make_transpose_cancel(), make_eliminate_dead_code()));
  EXPECT_EQ(count_op(opt.graph, "Transpose"), 1);  // the two perms compose into one
  EXPECT_EQ(count_op(opt.graph, "Clip"), 1);
  EXPECT_EQ(opt.graph.nodes[0].op_type, "Clip");
  expect_same_outputs(m, opt, {random_floats({2, 3, 4}, 131)});
}

TEST(TransposeSink, StaysWhenNothingCancels) {
  Model m = make_model({"x"}, {{"x", ftype({2, 3, 4})}}, {"y", "z", "w"});
  Graph& g = m.graph;
  // Relu's output is also read by a non-Transpose: moving the Transpose would add work.
  add_node(g, "Transpose", {"x"}, {"t1"}, {{"perm", attr_ints({2, 1, 0})}});
  add_node(g, "Relu", {"t1"}, {"r"});
  add_node(g, "Transpose", {"r"}, {"y"}, {{"perm", attr_ints({2, 1, 0})}});
  add_node(g, "Neg", {"r"}, {"z"});
  // The first Transpose's output has two readers.
  add_node(g, "Transpose", {"x"}, {"t2"}, {{"perm", attr_ints({1, 0, 2})}});
  add_node(g, "Tanh", {"t2"}, {"h"});
  add_node(g, "Transpose", {"h"}, {"w"}, {{"perm", attr_ints({1, 0, 2})}});
  add_node(g, "Identity", {"t2"}, {"t2_copy"});
  Model opt = m;
  run_passes(opt, passes(make_transpose_sink(), make_transpose_cancel()));
  EXPECT_EQ(count_op(opt.graph, "Transpose"), 4);
  expect_same_outputs(m, opt, {random_floats({2, 3, 4}, 132)});
}

}  // namespace
}  // namespace ferry::test
