#include "passes/fuse_transformer.h"
#include "passes/pass_test_util.h"

namespace ferry::test {
namespace {

// torch 1.13: Div(x, sqrt2) -> Erf -> Add(1) -> Mul(x, .) -> Mul(., 0.5); `half_first` = Mul(Mul(x, 0.5), .).
Model gelu_model(Shape xs, bool half_first) {
  Model m = make_model({"x"}, {{"x", ftype(xs)}}, {"y"});
  Graph& g = m.graph;
  add_init(g, "sqrt2", fvec({}, {1.4142135f}));
  add_init(g, "one", fvec({}, {1.f}));
  add_init(g, "half", fvec({}, {0.5f}));
  add_node(g, "Div", {"x", "sqrt2"}, {"d"});
  add_node(g, "Erf", {"d"}, {"e"});
  add_node(g, "Add", {"e", "one"}, {"a"});
  if (half_first) {
    add_node(g, "Mul", {"x", "half"}, {"h"});
    add_node(g, "Mul", {"h", "a"}, {"y"});
  } else {
    add_node(g, "Mul", {"x", "a"}, {"m"});
    add_node(g, "Mul", {"m", "half"}, {"y"});
  }
  return m;
}

TEST(FuseGelu, BothExportFormsBecomeOneNode) {
  for (bool half_first : {false, true}) {
    Model m = gelu_model({3, 17}, half_first);
    Model opt = m;
    run_passes(opt, passes(std::make_unique<RulePass>(make_fuse_gelu_rule())));
    ASSERT_EQ(opt.graph.nodes.size(), 1u);
    EXPECT_EQ(opt.graph.nodes[0].op_type, "Gelu");
    EXPECT_EQ(opt.graph.nodes[0].domain, "ferry");
    expect_same_outputs(m, opt, {random_floats({3, 17}, 3, -6.f, 6.f)}, 1e-5, 1e-6);
  }
}

TEST(FuseGelu, WrongConstantStays) {
  Model m = gelu_model({4}, false);
  m.graph.initializers["half"] = fvec({}, {0.25f});
  run_passes(m, passes(std::make_unique<RulePass>(make_fuse_gelu_rule())));
  EXPECT_EQ(count_op(m.graph, "Gelu"), 0);
}

}  // namespace
}  // namespace ferry::test
