// rnn_test.cc — RNN, GRU, LSTM. Expected values computed by hand from the ONNX equations (one hidden unit so
// every step can be checked with a calculator).
#include "ops/op_test_util.h"

namespace ferry::test {
namespace {

Tensor i32(Shape s, std::vector<int32_t> v) { return Tensor::from_vector<int32_t>(DType::kInt32, std::move(s), v); }

TEST(RnnOps, RnnForwardWithBias) {
  Node n = Node::make("RNN", {"x", "w", "r", "b"}, {"y", "yh"});
  n.attrs["hidden_size"] = attr_i(1);
  auto out = run_single_op(n, {fvec({2, 1, 1}, {1, 2}), fvec({1, 1, 1}, {0.5f}), fvec({1, 1, 1}, {0.5f}),
                               fvec({1, 2}, {0.1f, 0.2f})}, 14);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  // h1 = tanh(0.5 + 0.3), h2 = tanh(1 + 0.5 h1 + 0.3)
  expect_near((*out)[0], fvec({2, 1, 1, 1}, {0.664036770f, 0.926348483f}));
  expect_near((*out)[1], fvec({1, 1, 1}, {0.926348483f}));
}

TEST(RnnOps, RnnBidirectionalBatchwiseWithSequenceLens) {
  Node n = Node::make("RNN", {"x", "w", "r", "", "sl"}, {"y", "yh"});
  n.attrs["hidden_size"] = attr_i(1);
  n.attrs["direction"] = attr_s("bidirectional");
  n.attrs["layout"] = attr_i(1);
  auto out = run_single_op(n, {fvec({2, 2, 1}, {1, 2, 3, 4}), fvec({2, 1, 1}, {0.5f, -0.3f}), fvec({2, 1, 1}, {0.2f, 0.4f}),
                               i32({2}, {2, 1})}, 22);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  // Y [batch, seq, dirs, hidden]; batch 1 has one valid step, so its step 1 is zero.
  expect_near((*out)[0], fvec({2, 2, 2, 1}, {0.462117157f, -0.473692058f, 0.797760954f, -0.537049567f,
                                             0.905148254f, -0.716297870f, 0, 0}));
  expect_near((*out)[1], fvec({2, 2, 1}, {0.797760954f, -0.473692058f, 0.905148254f, -0.716297870f}));
}

TEST(RnnOps, GruBothResetModes) {
  for (int lbr = 0; lbr < 2; ++lbr) {
    Node n = Node::make("GRU", {"x", "w", "r", "b", "", "h0"}, {"y", "yh"});
    n.attrs["hidden_size"] = attr_i(1);
    n.attrs["linear_before_reset"] = attr_i(lbr);
    auto out = run_single_op(n, {fvec({2, 1, 1}, {1, 2}), fvec({1, 3, 1}, {0.1f, 0.2f, 0.3f}),
                                 fvec({1, 3, 1}, {0.4f, 0.5f, 0.6f}), fvec({1, 6}, {0.01f, 0.02f, 0.03f, 0.04f, 0.05f, 0.06f}),
                                 fvec({1, 1, 1}, {0.5f})}, 14);
    ASSERT_TRUE(out.has_value()) << out.status().to_string();
    if (lbr == 0) expect_near((*out)[0], fvec({2, 1, 1, 1}, {0.508811404f, 0.588596154f}));
    else expect_near((*out)[0], fvec({2, 1, 1, 1}, {0.501998534f, 0.580186443f}));
  }
}

TEST(RnnOps, GruZeroWeightsHalvesState) {
  Node n = Node::make("GRU", {"x", "w", "r", "", "", "h0"}, {"", "yh"});
  n.attrs["hidden_size"] = attr_i(2);
  n.attrs["direction"] = attr_s("reverse");
  auto out = run_single_op(n, {fvec({2, 1, 1}, {5, -7}), fvec({1, 6, 1}, std::vector<float>(6, 0.f)),
                               fvec({1, 6, 2}, std::vector<float>(12, 0.f)), fvec({1, 1, 2}, {1, -2})}, 14);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 1, 2}, {0.25f, -0.5f}));  // z = r = 0.5, h~ = 0: H = H/2 per step
}

TEST(RnnOps, LstmPeepholesAndInputForget) {
  for (int inf = 0; inf < 2; ++inf) {
    Node n = Node::make("LSTM", {"x", "w", "r", "", "", "h0", "c0", "p"}, {"y", "yh", "yc"});
    n.attrs["hidden_size"] = attr_i(1);
    n.attrs["input_forget"] = attr_i(inf);
    auto out = run_single_op(n, {fvec({2, 1, 1}, {1, -1}), fvec({1, 4, 1}, {0.1f, 0.2f, 0.3f, 0.4f}),
                                 fvec({1, 4, 1}, {0.5f, 0.6f, 0.7f, 0.8f}), fvec({1, 1, 1}, {0.2f}),
                                 fvec({1, 1, 1}, {-0.5f}), fvec({1, 3}, {0.3f, -0.2f, 0.1f})}, 14);
    ASSERT_TRUE(out.has_value()) << out.status().to_string();
    if (inf == 0) {
      expect_near((*out)[0], fvec({2, 1, 1, 1}, {-0.0219600687f, -0.0907428914f}));
      expect_near((*out)[2], fvec({1, 1, 1}, {-0.201290457f}));
    } else {
      expect_near((*out)[0], fvec({2, 1, 1, 1}, {0.00959427049f, -0.0772765266f}));
      expect_near((*out)[2], fvec({1, 1, 1}, {-0.169598329f}));
    }
  }
}

TEST(RnnOps, LstmZeroWeightsBatchwise) {
  Node n = Node::make("LSTM", {"x", "w", "r", "", "", "", "c0"}, {"y", "yh", "yc"});
  n.attrs["hidden_size"] = attr_i(1);
  n.attrs["layout"] = attr_i(1);
  // X [batch 1, seq 2, input 3]; c0 [batch, dirs, hidden]
  auto out = run_single_op(n, {fvec({1, 2, 3}, {1, 2, 3, 4, 5, 6}), fvec({1, 4, 3}, std::vector<float>(12, 0.f)),
                               fvec({1, 4, 1}, std::vector<float>(4, 0.f)), fvec({1, 1, 1}, {1})}, 22);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 2, 1, 1}, {0.231058579f, 0.122459331f}));
  expect_near((*out)[2], fvec({1, 1, 1}, {0.25f}));
}

TEST(RnnOps, ClipAndActivationList) {
  Node n = Node::make("RNN", {"x", "w", "r"}, {"y"});
  n.attrs["hidden_size"] = attr_i(1);
  n.attrs["clip"] = attr_f(1.5f);
  Attr acts;
  acts.kind = Attr::Kind::kStrings;
  acts.strings = {"Affine"};
  n.attrs["activations"] = acts;
  n.attrs["activation_alpha"] = attr_floats({2});
  n.attrs["activation_beta"] = attr_floats({1});
  auto out = run_single_op(n, {fvec({2, 1, 1}, {3, 0.25f}), fvec({1, 1, 1}, {1}), fvec({1, 1, 1}, {0})}, 14);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  // step 1: clip(3) = 1.5 -> 2*1.5+1 = 4; step 2: 0.25 -> 1.5
  expect_near((*out)[0], fvec({2, 1, 1, 1}, {4, 1.5f}));
}

TEST(RnnOps, RejectsWrongWeightShape) {
  Node n = Node::make("LSTM", {"x", "w", "r"}, {"y"});
  n.attrs["hidden_size"] = attr_i(2);
  auto out = run_single_op(n, {fvec({1, 1, 1}, {1}), fvec({1, 4, 1}, {0, 0, 0, 0}), fvec({1, 4, 2}, std::vector<float>(8, 0.f))}, 14);
  EXPECT_FALSE(out.has_value());
}

TEST(RnnOps, RejectsBadSequenceLength) {
  Node n = Node::make("RNN", {"x", "w", "r", "", "sl"}, {"y"});
  n.attrs["hidden_size"] = attr_i(1);
  auto out = run_single_op(n, {fvec({1, 1, 1}, {1}), fvec({1, 1, 1}, {1}), fvec({1, 1, 1}, {1}), i32({1}, {5})}, 14);
  EXPECT_FALSE(out.has_value());
}

}  // namespace
}  // namespace ferry::test
