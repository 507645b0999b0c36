// attention_test.cc — Attention, RotaryEmbedding, LinearAttention, CausalConvWithState, FlexAttention.
#include <cmath>

#include "ops/op_test_util.h"

namespace ferry::test {
namespace {


TEST(AttentionFamily, UniformScoresAverageValues) {
  // All keys zero -> equal scores -> Y = mean of V rows.
  Node n = Node::make("Attention", {"q", "k", "v"}, {"y"});
  auto out = run_single_op(n, {fvec({1, 1, 1, 2}, {1, 0}), fvec({1, 1, 2, 2}, {0, 0, 0, 0}), fvec({1, 1, 2, 2}, {1, 2, 3, 4})}, 23);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 1, 2}, {2, 3}));
}

TEST(AttentionFamily, ScoresWithScaleAndSoftcapOutput) {
  // scale 1: scores [2, 0]; softcap 1 -> [tanh 2, 0]; mode 1 returns the softcapped scores.
  Node n = Node::make("Attention", {"q", "k", "v"}, {"y", "", "", "qk"});
  n.attrs["scale"] = attr_f(1.f);
  n.attrs["softcap"] = attr_f(1.f);
  n.attrs["qk_matmul_output_mode"] = attr_i(1);
  auto out = run_single_op(n, {fvec({1, 1, 1, 2}, {1, 0}), fvec({1, 1, 2, 2}, {2, 0, 0, 0}), fvec({1, 1, 2, 1}, {1, 0})}, 23);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  double s0 = std::tanh(2.0);
  double p0 = std::exp(s0) / (std::exp(s0) + 1.0);
  expect_near((*out)[0], fvec({1, 1, 1, 1}, {static_cast<float>(p0)}));
  expect_near((*out)[1], fvec({1, 1, 1, 2}, {static_cast<float>(s0), 0}));
}

TEST(AttentionFamily, BoolMaskCausalAndFullyMaskedRow) {
  // Row 0 sees key 0 only (causal), row 1 sees both; the bool mask hides everything from row 2 -> zeros.
  Node n = Node::make("Attention", {"q", "k", "v", "m"}, {"y", "", "", "qk"});
  n.attrs["is_causal"] = attr_i(1);
  n.attrs["qk_matmul_output_mode"] = attr_i(3);
  Tensor q = fvec({1, 1, 3, 1}, {1, 1, 1});
  Tensor k = fvec({1, 1, 3, 1}, {0, 0, 0});
  Tensor v = fvec({1, 1, 3, 1}, {2, 4, 6});
  Tensor m = bvec({3, 3}, {true, true, true, true, true, true, false, false, false});
  auto out = run_single_op(n, {q, k, v, m}, 23);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 3, 1}, {2, 3, 0}));
  expect_near((*out)[1], fvec({1, 1, 3, 3}, {1, 0, 0, 0.5, 0.5, 0, 0, 0, 0}));
}

TEST(AttentionFamily, PastPresentAndShortFloatMask) {
  // past length 1 + new length 1; float mask [1,1] covers only the past key: the new key is padded with -inf.
  Node n = Node::make("Attention", {"q", "k", "v", "m", "pk", "pv"}, {"y", "present_k", "present_v"});
  Tensor q = fvec({1, 1, 1, 1}, {1});
  auto out = run_single_op(n, {q, fvec({1, 1, 1, 1}, {7}), fvec({1, 1, 1, 1}, {9}), fvec({1, 1}, {0}),
                              fvec({1, 1, 1, 1}, {3}), fvec({1, 1, 1, 1}, {5})}, 23);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 1, 1}, {5}));
  expect_near((*out)[1], fvec({1, 1, 2, 1}, {3, 7}));
  expect_near((*out)[2], fvec({1, 1, 2, 1}, {5, 9}));
}

TEST(AttentionFamily, GroupedQuery3D) {
  // 3-D inputs, 2 query heads share 1 kv head; keys zero -> both heads average V.
  Node n = Node::make("Attention", {"q", "k", "v"}, {"y"});
  n.attrs["q_num_heads"] = attr_i(2);
  n.attrs["kv_num_heads"] = attr_i(1);
  auto out = run_single_op(n, {fvec({1, 1, 4}, {1, 2, 3, 4}), fvec({1, 2, 2}, {0, 0, 0, 0}), fvec({1, 2, 3}, {1, 2, 3, 3, 4, 5})}, 23);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 6}, {2, 3, 4, 2, 3, 4}));
}

TEST(AttentionFamily, NonpadKvSeqlenOpset24) {
  Node n = Node::make("Attention", {"q", "k", "v", "", "", "", "np"}, {"y"});
  auto out = run_single_op(n, {fvec({2, 1, 1, 1}, {1, 1}), fvec({2, 1, 2, 1}, {0, 0, 0, 0}), fvec({2, 1, 2, 1}, {2, 4, 6, 8}), ivec({2}, {1, 2})}, 24);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({2, 1, 1, 1}, {2, 7}));
}

TEST(AttentionFamily, Errors) {
  Node n = Node::make("Attention", {"q", "k", "v"}, {"y"});
  EXPECT_FALSE(run_single_op(n, {fvec({1, 1, 1, 2}, {1, 0}), fvec({1, 2, 2}, {0, 0, 0, 0}), fvec({1, 1, 2, 2}, {1, 2, 3, 4})}, 23).has_value());
  // 3 query heads cannot share 2 kv heads.
  EXPECT_FALSE(run_single_op(n, {fvec({1, 3, 1, 1}, {1, 1, 1}), fvec({1, 2, 1, 1}, {0, 0}), fvec({1, 2, 1, 1}, {1, 2})}, 23).has_value());
  // Mask longer than the total sequence length.
  Node m = Node::make("Attention", {"q", "k", "v", "m"}, {"y"});
  EXPECT_FALSE(run_single_op(m, {fvec({1, 1, 1, 1}, {1}), fvec({1, 1, 1, 1}, {0}), fvec({1, 1, 1, 1}, {1}), fvec({1, 2}, {0, 0})}, 23).has_value());
}

TEST(AttentionFamily, RotaryEmbeddingHalvesAndInterleaved) {
  Tensor x = fvec({1, 1, 1, 4}, {1, 2, 3, 4});
  Tensor cosc = fvec({1, 2}, {0, 1}), sinc = fvec({1, 2}, {1, 0});
  Tensor pos = ivec({1, 1}, {0});
  Node n = Node::make("RotaryEmbedding", {"x", "c", "s", "p"}, {"y"});
  auto out = run_single_op(n, {x, cosc, sinc, pos}, 23);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 1, 4}, {-3, 2, 1, 4}));
  n.attrs["interleaved"] = attr_i(1);
  auto out2 = run_single_op(n, {x, cosc, sinc, pos}, 23);
  ASSERT_TRUE(out2.has_value()) << out2.status().to_string();
  expect_near((*out2)[0], fvec({1, 1, 1, 4}, {-2, 1, 3, 4}));
}

TEST(AttentionFamily, RotaryEmbeddingPartialNoPositionIds3D) {
  // 3-D input, num_heads 1, rotary dim 2 of head size 3: only the first two values rotate (by 90 degrees).
  Node n = Node::make("RotaryEmbedding", {"x", "c", "s"}, {"y"});
  n.attrs["num_heads"] = attr_i(1);
  n.attrs["rotary_embedding_dim"] = attr_i(2);
  auto out = run_single_op(n, {fvec({1, 1, 3}, {1, 2, 9}), fvec({1, 1, 1}, {0}), fvec({1, 1, 1}, {1})}, 23);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 3}, {-2, 1, 9}));
}

TEST(AttentionFamily, RotaryEmbeddingBadPositionId) {
  Node n = Node::make("RotaryEmbedding", {"x", "c", "s", "p"}, {"y"});
  EXPECT_FALSE(run_single_op(n, {fvec({1, 1, 1, 2}, {1, 2}), fvec({1, 1}, {1}), fvec({1, 1}, {0}), ivec({1, 1}, {5})}, 23).has_value());
}

TEST(AttentionFamily, LinearAttentionLinearAndGatedDelta) {
  Node n = Node::make("LinearAttention", {"q", "k", "v"}, {"o", "s"});
  n.attrs["q_num_heads"] = attr_i(1);
  n.attrs["kv_num_heads"] = attr_i(1);
  n.attrs["scale"] = attr_f(1.f);
  n.attrs["update_rule"] = attr_s("linear");
  Tensor q = fvec({1, 2, 1}, {1, 1}), k = fvec({1, 2, 1}, {1, 2}), v = fvec({1, 2, 1}, {3, 4});
  auto out = run_single_op(n, {q, k, v}, 27);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 2, 1}, {3, 11}));
  expect_near((*out)[1], fvec({1, 1, 1, 1}, {11}));
  // gated_delta: t1 S = 3; t2 S = 0.5*3 = 1.5, retrieved 3, delta 1, S = 1.5 + 2 = 3.5.
  Node g = Node::make("LinearAttention", {"q", "k", "v", "", "d", "b"}, {"o", "s"});
  g.attrs = n.attrs;
  g.attrs.erase("update_rule");
  auto out2 = run_single_op(g, {q, k, v, fvec({1, 2, 1}, {0, std::log(0.5f)}), fvec({1, 2, 1}, {1, 1})}, 27);
  ASSERT_TRUE(out2.has_value()) << out2.status().to_string();
  expect_near((*out2)[0], fvec({1, 2, 1}, {3, 3.5}));
  expect_near((*out2)[1], fvec({1, 1, 1, 1}, {3.5}));
}

TEST(AttentionFamily, LinearAttentionBadHeads) {
  Node n = Node::make("LinearAttention", {"q", "k", "v"}, {"o"});
  n.attrs["q_num_heads"] = attr_i(3);
  n.attrs["kv_num_heads"] = attr_i(2);
  EXPECT_FALSE(run_single_op(n, {fvec({1, 1, 6}, {}), fvec({1, 1, 4}, {}), fvec({1, 1, 4}, {})}, 27).has_value());
}

TEST(AttentionFamily, CausalConvWithStatePastAndSilu) {
  Node n = Node::make("CausalConvWithState", {"x", "w", "", "p"}, {"y", "s"});
  auto out = run_single_op(n, {fvec({1, 1, 3}, {1, 2, 3}), fvec({1, 1, 2}, {1, 2}), fvec({1, 1, 1}, {5})}, 27);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 3}, {7, 5, 8}));
  expect_near((*out)[1], fvec({1, 1, 1}, {3}));
  Node s = Node::make("CausalConvWithState", {"x", "w", "b"}, {"y"});
  s.attrs["activation"] = attr_s("silu");
  auto out2 = run_single_op(s, {fvec({1, 1, 2}, {1, 0}), fvec({1, 1, 2}, {1, 1}), fvec({1}, {-1})}, 27);
  ASSERT_TRUE(out2.has_value()) << out2.status().to_string();
  // conv: [0+1-1, 1+0-1] = [0, 0] -> silu 0.
  expect_near((*out2)[0], fvec({1, 1, 2}, {0, 0}));
}

TEST(AttentionFamily, CausalConvBadState) {
  Node n = Node::make("CausalConvWithState", {"x", "w", "", "p"}, {"y"});
  EXPECT_FALSE(run_single_op(n, {fvec({1, 1, 3}, {1, 2, 3}), fvec({1, 1, 2}, {1, 2}), fvec({1, 1, 3}, {5, 5, 5})}, 27).has_value());
}

TEST(AttentionFamily, FlexAttentionPlain) {
  Node n = Node::make("FlexAttention", {"q", "k", "v"}, {"y"});
  n.domain = "ai.onnx.preview";
  auto out = run_single_op(n, {fvec({1, 1, 1, 2}, {1, 0}), fvec({1, 1, 2, 2}, {0, 0, 0, 0}), fvec({1, 1, 2, 2}, {1, 2, 3, 4})}, 26);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 1, 2}, {2, 3}));
}

}  // namespace
}  // namespace ferry::test
