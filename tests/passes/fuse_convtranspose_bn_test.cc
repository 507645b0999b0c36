#include "passes/pass_test_util.h"

namespace ferry::test {
namespace {

void add_bn(Graph& g, const std::string& in, const std::string& out, int64_t c, uint32_t seed) {
  add_init(g, out + "_scale", random_floats({c}, seed, 0.5f, 1.5f));
  add_init(g, out + "_b", random_floats({c}, seed + 1));
  add_init(g, out + "_mean", random_floats({c}, seed + 2));
  add_init(g, out + "_var", random_floats({c}, seed + 3, 0.1f, 2.f));
  add_node(g, "BatchNormalization", {in, out + "_scale", out + "_b", out + "_mean", out + "_var"}, {out});
}

TEST(FuseConvTransposeBn, GroupedWithBiasAndAdd) {
  for (bool with_add : {false, true}) {
    Model m = make_model({"x"}, {{"x", ftype({1, 4, 3, 3})}}, {"y"});
    Graph& g = m.graph;
    add_init(g, "W", random_floats({4, 3, 3, 3}, 60));  // C_in 4, group 2 -> 6 output channels
    add_init(g, "B", random_floats({6}, 61));
    add_node(g, "ConvTranspose", {"x", "W", "B"}, {"d"}, {{"group", attr_i(2)}, {"strides", attr_ints({2, 2})}});
    std::string bn_in = "d";
    if (with_add) {
      add_init(g, "c", random_floats({6, 1, 1}, 62));
      add_node(g, "Add", {"d", "c"}, {"da"});
      bn_in = "da";
    }
    add_bn(g, bn_in, "y", 6, 70);
    Model opt = m;
    PassReport r = run_passes(opt, passes(make_fuse_convtranspose_bn()));
    EXPECT_EQ(r.applied["fuse_convtranspose_bn"], 1);
    ASSERT_EQ(opt.graph.nodes.size(), 1u);
    EXPECT_EQ(opt.graph.nodes[0].op_type, "ConvTranspose");
    expect_same_outputs(m, opt, {random_floats({1, 4, 3, 3}, 63)}, 1e-4, 1e-4);
  }
}

TEST(FuseConvTransposeBn, NonChannelAddStays) {
  Model m = make_model({"x"}, {{"x", ftype({1, 2, 3, 3})}}, {"y"});
  Graph& g = m.graph;
  add_init(g, "W", random_floats({2, 2, 2, 2}, 80));
  add_node(g, "ConvTranspose", {"x", "W"}, {"d"});
  add_init(g, "c", random_floats({4}, 81));  // broadcasts along the last (spatial) axis
  add_node(g, "Add", {"d", "c"}, {"da"});
  add_bn(g, "da", "y", 2, 90);
  Model opt = m;
  run_passes(opt, passes(make_fuse_convtranspose_bn()));
  EXPECT_EQ(opt.graph.nodes.size(), 3u);
}

}  // namespace
}  // namespace ferry::test
