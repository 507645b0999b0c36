#include "passes/pass_test_util.h"

namespace ferry::test {
namespace {

TEST(FuseMatMulAdd, TwoDimensionalBecomesGemm) {
  for (Shape bias : {Shape{5}, Shape{1, 5}, Shape{3, 5}, Shape{3, 1}}) {
    Model m = make_model({"a"}, {{"a", ftype({3, 4})}}, {"y"});
    Graph& g = m.graph;
    add_init(g, "B", random_floats({4, 5}, 100));
    add_init(g, "bias", random_floats(bias, 101));
    add_node(g, "MatMul", {"a", "B"}, {"p"});
    add_node(g, "Add", {"bias", "p"}, {"y"});
    Model opt = m;
    run_passes(opt, passes(make_fold_shapes(), make_fuse_matmul_add()));
    ASSERT_EQ(opt.graph.nodes.size(), 1u) << shape_to_string(bias);
    EXPECT_EQ(opt.graph.nodes[0].op_type, "Gemm");
    expect_same_outputs(m, opt, {random_floats({3, 4}, 102)}, 1e-5, 1e-5);
  }
}

TEST(FuseMatMulAdd, BatchedOrWideningBiasStays) {
  Model m = make_model({"a", "b"}, {{"a", ftype({2, 3, 4})}, {"b", ftype({3, 4})}}, {"y", "z"});
  Graph& g = m.graph;
  add_init(g, "B", random_floats({4, 5}, 110));
  add_init(g, "bias", random_floats({5}, 111));
  add_init(g, "wide", random_floats({2, 3, 5}, 112));
  add_node(g, "MatMul", {"a", "B"}, {"p"});
  add_node(g, "Add", {"p", "bias"}, {"y"});
  add_node(g, "MatMul", {"b", "B"}, {"q"});
  add_node(g, "Add", {"q", "wide"}, {"z"});
  Model opt = m;
  run_passes(opt, passes(make_fold_shapes(), make_fuse_matmul_add()));
  EXPECT_EQ(count_op(opt.graph, "Gemm"), 0);
  EXPECT_EQ(opt.graph.nodes.size(), 4u);
}

}  // namespace
}  // namespace ferry::test
