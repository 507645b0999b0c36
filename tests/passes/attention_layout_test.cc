// Tests of unpack_qkv_gather.cc and attention_batch_major.cc on a batch_first nn.MultiheadAttention block as torch
// exports it (packed in-projection split by torch 1.13's Slices or torch 2.x's Reshape/Unsqueeze/Transpose/Squeeze/
// Gather chain), run through the transformer fusions: the rewrite, and numerical equality with the original.
#include <cmath>

#include "passes/fuse_transformer.h"
#include "passes/pass_test_util.h"
#include "runtime/shape_inference.h"

namespace ferry::test {
namespace {

Tensor i64(std::vector<int64_t> v, bool scalar = false) {
  Tensor t = scalar ? Tensor::empty(DType::kInt64, {}) : Tensor::empty(DType::kInt64, {static_cast<int64_t>(v.size())});
  for (size_t i = 0; i < v.size(); ++i) t.data<int64_t>()[i] = v[i];
  return t;
}

// out = X + MHA(X), X [N, S, E] (batch_first), H heads of width d. gather_split: torch 2.x's QKV split.
Model mha_block(int64_t n, int64_t s, int64_t h, int64_t d, bool gather_split) {
  const int64_t e = h * d;
  Model m = make_model({"x"}, {{"x", ftype({n, s, e})}}, {"out"});
  Graph& g = m.graph;
  add_init(g, "wqkv", random_floats({e, 3 * e}, 11, -0.3f, 0.3f));
  add_init(g, "bqkv", random_floats({3 * e}, 12));
  add_init(g, "wo", random_floats({e, e}, 13, -0.3f, 0.3f));
  add_init(g, "bo", random_floats({e}, 14));
  add_init(g, "scale", fvec({}, {1.f / std::sqrt(static_cast<float>(d))}));
  add_init(g, "heads_shape", i64({s, n * h, d}));
  add_init(g, "flat", i64({s * n, e}));
  add_init(g, "unflat", i64({s, n, e}));
  add_node(g, "Transpose", {"x"}, {"xt"}, {{"perm", attr_ints({1, 0, 2})}});
  add_node(g, "MatMul", {"xt", "wqkv"}, {"mm"});
  add_node(g, "Add", {"bqkv", "mm"}, {"p"});
  const char* names[3] = {"q", "k", "v"};
  if (gather_split) {
    add_init(g, "split_shape", i64({s, n, 3, e}));
    add_init(g, "axis0", i64({0}));
    add_init(g, "axis3", i64({3}));
    add_node(g, "Reshape", {"p", "split_shape"}, {"p4"});
    add_node(g, "Unsqueeze", {"p4", "axis0"}, {"p5"});
    add_node(g, "Transpose", {"p5"}, {"p5t"}, {{"perm", attr_ints({3, 1, 2, 0, 4})}});
    add_node(g, "Squeeze", {"p5t", "axis3"}, {"qkv"});
    for (int i = 0; i < 3; ++i) {
      add_init(g, std::string("idx") + names[i], i64({i}, true));
      add_node(g, "Gather", {"qkv", std::string("idx") + names[i]}, {std::string(names[i]) + "_sl"},
               {{"axis", attr_i(0)}});
    }
  } else {
    add_init(g, "axis_last", i64({-1}));
    for (int i = 0; i <= 3; ++i) add_init(g, "b" + std::to_string(i), i64({i * e}));
    for (int i = 0; i < 3; ++i)
      add_node(g, "Slice", {"p", "b" + std::to_string(i), "b" + std::to_string(i + 1), "axis_last"},
               {std::string(names[i]) + "_sl"});
  }
  for (int i = 0; i < 3; ++i) add_node(g, "Reshape", {std::string(names[i]) + "_sl", "heads_shape"}, {std::string(names[i]) + "0"});
  add_node(g, "Transpose", {"q0"}, {"qh"}, {{"perm", attr_ints({1, 0, 2})}});
  add_node(g, "Transpose", {"k0"}, {"kt"}, {{"perm", attr_ints({1, 2, 0})}});
  add_node(g, "Transpose", {"v0"}, {"vh"}, {{"perm", attr_ints({1, 0, 2})}});
  add_node(g, "Mul", {"qh", "scale"}, {"qs"});
  add_node(g, "MatMul", {"qs", "kt"}, {"sc"});
  add_node(g, "Softmax", {"sc"}, {"pr"}, {{"axis", attr_i(-1)}});
  add_node(g, "MatMul", {"pr", "vh"}, {"y"});
  add_node(g, "Transpose", {"y"}, {"yt"}, {{"perm", attr_ints({1, 0, 2})}});
  add_node(g, "Reshape", {"yt", "flat"}, {"y2"});
  add_node(g, "Gemm", {"y2", "wo", "bo"}, {"o"}, {{"transB", attr_i(1)}});
  add_node(g, "Reshape", {"o", "unflat"}, {"o3"});
  add_node(g, "Transpose", {"o3"}, {"ot"}, {{"perm", attr_ints({1, 0, 2})}});
  add_node(g, "Add", {"x", "ot"}, {"out"});
  EXPECT_TRUE(g.topo_sort().is_ok());
  auto inferred = infer_graph_types(g, {{"x", Shape{n, s, e}}});
  EXPECT_TRUE(inferred.has_value()) << inferred.status().to_string();
  return m;
}

Model fused(const Model& m, bool batch_major = true) {
  Model opt = m;
  std::vector<std::unique_ptr<Pass>> ps;
  ps.push_back(std::make_unique<RulePass>(make_unpack_qkv_gather_rule()));
  ps.push_back(std::make_unique<RulePass>(make_fuse_matmul_bias_rule()));
  ps.push_back(std::make_unique<RulePass>(make_fuse_attention_rule()));
  if (batch_major) ps.push_back(std::make_unique<RulePass>(make_attention_batch_major_rule()));
  ps.push_back(make_eliminate_dead_code());
  run_passes(opt, std::move(ps));
  return opt;
}

const Node* find_op(const Graph& g, const std::string& op) {
  for (const Node& x : g.nodes)
    if (x.op_type == op) return &x;
  return nullptr;
}

TEST(UnpackQkvGather, Torch2SplitBecomesTheHeadSplitOfThePackedProjection) {
  for (auto [n, s, h, d] : std::vector<std::array<int64_t, 4>>{{2, 7, 3, 4}, {1, 9, 2, 8}}) {
    Model m = mha_block(n, s, h, d, true);
    Model opt = fused(m, false);
    EXPECT_EQ(count_op(opt.graph, "Gather"), 0);
    EXPECT_EQ(count_op(opt.graph, "Slice"), 0);
    EXPECT_EQ(count_op(opt.graph, "Squeeze"), 0);
    const Node* att = find_op(opt.graph, "SdpAttention");
    ASSERT_NE(att, nullptr);
    EXPECT_EQ(att->attr_int("num_heads", 0), h);
    EXPECT_EQ(att->attr_ints("offsets"), (std::vector<int64_t>{0, h * d, 2 * h * d}));
    expect_same_outputs(m, opt, {random_floats({n, s, h * d}, 5, -2.f, 2.f)}, 1e-4, 1e-5);
  }
}

TEST(UnpackQkvGather, OtherChainsStay) {
  Model m = mha_block(2, 5, 2, 4, true);
  for (Node& x : m.graph.nodes)
    if (x.op_type == "Transpose" && x.attr_ints("perm").size() == 5) x.attrs["perm"] = attr_ints({3, 1, 0, 2, 4});
  auto inferred = infer_graph_types(m.graph, {{"x", Shape{2, 5, 8}}});
  ASSERT_TRUE(inferred.has_value());
  Model opt = m;
  run_passes(opt, passes(std::make_unique<RulePass>(make_unpack_qkv_gather_rule())));
  EXPECT_EQ(count_op(opt.graph, "Gather"), 3);
}

TEST(AttentionBatchMajor, DropsTheLayoutTransposesAndFoldsTheResidual) {
  for (bool gather_split : {false, true}) {
    for (auto [n, s, h, d] : std::vector<std::array<int64_t, 4>>{{2, 7, 3, 4}, {3, 16, 2, 8}, {1, 5, 1, 4}}) {
      SCOPED_TRACE(::testing::Message() << "gather " << gather_split << " n " << n << " s " << s);
      Model m = mha_block(n, s, h, d, gather_split);
      Model opt = fused(m);
      EXPECT_EQ(count_op(opt.graph, "Transpose"), 0);
      EXPECT_EQ(count_op(opt.graph, "Reshape"), 0);
      EXPECT_EQ(count_op(opt.graph, "Add"), 0);  // the residual is the out-projection's
      EXPECT_EQ(count_op(opt.graph, "FusedMatMul"), 2);
      const Node* att = find_op(opt.graph, "SdpAttention");
      ASSERT_NE(att, nullptr);
      EXPECT_EQ(att->attr_int("seq_major", 1), 0);
      EXPECT_EQ(att->attr_int("num_heads", 0), h);
      expect_same_outputs(m, opt, {random_floats({n, s, h * d}, 6, -2.f, 2.f)}, 1e-4, 1e-5);
    }
  }
}

// A second reader of the projection (or of the attention output) keeps the seq-major form.
TEST(AttentionBatchMajor, ExtraReaderKeepsTheSeqMajorForm) {
  Model m = mha_block(2, 6, 2, 4, false);
  m.graph.outputs.push_back("y2");
  Model opt = fused(m);
  const Node* att = find_op(opt.graph, "SdpAttention");
  ASSERT_NE(att, nullptr);
  EXPECT_EQ(att->attr_int("seq_major", 0), 1);
  EXPECT_GE(count_op(opt.graph, "Transpose"), 2);
  expect_same_outputs(m, opt, {random_floats({2, 6, 8}, 7, -2.f, 2.f)}, 1e-4, 1e-5);
}

}  // namespace
}  // namespace ferry::test
