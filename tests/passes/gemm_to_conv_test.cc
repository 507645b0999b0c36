#include "passes/graph_edit.h"
#include "passes/attr_util.h"
#include "passes/pass_test_util.h"

namespace ferry::test {
namespace {

Tensor int64s(std::vector<int64_t> v) {
  Tensor t = Tensor::empty(DType::kInt64, {static_cast<int64_t>(v.size())});
  for (size_t i = 0; i < v.size(); ++i) t.data<int64_t>()[i] = v[i];
  return t;
}

constexpr int64_t kC = 8, kM = 5;

// x [N, C, 3, 3] -> GlobalAveragePool -> Flatten(1) -> Gemm(B, bias) -> y [N, M].
Model pooled_head(Shape b_shape, Shape bias_shape, bool trans_b, SymShape x_shape = SymShape::from_shape({2, kC, 3, 3})) {
  Model m = make_model({"x"}, {{"x", {DType::kFloat, x_shape}}}, {"y"});
  Graph& g = m.graph;
  add_init(g, "B", random_floats(b_shape, 200));
  if (!bias_shape.empty()) add_init(g, "bias", random_floats(bias_shape, 201));
  add_node(g, "GlobalAveragePool", {"x"}, {"p"});
  add_node(g, "Flatten", {"p"}, {"f"}, {{"axis", int_attr(1)}});
  std::vector<std::string> in = {"f", "B"};
  if (!bias_shape.empty()) in.push_back("bias");
  add_node(g, "Gemm", in, {"y"}, {{"transB", int_attr(trans_b ? 1 : 0)}});
  return m;
}

void expect_conv_head(const Model& opt) {
  EXPECT_EQ(count_op(opt.graph, "Gemm"), 0);
  EXPECT_EQ(count_op(opt.graph, "Conv"), 1);
  EXPECT_EQ(count_op(opt.graph, "Flatten"), 1);  // the new one after the conv; the old one is dead
  ASSERT_FALSE(opt.graph.nodes.empty());
  const Node& last = opt.graph.nodes.back();
  EXPECT_EQ(last.op_type, "Flatten");
  EXPECT_EQ(last.outputs[0], "y");
}

std::vector<std::unique_ptr<Pass>> head_passes() {
  return passes(make_fold_shapes(), make_gemm_to_conv(), make_eliminate_dead_code());
}

TEST(GemmToConv, PooledHeadBecomesConv1x1) {
  for (Shape bias : {Shape{kM}, Shape{1, kM}, Shape{}}) {
    Model m = pooled_head({kM, kC}, bias, /*trans_b=*/true);
    Model opt = m;
    run_passes(opt, head_passes());
    expect_conv_head(opt);
    const Node* conv = nullptr;
    for (const Node& n : opt.graph.nodes)
      if (n.op_type == "Conv") conv = &n;
    ASSERT_NE(conv, nullptr);
    EXPECT_EQ(conv->inputs[0], "p");
    EXPECT_EQ(conv->inputs.size(), bias.empty() ? 2u : 3u);
    const Tensor* w = initializer_of(opt.graph, conv->inputs[1]);
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(w->shape(), (Shape{kM, kC, 1, 1}));
    expect_same_outputs(m, opt, {random_floats({2, kC, 3, 3}, 202)}, 1e-5, 1e-5);
  }
}

TEST(GemmToConv, TransBZeroIsTransposedAtRewrite) {
  Model m = pooled_head({kC, kM}, {kM}, /*trans_b=*/false);
  Model opt = m;
  run_passes(opt, head_passes());
  expect_conv_head(opt);
  expect_same_outputs(m, opt, {random_floats({2, kC, 3, 3}, 210)}, 1e-5, 1e-5);
}

TEST(GemmToConv, DynamicBatchKeepsSymbolicShape) {
  SymShape xs = SymShape::from_shape({1, kC, 4, 4});
  xs.dims[0] = Dim::symbolic("N");
  Model m = pooled_head({kM, kC}, {kM}, true, xs);
  Model opt = m;
  run_passes(opt, head_passes());
  expect_conv_head(opt);
  expect_same_outputs(m, opt, {random_floats({3, kC, 4, 4}, 220)}, 1e-5, 1e-5);
  expect_same_outputs(m, opt, {random_floats({1, kC, 4, 4}, 221)}, 1e-5, 1e-5);
}

TEST(GemmToConv, ReduceMeanAndReshapeHead) {
  for (std::vector<int64_t> axes : {std::vector<int64_t>{2, 3}, std::vector<int64_t>{-1, -2}}) {
    for (int64_t lead : {0, -1, 2}) {
      Model m = make_model({"x"}, {{"x", ftype({2, kC, 3, 2})}}, {"y"});
      Graph& g = m.graph;
      add_init(g, "B", random_floats({kM, kC}, 230));
      add_init(g, "bias", random_floats({kM}, 231));
      add_init(g, "shape", int64s({lead, kC}));
      add_node(g, "ReduceMean", {"x"}, {"p"}, {{"axes", ints_attr(axes)}, {"keepdims", int_attr(1)}});
      add_node(g, "Reshape", {"p", "shape"}, {"f"});
      add_node(g, "Gemm", {"f", "B", "bias"}, {"y"}, {{"transB", int_attr(1)}});
      Model opt = m;
      run_passes(opt, head_passes());
      EXPECT_EQ(count_op(opt.graph, "Gemm"), 0) << lead;
      EXPECT_EQ(count_op(opt.graph, "Conv"), 1) << lead;
      EXPECT_EQ(count_op(opt.graph, "Reshape"), 0) << lead;
      expect_same_outputs(m, opt, {random_floats({2, kC, 3, 2}, 232)}, 1e-5, 1e-5);
    }
  }
}

TEST(GemmToConv, FlattenWithOtherReaderStays) {
  Model m = pooled_head({kM, kC}, {kM}, true);
  m.graph.outputs.push_back("f");  // the flattened features are also an output
  Model opt = m;
  run_passes(opt, head_passes());
  EXPECT_EQ(count_op(opt.graph, "Gemm"), 0);
  EXPECT_EQ(count_op(opt.graph, "Conv"), 1);
  EXPECT_EQ(count_op(opt.graph, "Flatten"), 2);
  expect_same_outputs(m, opt, {random_floats({2, kC, 3, 3}, 240)}, 1e-5, 1e-5);
}

// Each case must leave the Gemm alone.
void expect_untouched(Model m, const char* what) {
  Model opt = m;
  run_passes(opt, passes(make_fold_shapes(), make_gemm_to_conv()));
  EXPECT_EQ(count_op(opt.graph, "Gemm"), 1) << what;
  EXPECT_EQ(count_op(opt.graph, "Conv"), 0) << what;
}

TEST(GemmToConv, NonMatchingGemmsStay) {
  {
    Model m = pooled_head({kM, kC}, {kM}, true);
    m.graph.nodes[2].attrs["alpha"] = float_attr(0.5f);
    expect_untouched(m, "alpha");
  }
  {
    Model m = pooled_head({kM, kC}, {kM}, true);
    m.graph.nodes[2].attrs["beta"] = float_attr(2.f);
    expect_untouched(m, "beta");
  }
  {
    Model m = pooled_head({kC, kM}, {kM}, true);  // transA = 1 reads f as [C, N]: not a head
    m.graph.nodes[2].attrs["transA"] = int_attr(1);
    expect_untouched(m, "transA");
  }
  {
    Model m = pooled_head({kM, kC}, {2, kM}, true);  // bias varies over the batch
    expect_untouched(m, "bias [N, M]");
  }
  {
    Model m = pooled_head({kM, kC}, {2, 1}, true);
    expect_untouched(m, "bias [N, 1]");
  }
  {
    Model m = make_model({"x", "B"}, {{"x", ftype({2, kC, 3, 3})}, {"B", ftype({kM, kC})}}, {"y"});
    add_node(m.graph, "GlobalAveragePool", {"x"}, {"p"});
    add_node(m.graph, "Flatten", {"p"}, {"f"}, {{"axis", int_attr(1)}});
    add_node(m.graph, "Gemm", {"f", "B"}, {"y"}, {{"transB", int_attr(1)}});
    expect_untouched(m, "weights are an input");
  }
  {
    // Not a pooled head: Flatten of a [N, C, 1, 1] conv output.
    Model m = make_model({"x"}, {{"x", ftype({2, kC, 1, 1})}}, {"y"});
    add_init(m.graph, "B", random_floats({kM, kC}, 250));
    add_node(m.graph, "Relu", {"x"}, {"p"});
    add_node(m.graph, "Flatten", {"p"}, {"f"}, {{"axis", int_attr(1)}});
    add_node(m.graph, "Gemm", {"f", "B"}, {"y"}, {{"transB", int_attr(1)}});
    expect_untouched(m, "no pooling");
  }
  {
    // ReduceMean over H only: the Flatten mixes W into the features.
    Model m = make_model({"x"}, {{"x", ftype({2, 2, 3, 4})}}, {"y"});
    add_init(m.graph, "B", random_floats({kM, kC}, 251));
    add_node(m.graph, "ReduceMean", {"x"}, {"p"}, {{"axes", ints_attr({2})}, {"keepdims", int_attr(1)}});
    add_node(m.graph, "Flatten", {"p"}, {"f"}, {{"axis", int_attr(1)}});
    add_node(m.graph, "Gemm", {"f", "B"}, {"y"}, {{"transB", int_attr(1)}});
    expect_untouched(m, "ReduceMean over H");
  }
  {
    Model m = pooled_head({kM, kC}, {kM}, true);
    m.graph.nodes[1].attrs["axis"] = int_attr(2);  // Flatten(axis 2) of [N, C, 1, 1] is [N*C, 1]: not [N, C]
    m.graph.nodes[2].inputs[1] = "B1";
    add_init(m.graph, "B1", random_floats({kM, 1}, 252));
    expect_untouched(m, "Flatten axis 2");
  }
}

}  // namespace
}  // namespace ferry::test
