#include "passes/pass_test_util.h"

namespace ferry::test {
namespace {

std::map<std::string, Attr> conv_attrs(int64_t stride = 1, int64_t pad = 0) {
  return {{"strides", attr_ints({stride, stride})}, {"pads", attr_ints({pad, pad, pad, pad})}};
}

TEST(MergeParallelConvs, MergesIntoConvAndSplit) {
  for (int opset : {11, 17}) {
    // Three 3x3 convs of x (one without bias), one of them a graph output also read by a Neg.
    Model m = make_model({"x"}, {{"x", ftype({2, 4, 7, 7})}}, {"r", "b", "c"});
    m.opsets[""] = opset;
    Graph& g = m.graph;
    add_init(g, "Wa", random_floats({5, 4, 3, 3}, 1));
    add_init(g, "Ba", random_floats({5}, 2));
    add_init(g, "Wb", random_floats({3, 4, 3, 3}, 3));
    add_init(g, "Wc", random_floats({6, 4, 3, 3}, 4));
    add_init(g, "Bc", random_floats({6}, 5));
    add_node(g, "Conv", {"x", "Wa", "Ba"}, {"a"}, conv_attrs(2, 1)).opset = opset;
    add_node(g, "Conv", {"x", "Wb"}, {"b"}, conv_attrs(2, 1)).opset = opset;
    add_node(g, "Neg", {"a"}, {"r"}).opset = opset;
    add_node(g, "Conv", {"x", "Wc", "Bc"}, {"c"}, conv_attrs(2, 1)).opset = opset;
    Model opt = m;
    PassReport r = run_passes(opt, passes(make_merge_parallel_convs()));
    EXPECT_EQ(r.applied["merge_parallel_convs"], 1);
    ASSERT_EQ(count_op(opt.graph, "Conv"), 1);
    ASSERT_EQ(count_op(opt.graph, "Split"), 1);
    for (const Node& n : opt.graph.nodes) {
      if (n.op_type == "Conv") {
        EXPECT_EQ(opt.graph.initializers.at(n.inputs[1]).dim(0), 14);
        ASSERT_EQ(n.inputs.size(), 3u);
        EXPECT_EQ(opt.graph.initializers.at(n.inputs[2]).numel(), 14);
      }
      if (n.op_type == "Split") {
        EXPECT_EQ(n.outputs, (std::vector<std::string>{"a", "b", "c"}));
        EXPECT_EQ(n.inputs.size(), opset >= 13 ? 2u : 1u);
        EXPECT_EQ(n.attr("split") != nullptr, opset < 13);
      }
    }
    EXPECT_EQ(opt.graph.initializers.count("Wa"), 0u);  // the old weights are gone
    expect_same_outputs(m, opt, {random_floats({2, 4, 7, 7}, 6)}, 1e-4, 1e-4);
  }
}

TEST(MergeParallelConvs, NoBiasAnywhereGivesBiaslessConv) {
  Model m = make_model({"x"}, {{"x", ftype({1, 8, 5, 5})}}, {"a", "b"});
  Graph& g = m.graph;
  add_init(g, "Wa", random_floats({4, 8, 1, 1}, 7));
  add_init(g, "Wb", random_floats({2, 8, 1, 1}, 8));
  add_node(g, "Conv", {"x", "Wa"}, {"a"});
  add_node(g, "Conv", {"x", "Wb"}, {"b"}, {{"kernel_shape", attr_ints({1, 1})}});
  Model opt = m;
  run_passes(opt, passes(make_merge_parallel_convs()));
  ASSERT_EQ(count_op(opt.graph, "Conv"), 1);
  for (const Node& n : opt.graph.nodes)
    if (n.op_type == "Conv") EXPECT_FALSE(n.has_input(2));
  expect_same_outputs(m, opt, {random_floats({1, 8, 5, 5}, 9)}, 1e-4, 1e-4);
}

TEST(MergeParallelConvs, DifferentAttributesOrNonConstantWeightsStay) {
  Model m = make_model({"x", "wd"}, {{"x", ftype({1, 4, 6, 6})}, {"wd", ftype({2, 4, 1, 1})}},
                       {"a", "b", "c", "d", "e"});
  Graph& g = m.graph;
  add_init(g, "W1", random_floats({3, 4, 1, 1}, 10));
  add_init(g, "W3", random_floats({3, 4, 3, 3}, 11));
  add_init(g, "Wg", random_floats({4, 2, 1, 1}, 12));
  add_node(g, "Conv", {"x", "W1"}, {"a"});
  add_node(g, "Conv", {"x", "W1"}, {"b"}, conv_attrs(2));           // other stride
  add_node(g, "Conv", {"x", "W3"}, {"c"}, conv_attrs(1, 1));        // other kernel
  add_node(g, "Conv", {"x", "wd"}, {"d"});                          // weights not constant
  add_node(g, "Conv", {"x", "Wg"}, {"e"}, {{"group", attr_i(2)}});  // grouped
  Model opt = m;
  PassReport r = run_passes(opt, passes(make_merge_parallel_convs()));
  EXPECT_EQ(r.applied.count("merge_parallel_convs"), 0u);
  EXPECT_EQ(count_op(opt.graph, "Conv"), 5);
  EXPECT_EQ(count_op(opt.graph, "Split"), 0);
}

TEST(MergeParallelConvs, ConvFeedingAFusablePostOpStays) {
  // resnet's bottleneck entry: conv1 -> Relu and downsample -> Add would lose their conv fusions behind a Split.
  Model m = make_model({"x"}, {{"x", ftype({1, 4, 5, 5})}}, {"r", "s", "c"});
  Graph& g = m.graph;
  add_init(g, "Wa", random_floats({3, 4, 1, 1}, 30));
  add_init(g, "Wb", random_floats({3, 4, 1, 1}, 31));
  add_init(g, "Wc", random_floats({3, 4, 1, 1}, 32));
  add_node(g, "Conv", {"x", "Wa"}, {"a"});
  add_node(g, "Conv", {"x", "Wb"}, {"b"});
  add_node(g, "Conv", {"x", "Wc"}, {"c"});
  add_node(g, "Relu", {"a"}, {"r"});
  add_node(g, "Add", {"b", "r"}, {"s"});
  Model opt = m;
  PassReport r = run_passes(opt, passes(make_merge_parallel_convs()));
  EXPECT_EQ(r.applied.count("merge_parallel_convs"), 0u);  // only "c" is free: a group of one
  EXPECT_EQ(count_op(opt.graph, "Conv"), 3);
}

TEST(MergeParallelConvs, ChannelBudgetSplitsGroups) {
  // 600 + 600 + 300 output channels: the first conv cannot take the second (1200 > 1024), so the second and
  // third merge (900) and the first stays.
  Model m = make_model({"x"}, {{"x", ftype({1, 2, 3, 3})}}, {"a", "b", "c"});
  Graph& g = m.graph;
  add_init(g, "Wa", random_floats({600, 2, 1, 1}, 20));
  add_init(g, "Wb", random_floats({600, 2, 1, 1}, 21));
  add_init(g, "Wc", random_floats({300, 2, 1, 1}, 22));
  add_node(g, "Conv", {"x", "Wa"}, {"a"});
  add_node(g, "Conv", {"x", "Wb"}, {"b"});
  add_node(g, "Conv", {"x", "Wc"}, {"c"});
  Model opt = m;
  run_passes(opt, passes(make_merge_parallel_convs()));
  EXPECT_EQ(count_op(opt.graph, "Conv"), 2);
  EXPECT_EQ(count_op(opt.graph, "Split"), 1);
  expect_same_outputs(m, opt, {random_floats({1, 2, 3, 3}, 23)}, 1e-4, 1e-4);
}

}  // namespace
}  // namespace ferry::test
