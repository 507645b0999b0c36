// qconv_test.cc — fuse_qdq_conv + fuse_qdq_layout rewrite QDQ conv patterns into ferry.QConv (int8 oneDNN), and
// the fused graph agrees with the unfused QDQ graph (reference Q/DQ kernels around a float conv) within one
// quantization step of each quantized output.
#include <cmath>
#include <cstdlib>

#include "passes/pass_test_util.h"
#include "passes/qdq_fusions.h"

namespace ferry::test {
namespace {

Attr ints_attr(std::vector<int64_t> v) {
  Attr a;
  a.kind = Attr::Kind::kInts;
  a.ints = std::move(v);
  return a;
}
Attr int_attr(int64_t v) {
  Attr a;
  a.kind = Attr::Kind::kInt;
  a.i = v;
  return a;
}

Tensor zp_tensor(DType t, int v) {
  Tensor z = Tensor::empty(t, {});
  if (t == DType::kUInt8) *z.data<uint8_t>() = static_cast<uint8_t>(v);
  else *z.data<int8_t>() = static_cast<int8_t>(v);
  return z;
}

// x (float) -> QuantizeLinear -> DequantizeLinear, named `p`; returns the dequantized value.
std::string add_qdq(Graph& g, const std::string& x, const std::string& p, float scale, DType t, int zp) {
  add_init(g, p + "_s", Tensor::scalar_float(scale));
  add_init(g, p + "_z", zp_tensor(t, zp));
  add_node(g, "QuantizeLinear", {x, p + "_s", p + "_z"}, {p + "_q"});
  add_node(g, "DequantizeLinear", {p + "_q", p + "_s", p + "_z"}, {p + "_dq"});
  return p + "_dq";
}

// A conv with int8 per-channel weights behind a DequantizeLinear (as `ferry quantize --per-channel` writes).
void add_qconv_float(Graph& g, const std::string& x, const std::string& y, int64_t c, int64_t m, int64_t k,
                     int64_t group, int64_t stride, uint32_t seed) {
  const std::string p = y + "_w";
  Tensor wq = Tensor::empty(DType::kInt8, {m, c / group, k, k});
  std::mt19937 rng(seed);
  for (int64_t i = 0; i < wq.numel(); ++i) wq.data<int8_t>()[i] = static_cast<int8_t>(int(rng() % 255) - 127);
  Tensor ws = Tensor::empty(DType::kFloat, {m});
  Tensor wz = Tensor::zeros(DType::kInt8, {m});
  for (int64_t i = 0; i < m; ++i) ws.data<float>()[i] = 0.002f + 0.0005f * static_cast<float>(i % 7);
  add_init(g, p + "_q", wq);
  add_init(g, p + "_s", ws);
  add_init(g, p + "_z", wz);
  add_init(g, y + "_b", random_floats({m}, seed + 1, -0.2f, 0.2f));
  add_node(g, "DequantizeLinear", {p + "_q", p + "_s", p + "_z"}, {p + "_dq"}, {{"axis", int_attr(0)}});
  add_node(g, "Conv", {x, p + "_dq", y + "_b"}, {y},
           {{"kernel_shape", ints_attr({k, k})},
            {"pads", ints_attr({k / 2, k / 2, k / 2, k / 2})},
            {"strides", ints_attr({stride, stride})},
            {"group", int_attr(group)}});
}

Model chain_model(DType act_type, int zp) {
  Model m = make_model({"x"}, {{"x", ftype({2, 8, 13, 11})}}, {"out", "res"});
  Graph& g = m.graph;
  // conv1 (3x3, stride 2) + Relu -> Q ; conv2 (depthwise) + Clip -> Q ; conv3 (1x1) + Add(residual) + Relu (float)
  std::string x = add_qdq(g, "x", "in", 0.02f, act_type, zp);
  add_qconv_float(g, x, "c1", 8, 16, 3, 1, 2, 1);
  add_node(g, "Relu", {"c1"}, {"r1"});
  x = add_qdq(g, "r1", "a1", 0.01f, act_type, zp);
  add_qconv_float(g, x, "c2", 16, 16, 3, 16, 1, 2);
  add_init(g, "lo", Tensor::scalar_float(0.f));
  add_init(g, "hi", Tensor::scalar_float(0.5f));
  add_node(g, "Clip", {"c2", "lo", "hi"}, {"r2"});
  x = add_qdq(g, "r2", "a2", 0.004f, act_type, zp);
  add_qconv_float(g, x, "c3", 16, 16, 1, 1, 1, 3);
  add_node(g, "Add", {"c3", "r1"}, {"s3"});
  add_node(g, "Relu", {"s3"}, {"res"});
  add_qdq(g, "res", "o", 0.01f, act_type, zp);
  add_node(g, "Identity", {"o_dq"}, {"out"});
  return m;
}

Model optimized(const Model& m) {
  Model f = m;
  EXPECT_TRUE(f.graph.topo_sort().is_ok());
  PassManager pm;
  add_passes_for_level(pm, OptLevel::kAll);
  auto r = pm.run(f);
  EXPECT_TRUE(r.has_value()) << r.status().to_string();
  return f;
}

void expect_within_steps(const Tensor& got, const Tensor& want, double step, double steps) {
  ASSERT_EQ(got.shape(), want.shape());
  double worst = 0;
  for (int64_t i = 0; i < got.numel(); ++i)
    worst = std::max(worst, std::fabs(double(got.data<float>()[i]) - double(want.data<float>()[i])));
  EXPECT_LE(worst, step * steps + 1e-6) << "max abs diff " << worst << " (step " << step << ")";
}

void check_chain(DType t, int zp) {
  Model m = chain_model(t, zp);
  Model f = optimized(m);
  EXPECT_EQ(count_op(f.graph, "QConv"), 3);
  EXPECT_EQ(count_op(f.graph, "Conv"), 0);
  // int8 flows from conv2 to conv3 directly; the QuantizeLinears left are the image's, r1's (conv1's output is
  // also the float residual of conv3, so conv1 keeps a float output) and the output's.
  EXPECT_EQ(count_op(f.graph, "QuantizeLinear"), 3);
  EXPECT_EQ(count_op(f.graph, "DequantizeLinear"), 1);  // the output's
  int nchw_entries = 0;
  for (const Node& n : f.graph.nodes)
    if (n.op_type == "QConv") {
      EXPECT_EQ(n.attr_int("channels_last", 0), 1) << n.name;
      nchw_entries += static_cast<int>(n.attr_int("x_nchw", 0));
    }
  // conv1 reads the image's int8 NCHW directly (no Transpose at the region's entry)
  EXPECT_EQ(nchw_entries, 1);
  for (const Node& n : f.graph.nodes)
    if (n.op_type == "Transpose") {
      EXPECT_NE(n.inputs[0], "in_q") << n.name;
    }
  std::vector<Tensor> in{random_floats({2, 8, 13, 11}, 7, -1.5f, 2.5f)};
  auto want = run_model(m, in);
  auto got = run_model(f, in);
  ASSERT_EQ(got.size(), 2u);
  expect_within_steps(got[0], want[0], 0.01, 1);
  // the float residual output: conv3 reads int8 values that may differ by a step; bound by a few output ulps
  expect_within_steps(got[1], want[1], 0.01, 1);
}

TEST(QuantQdqConv, Int8ChainMatchesQdqGraph) { check_chain(DType::kInt8, 0); }

TEST(QuantQdqConv, Uint8WithZeroPointsMatchesQdqGraph) { check_chain(DType::kUInt8, 20); }

TEST(QuantQdqConv, ReferenceKernelMatchesQdqGraph) {
  setenv("FERRY_DNNL", "0", 1);
  check_chain(DType::kInt8, 0);
  check_chain(DType::kUInt8, 5);
  unsetenv("FERRY_DNNL");
}

// A MobileNet-v2 residual: conv1 (no activation) keeps a float output read by its QuantizeLinear and by the Add;
// conv2 + Add(conv1) + QuantizeLinear becomes one QConv with a float Z and an int8 Y (no float round trip).
Model residual_model(DType t, int zp) {
  Model m = make_model({"x"}, {{"x", ftype({2, 8, 13, 11})}}, {"out"});
  Graph& g = m.graph;
  std::string x = add_qdq(g, "x", "in", 0.02f, t, zp);
  add_qconv_float(g, x, "c1", 8, 16, 3, 1, 1, 11);
  x = add_qdq(g, "c1", "a1", 0.01f, t, zp);
  add_qconv_float(g, x, "c2", 16, 16, 1, 1, 1, 12);
  add_node(g, "Add", {"c2", "c1"}, {"s2"});
  add_qdq(g, "s2", "o", 0.015f, t, zp);
  add_node(g, "Identity", {"o_dq"}, {"out"});
  return m;
}

void check_residual(DType t, int zp) {
  Model m = residual_model(t, zp);
  Model f = optimized(m);
  EXPECT_EQ(count_op(f.graph, "QConv"), 2);
  EXPECT_EQ(count_op(f.graph, "Add"), 0);
  EXPECT_EQ(count_op(f.graph, "QuantizeLinear"), 2);  // the image's and a1's; o's is inside conv2's QConv
  bool fused = false;
  for (const Node& n : f.graph.nodes)
    fused = fused || (n.op_type == "QConv" && n.inputs.size() == 9 && n.has_input(6) && n.has_input(8));
  EXPECT_TRUE(fused);
  std::vector<Tensor> in{random_floats({2, 8, 13, 11}, 9, -1.5f, 2.5f)};
  auto want = run_model(m, in);
  auto got = run_model(f, in);
  ASSERT_EQ(got.size(), 1u);
  expect_within_steps(got[0], want[0], 0.015, 1);
}

TEST(QuantQdqConv, ResidualAddIntoQuantizedOutput) {
  check_residual(DType::kInt8, 0);
  check_residual(DType::kUInt8, 30);
}

TEST(QuantQdqConv, ResidualAddIntoQuantizedOutputReference) {
  setenv("FERRY_DNNL", "0", 1);
  check_residual(DType::kInt8, 0);
  check_residual(DType::kUInt8, 30);
  unsetenv("FERRY_DNNL");
}

TEST(QuantQdqConv, KeepsFloatConvWithoutQdq) {
  Model m = make_model({"x"}, {{"x", ftype({1, 8, 9, 9})}}, {"y"});
  add_qconv_float(m.graph, "x", "y", 8, 4, 3, 1, 1, 5);  // float input: no DequantizeLinear on X
  Model f = optimized(m);
  EXPECT_EQ(count_op(f.graph, "QConv"), 0);
}

TEST(QuantQdqConv, NonPositiveScaleStaysUnfusedAndRunsAsQdq) {
  Model m = chain_model(DType::kInt8, 0);
  m.graph.initializers["a1_s"] = Tensor::scalar_float(-0.01f);
  Model f = optimized(m);
  EXPECT_EQ(count_op(f.graph, "QConv"), 2);  // c1 (float output) and c3; c2 reads the negative scale
  std::vector<Tensor> in{random_floats({2, 8, 13, 11}, 7, -1.5f, 2.5f)};
  auto want = run_model(m, in);
  auto got = run_model(f, in);
  ASSERT_EQ(got.size(), 2u);
  expect_within_steps(got[0], want[0], 0.01, 1);
}

}  // namespace
}  // namespace ferry::test
