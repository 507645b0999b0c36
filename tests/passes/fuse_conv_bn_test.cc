#include "passes/pass_test_util.h"

namespace ferry::test {
namespace {

void add_bn(Graph& g, const std::string& in, const std::string& out, int64_t c, uint32_t seed) {
  add_init(g, out + "_scale", random_floats({c}, seed, 0.5f, 1.5f));
  add_init(g, out + "_b", random_floats({c}, seed + 1));
  add_init(g, out + "_mean", random_floats({c}, seed + 2));
  add_init(g, out + "_var", random_floats({c}, seed + 3, 0.1f, 2.f));
  add_node(g, "BatchNormalization", {in, out + "_scale", out + "_b", out + "_mean", out + "_var"}, {out},
           {{"epsilon", attr_f(1e-3f)}});
}

TEST(FuseConvBn, FoldsIntoWeightsAndBias) {
  for (int64_t group : {1, 2}) {
    Model m = make_model({"x"}, {{"x", ftype({1, 4, 6, 6})}}, {"y"});
    Graph& g = m.graph;
    add_init(g, "W", random_floats({6, 4 / group, 3, 3}, 10));
    add_init(g, "B", random_floats({6}, 11));
    add_node(g, "Conv", {"x", "W", "B"}, {"c"}, {{"pads", attr_ints({1, 1, 1, 1})}, {"group", attr_i(group)}});
    add_bn(g, "c", "y", 6, 20);
    Model opt = m;
    PassReport r = run_passes(opt, passes(make_fuse_conv_bn()));
    EXPECT_EQ(r.applied["fuse_conv_bn"], 1);
    ASSERT_EQ(opt.graph.nodes.size(), 1u);
    EXPECT_EQ(opt.graph.nodes[0].op_type, "Conv");
    EXPECT_EQ(opt.graph.initializers.size(), 2u);  // fused W and B only
    expect_same_outputs(m, opt, {random_floats({1, 4, 6, 6}, 12)}, 1e-4, 1e-4);
  }
}

TEST(FuseConvBn, ConvWithoutBiasAndSharedOutputStays) {
  Model m = make_model({"x"}, {{"x", ftype({1, 2, 4, 4})}}, {"y", "c2"});
  Graph& g = m.graph;
  add_init(g, "W", random_floats({3, 2, 1, 1}, 30));
  add_node(g, "Conv", {"x", "W"}, {"c"});
  add_bn(g, "c", "y", 3, 40);
  add_node(g, "Conv", {"x", "W"}, {"c2"});  // shares W: must still see the original weights
  add_node(g, "Relu", {"c2"}, {"r"});
  add_bn(g, "c2", "unused_bn", 3, 50);      // c2 is a graph output: no fusion
  Model opt = m;
  run_passes(opt, passes(make_fuse_conv_bn()));
  EXPECT_EQ(count_op(opt.graph, "BatchNormalization"), 1);
  expect_same_outputs(m, opt, {random_floats({1, 2, 4, 4}, 31)}, 1e-4, 1e-4);
}

}  // namespace
}  // namespace ferry::test
