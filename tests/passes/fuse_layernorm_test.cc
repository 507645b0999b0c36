#include "passes/fuse_transformer.h"
#include "passes/pass_test_util.h"

namespace ferry::test {
namespace {

Attr axes_last() { return attr_ints({-1}); }

// The torch 1.13 opset-13 LayerNorm export: ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add.
Model layernorm_model(Shape xs, bool graph_output_inside = false) {
  int64_t c = xs.back();
  Model m = make_model({"x"}, {{"x", ftype(xs)}}, {"y"});
  Graph& g = m.graph;
  add_init(g, "two", fvec({}, {2.f}));
  add_init(g, "eps", fvec({}, {1e-5f}));
  add_init(g, "gamma", random_floats({c}, 7, 0.5f, 1.5f));
  add_init(g, "beta", random_floats({c}, 8));
  add_node(g, "ReduceMean", {"x"}, {"mean"}, {{"axes", axes_last()}});
  add_node(g, "Sub", {"x", "mean"}, {"d"});
  add_node(g, "Pow", {"d", "two"}, {"p"});
  add_node(g, "ReduceMean", {"p"}, {"var"}, {{"axes", axes_last()}});
  add_node(g, "Add", {"var", "eps"}, {"ve"});
  add_node(g, "Sqrt", {"ve"}, {"s"});
  add_node(g, "Div", {"d", "s"}, {"n"});
  add_node(g, "Mul", {"n", "gamma"}, {"sc"});
  add_node(g, "Add", {"beta", "sc"}, {"y"});
  if (graph_output_inside) g.outputs.push_back("n");
  return m;
}

TEST(FuseLayerNorm, RewritesAndMatches) {
  for (Shape xs : {Shape{3, 13}, Shape{2, 5, 127}, Shape{1, 768}}) {
    Model m = layernorm_model(xs);
    Model opt = m;
    run_passes(opt, passes(std::make_unique<RulePass>(make_fuse_layernorm_rule())));
    ASSERT_EQ(opt.graph.nodes.size(), 1u) << shape_to_string(xs);
    EXPECT_EQ(opt.graph.nodes[0].op_type, "LayerNorm");
    EXPECT_EQ(opt.graph.nodes[0].domain, "ferry");
    EXPECT_FLOAT_EQ(opt.graph.nodes[0].attr_float("epsilon", 0), 1e-5f);
    expect_same_outputs(m, opt, {random_floats(xs, 9, -3.f, 3.f)}, 1e-4, 1e-5);
  }
}

TEST(FuseLayerNorm, KeepsObservedIntermediates) {
  Model m = layernorm_model({2, 8}, true);
  run_passes(m, passes(std::make_unique<RulePass>(make_fuse_layernorm_rule())));
  EXPECT_EQ(count_op(m.graph, "LayerNorm"), 0);
}

TEST(FuseLayerNorm, OtherAxisStays) {
  Model m = layernorm_model({4, 8});
  m.graph.nodes[0].attrs["axes"] = attr_ints({0});
  run_passes(m, passes(std::make_unique<RulePass>(make_fuse_layernorm_rule())));
  EXPECT_EQ(count_op(m.graph, "LayerNorm"), 0);
}

}  // namespace
}  // namespace ferry::test
