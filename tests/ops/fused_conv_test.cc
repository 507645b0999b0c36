// ferry.FusedConv: the oneDNN path against the reference kernel (FERRY_DNNL=0) on odd shapes, every activation,
// with and without bias / residual Z, NCHW and channels_last; channels_last also against NCHW on transposed data.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>

#include "ops/op_test_util.h"

namespace ferry::test {
namespace {

Tensor rnd(Shape s, unsigned seed) {
  Tensor t = Tensor::empty(DType::kFloat, std::move(s));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
  return t;
}

// [N, C, H, W] <-> [N, H, W, C]
Tensor to_nhwc(const Tensor& x) {
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
  Tensor y = Tensor::empty(DType::kFloat, {n, h, w, c});
  for (int64_t a = 0; a < n; ++a)
    for (int64_t b = 0; b < c; ++b)
      for (int64_t i = 0; i < h * w; ++i) y.data<float>()[(a * h * w + i) * c + b] = x.data<float>()[(a * c + b) * h * w + i];
  return y;
}

struct Case {
  Shape x;  // NCHW
  int64_t m, k, stride, pad, group, dil;
};

Node fused(const Case& c, const std::string& act, std::vector<float> params, bool bias, bool z, bool cl) {
  Node n = Node::make("FusedConv", {"x", "w", bias ? "b" : "", z ? "z" : ""}, {"y"});
  n.domain = "ferry";
  n.attrs["strides"] = attr_ints({c.stride, c.stride});
  n.attrs["pads"] = attr_ints({c.pad, c.pad, c.pad, c.pad});
  n.attrs["dilations"] = attr_ints({c.dil, c.dil});
  n.attrs["group"] = attr_i(c.group);
  n.attrs["activation"] = attr_s(act);
  n.attrs["activation_params"] = attr_floats(std::move(params));
  n.attrs["channels_last"] = attr_i(cl ? 1 : 0);
  return n;
}

Shape out_shape(const Case& c) {
  auto o = [&](int64_t in) { return (in + 2 * c.pad - c.dil * (c.k - 1) - 1) / c.stride + 1; };
  return {c.x[0], c.m, o(c.x[2]), o(c.x[3])};
}

std::vector<Tensor> inputs(const Case& c, bool bias, bool z, bool cl, unsigned seed) {
  Tensor x = rnd(c.x, seed);
  std::vector<Tensor> in{cl ? to_nhwc(x) : x, rnd({c.m, c.x[1] / c.group, c.k, c.k}, seed + 1)};
  if (bias) in.push_back(rnd({c.m}, seed + 2));
  if (z) in.push_back(cl ? to_nhwc(rnd(out_shape(c), seed + 3)) : rnd(out_shape(c), seed + 3));
  return in;
}

std::vector<Tensor> run_with_dnnl(const Node& n, const std::vector<Tensor>& in, bool dnnl) {
  setenv("FERRY_DNNL", dnnl ? "1" : "0", 1);
  auto out = run_single_op(n, in, 13);
  unsetenv("FERRY_DNNL");
  EXPECT_TRUE(out.has_value()) << out.status().to_string();
  return out ? *out : std::vector<Tensor>{};
}

const Case kCases[] = {
    {{2, 3, 13, 7}, 5, 3, 2, 1, 1, 1},   // odd everything, stride 2
    {{1, 6, 11, 9}, 6, 3, 1, 1, 6, 1},   // depthwise
    {{1, 8, 7, 13}, 12, 1, 1, 0, 2, 1},  // grouped 1x1
    {{1, 17, 9, 9}, 16, 3, 1, 2, 1, 2},  // dilated
};

TEST(FusedConv, DnnlMatchesReferenceForEveryActivation) {
  const std::vector<std::pair<std::string, std::vector<float>>> acts{
      {"none", {}}, {"relu", {}}, {"leaky_relu", {0.1f}}, {"clip", {0.f, 0.6f}}, {"sigmoid", {}},
      {"silu", {}}, {"hardswish", {}}, {"tanh", {}}};
  unsigned seed = 1;
  for (const Case& c : kCases)
    for (const auto& [act, params] : acts)
      for (int variant = 0; variant < 4; ++variant) {
        const bool bias = variant & 1, z = variant & 2;
        for (bool cl : {false, true}) {
          SCOPED_TRACE(act + " bias=" + std::to_string(bias) + " z=" + std::to_string(z) + " cl=" + std::to_string(cl) +
                       " x=" + shape_to_string(c.x));
          Node n = fused(c, act, params, bias, z, cl);
          auto in = inputs(c, bias, z, cl, seed++);
          auto fast = run_with_dnnl(n, in, true);
          auto ref = run_with_dnnl(n, in, false);
          ASSERT_EQ(fast.size(), 1u);
          ASSERT_EQ(ref.size(), 1u);
          expect_near(fast[0], ref[0], 1e-4, 1e-5);
        }
      }
}

TEST(FusedConv, ZAfterActivationMatchesReference) {
  // Y = act(conv + B) + Z; SiLU/sigmoid take conv_act.h's pass after oneDNN, the others oneDNN's [eltwise, sum].
  const Case big{{1, 16, 40, 41}, 48, 1, 1, 0, 1, 1};  // > 64K outputs
  unsigned seed = 500;
  for (const std::string act : {"silu", "sigmoid", "relu", "tanh"})
    for (const Case& c : {kCases[0], kCases[1], big})
      for (bool cl : {false, true}) {
        SCOPED_TRACE(act + " cl=" + std::to_string(cl) + " x=" + shape_to_string(c.x));
        Node n = fused(c, act, {}, true, true, cl);
        n.attrs["z_after_activation"] = attr_i(1);
        auto in = inputs(c, true, true, cl, seed++);
        auto fast = run_with_dnnl(n, in, true);
        auto ref = run_with_dnnl(n, in, false);
        ASSERT_EQ(fast.size(), 1u);
        ASSERT_EQ(ref.size(), 1u);
        expect_near(fast[0], ref[0], 1e-4, 1e-5);
        // and it really is act(...) + Z, not act(... + Z)
        Node before = fused(c, act, {}, true, true, cl);
        auto other = run_with_dnnl(before, in, false);
        ASSERT_EQ(other.size(), 1u);
        double diff = 0;
        for (int64_t i = 0; i < ref[0].numel(); ++i)
          diff = std::max(diff, std::abs(double(other[0].data<float>()[i]) - ref[0].data<float>()[i]));
        EXPECT_GT(diff, 1e-3);
      }
  Node bad = fused(kCases[0], "relu", {}, false, false, false);
  bad.attrs["z_after_activation"] = attr_i(2);
  EXPECT_FALSE(run_single_op(bad, inputs(kCases[0], false, false, false, 9), 13).has_value());
}

TEST(FusedConv, ChannelsLastIsTheTransposeOfNchw) {
  for (const Case& c : kCases) {
    Node a = fused(c, "relu", {}, true, true, false);
    Node b = fused(c, "relu", {}, true, true, true);
    auto in = inputs(c, true, true, false, 77);
    std::vector<Tensor> in_cl = in;
    in_cl[0] = to_nhwc(in[0]);
    in_cl[3] = to_nhwc(in[3]);
    auto ya = run_with_dnnl(a, in, false);
    auto yb = run_with_dnnl(b, in_cl, false);
    ASSERT_EQ(ya.size(), 1u);
    ASSERT_EQ(yb.size(), 1u);
    expect_near(yb[0], to_nhwc(ya[0]), 1e-6, 1e-6);
    // channels_last=2: NCHW X, NHWC Z/Y (the first conv of a region), reference and oneDNN.
    Node m2 = fused(c, "relu", {}, true, true, true);
    m2.attrs["channels_last"] = attr_i(2);
    std::vector<Tensor> in2 = in;
    in2[3] = in_cl[3];
    for (bool dnnl : {false, true}) {
      auto yc = run_with_dnnl(m2, in2, dnnl);
      ASSERT_EQ(yc.size(), 1u);
      expect_near(yc[0], to_nhwc(ya[0]), 1e-4, 1e-5);
    }
  }
}

TEST(FusedConv, WinogradMatchesReferenceAndDirect) {
  // 3x3 stride 1, channels multiple of 16: conv_dnnl.cc takes oneDNN's Winograd path (blocked activations with
  // reorders around it, in every channels_last mode, with the residual Z and an activation as post-ops).
  const Case c{{2, 32, 14, 15}, 48, 3, 1, 1, 1, 1};
  unsigned seed = 900;
  for (int mode : {0, 1, 2, 3})
    for (const std::string act : {"relu", "silu"})
      for (bool z_after : {false, true}) {
        SCOPED_TRACE("mode=" + std::to_string(mode) + " " + act + " z_after=" + std::to_string(z_after));
        Node n = fused(c, act, {}, true, true, mode != 0);
        n.attrs["channels_last"] = attr_i(mode);
        n.attrs["z_after_activation"] = attr_i(z_after ? 1 : 0);
        auto in = inputs(c, true, true, false, seed++);
        if (mode == 1 || mode == 3) in[0] = to_nhwc(in[0]);
        if (mode == 1 || mode == 2) in[3] = to_nhwc(in[3]);
        auto wino = run_with_dnnl(n, in, true);
        auto ref = run_with_dnnl(n, in, false);
        setenv("FERRY_DNNL_WINOGRAD", "0", 1);
        auto direct = run_with_dnnl(n, in, true);
        unsetenv("FERRY_DNNL_WINOGRAD");
        ASSERT_EQ(wino.size(), 1u);
        ASSERT_EQ(ref.size(), 1u);
        ASSERT_EQ(direct.size(), 1u);
        expect_near(wino[0], ref[0], 1e-4, 1e-4);
        expect_near(wino[0], direct[0], 1e-4, 1e-4);
      }
}

TEST(FusedConv, Strided1x1SubsamplesThenMatchesReference) {
  // 1x1, stride 2/3, no padding, NHWC X: conv_dnnl.cc gathers the read pixels and runs a stride-1 conv.
  unsigned seed = 950;
  for (const Case& c : {Case{{2, 16, 13, 9}, 24, 1, 2, 0, 1, 1}, Case{{1, 32, 14, 14}, 64, 1, 2, 0, 1, 1},
                        Case{{1, 8, 10, 11}, 12, 1, 3, 0, 2, 1}})
    for (int mode : {1, 3})
      for (bool z : {false, true}) {
        SCOPED_TRACE("x=" + shape_to_string(c.x) + " mode=" + std::to_string(mode) + " z=" + std::to_string(z));
        Node n = fused(c, "relu", {}, true, z, true);
        n.attrs["channels_last"] = attr_i(mode);
        auto in = inputs(c, true, z, false, seed++);
        in[0] = to_nhwc(in[0]);
        if (z && mode == 1) in[3] = to_nhwc(in[3]);
        auto fast = run_with_dnnl(n, in, true);
        auto ref = run_with_dnnl(n, in, false);
        ASSERT_EQ(fast.size(), 1u);
        ASSERT_EQ(ref.size(), 1u);
        expect_near(fast[0], ref[0], 1e-4, 1e-5);
      }
}

TEST(FusedConv, BatchedLargeOutputsRunImageByImage) {
  // Batch > 1 with >= 28x28 outputs: conv_dnnl.cc runs a batch-1 primitive once per image (Winograd, direct,
  // subsampled 1x1, every layout mode, with Z), against the reference.
  unsigned seed = 990;
  for (const Case& c : {Case{{3, 16, 30, 30}, 16, 3, 1, 1, 1, 1}, Case{{2, 5, 29, 30}, 7, 3, 1, 1, 1, 1},
                        Case{{2, 16, 57, 57}, 16, 1, 2, 0, 1, 1}})
    for (int mode : {0, 1, 2, 3}) {
      SCOPED_TRACE("x=" + shape_to_string(c.x) + " mode=" + std::to_string(mode));
      Node n = fused(c, "relu", {}, true, true, mode != 0);
      n.attrs["channels_last"] = attr_i(mode);
      auto in = inputs(c, true, true, false, seed++);
      if (mode == 1 || mode == 3) in[0] = to_nhwc(in[0]);
      if (mode == 1 || mode == 2) in[3] = to_nhwc(in[3]);
      setenv("FERRY_DNNL_PER_IMAGE", "1", 1);  // run_single_op runs 2 threads; per image is the 1-thread default
      auto fast = run_with_dnnl(n, in, true);
      unsetenv("FERRY_DNNL_PER_IMAGE");
      auto ref = run_with_dnnl(n, in, false);
      ASSERT_EQ(fast.size(), 1u);
      ASSERT_EQ(ref.size(), 1u);
      expect_near(fast[0], ref[0], 1e-4, 1e-4);
    }
}

TEST(FusedConv, RejectsBadInputsWithStatus) {
  const Case c{{1, 4, 5, 5}, 4, 3, 1, 1, 1, 1};
  Node n = fused(c, "clip", {0.f}, false, false, false);  // clip needs 2 params
  EXPECT_FALSE(run_single_op(n, inputs(c, false, false, false, 3), 13).has_value());
  Node z = fused(c, "relu", {}, false, true, false);
  auto in = inputs(c, false, true, false, 4);
  in[2] = rnd({1, 4, 5, 4}, 5);  // Z of the wrong shape
  EXPECT_FALSE(run_single_op(z, in, 13).has_value());
}

}  // namespace
}  // namespace ferry::test
