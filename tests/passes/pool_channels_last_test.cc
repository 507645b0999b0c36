// pool_channels_last: a MaxPool between NHWC convs becomes ferry.MaxPoolNhwc, its NHWC-region conv readers read
// it directly, and the result equals the unoptimized graph; MaxPoolNhwc itself against MaxPool (oneDNN and the
// reference kernel, odd windows with padding, dilation and ceil_mode).
#include <cstdlib>

#include "passes/conv_fusions.h"
#include "passes/conv_pass_test_util.h"
#include "passes/passes.h"
#include "ops/op_test_util.h"

namespace ferry::test {
namespace {

Attr ints(std::vector<int64_t> v) {
  Attr a;
  a.kind = Attr::Kind::kInts;
  a.ints = std::move(v);
  return a;
}

// ResNet stem shape: conv -> Relu -> MaxPool 3x3/2 -> two convs (block conv and downsample) -> Add.
Model stem(bool pool_is_output) {
  Model m;
  Graph& g = m.graph;
  add_input(g, "x", {1, 3, 17, 19});
  g.nodes.push_back(conv_node(g, "c0", "x", "h", 3, 16, 3, 1, 2));
  g.nodes.push_back(op_node("Relu", {"h"}, {"r"}));
  Node p = op_node("MaxPool", {"r"}, {"p"});
  p.opset = 12;
  p.attrs["kernel_shape"] = ints({3, 3});
  p.attrs["strides"] = ints({2, 2});
  p.attrs["pads"] = ints({1, 1, 1, 1});
  g.nodes.push_back(p);
  g.nodes.push_back(conv_node(g, "c1", "p", "a", 16, 8, 3));
  g.nodes.push_back(conv_node(g, "c2", "p", "b", 16, 8, 1));
  g.nodes.push_back(op_node("Add", {"a", "b"}, {"y"}));
  g.outputs = {"y"};
  if (pool_is_output) g.outputs.push_back("p");
  return m;
}

Model optimize(const Model& m) {
  Model f = apply_pass(m, make_fuse_conv_activation());
  f = apply_pass(f, make_conv_channels_last());
  f = apply_pass(f, make_pool_channels_last());
  return apply_pass(f, make_eliminate_dead_code());
}

TEST(PoolChannelsLast, StemPoolRunsNhwcAndMatches) {
  Model m = stem(false);
  Model f = optimize(m);
  EXPECT_EQ(count_op(f.graph, "MaxPool"), 0);
  EXPECT_EQ(count_op(f.graph, "MaxPoolNhwc"), 1);
  int nhwc_readers = 0;
  for (const Node& n : f.graph.nodes)
    if (n.op_type == "FusedConv" && n.inputs[0] == "p_nhwc") {
      EXPECT_EQ(n.attr_int("channels_last", 0), 1);
      ++nhwc_readers;
    }
  EXPECT_EQ(nhwc_readers, 2);
  // Only the region's input and output borders change layout now (no Transpose around the pool).
  for (const Node& n : f.graph.nodes)
    if (n.op_type == "Transpose") EXPECT_NE(n.inputs[0], "p_nhwc");
  std::vector<Tensor> in{random_tensor({1, 3, 17, 19}, 31)};
  expect_close(run_model(f, in), run_model(m, in));
}

TEST(PoolChannelsLast, PoolOutputStillAvailableInNchw) {
  Model m = stem(true);
  Model f = optimize(m);
  EXPECT_EQ(count_op(f.graph, "MaxPoolNhwc"), 1);
  std::vector<Tensor> in{random_tensor({1, 3, 17, 19}, 32)};
  expect_close(run_model(f, in), run_model(m, in));
}

TEST(PoolChannelsLast, LeavesNchwPoolsAndIndicesAlone) {
  Model m = stem(false);
  m.graph.nodes[2].outputs.push_back("idx");  // MaxPool with Indices: not rewritten
  m.graph.outputs.push_back("idx");
  Model f = optimize(m);
  EXPECT_EQ(count_op(f.graph, "MaxPoolNhwc"), 0);
  EXPECT_EQ(count_op(f.graph, "MaxPool"), 1);
}

// [N, C, H, W] -> [N, H, W, C]
Tensor nhwc(const Tensor& x) {
  const int64_t n = x.dim(0), c = x.dim(1), hw = x.dim(2) * x.dim(3);
  Tensor y = Tensor::empty(DType::kFloat, {n, x.dim(2), x.dim(3), c});
  for (int64_t a = 0; a < n; ++a)
    for (int64_t b = 0; b < c; ++b)
      for (int64_t i = 0; i < hw; ++i) y.data<float>()[(a * hw + i) * c + b] = x.data<float>()[(a * c + b) * hw + i];
  return y;
}

TEST(MaxPoolNhwc, MatchesMaxPoolOnTransposedData) {
  struct Case {
    std::vector<int64_t> k, s, pads, dil;
    int64_t ceil;
  };
  const Case cases[] = {{{3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}, 0},
                        {{2, 3}, {1, 2}, {0, 1, 1, 0}, {1, 1}, 1},
                        {{3, 2}, {2, 1}, {1, 0, 0, 1}, {2, 1}, 0}};
  const Tensor x = random_tensor({2, 5, 9, 8}, 41);
  for (const Case& c : cases)
    for (bool dnnl : {true, false}) {
      SCOPED_TRACE("dnnl=" + std::to_string(dnnl) + " ceil=" + std::to_string(c.ceil));
      Node ref = Node::make("MaxPool", {"x"}, {"y"});
      ref.attrs["kernel_shape"] = ints(c.k);
      ref.attrs["strides"] = ints(c.s);
      ref.attrs["pads"] = ints(c.pads);
      ref.attrs["dilations"] = ints(c.dil);
      ref.attrs["ceil_mode"] = attr_i(c.ceil);
      Node fast = ref;
      fast.op_type = "MaxPoolNhwc";
      fast.domain = "ferry";
      setenv("FERRY_DNNL", dnnl ? "1" : "0", 1);
      auto want = run_single_op(ref, {x}, 12);
      auto got = run_single_op(fast, {nhwc(x)}, 12);
      unsetenv("FERRY_DNNL");
      ASSERT_TRUE(want.has_value()) << want.status().to_string();
      ASSERT_TRUE(got.has_value()) << got.status().to_string();
      expect_near((*got)[0], nhwc((*want)[0]), 0, 0);
    }
  Node bad = Node::make("MaxPoolNhwc", {"x"}, {"y"});
  bad.domain = "ferry";
  bad.attrs["kernel_shape"] = ints({3, 3, 3});
  EXPECT_FALSE(run_single_op(bad, {nhwc(x)}, 12).has_value());
}

}  // namespace
}  // namespace ferry::test
