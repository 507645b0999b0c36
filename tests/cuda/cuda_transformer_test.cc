// cuda_transformer_test.cc — the ferry-domain transformer ops (FusedMatMul, LayerNorm, SdpAttention) on the CUDA
// backend against the CPU backend, on a small post-norm encoder block written with those ops directly.
//
// The block: x[N, S, C] -> Transpose(1,0,2) (the row-copy permute path) -> FusedMatMul(+bias) packed QKV ->
// SdpAttention(seq_major=1, 2 heads, offsets) -> FusedMatMul(trans_b, +bias, +residual) -> LayerNorm ->
// FusedMatMul(+bias, gelu) -> FusedMatMul(+bias, relu, +residual) -> Transpose back. GPU tests skip without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "ferry/session.h"
#include "ir/onnx_import.h"
#include "passes/fuse_transformer.h"
#include "passes/attr_util.h"
#include "cuda/cuda_test_util.h"
#include "passes/pass.h"
#include "runtime/shape_inference.h"
#if FERRY_HAVE_CUDA
#include "backends/cuda/cuda_ops.h"
#endif

namespace ferry {
namespace {

// head_dim 64 (the kernel's sizes) or, with unsupported_head = true, 48 (SdpAttention falls back to the CPU).
// batch_major: no layout Transposes, the attention reads and writes [N, S, C] (attention_batch_major.cc's form).
std::string write_block(bool unsupported_head, bool batch_major = false) {
  const int64_t hd = unsupported_head ? 48 : 64, heads = 2, c = hd * heads, ff = 2 * c;
  Model m;
  m.opsets[""] = 13;
  m.opsets["ferry"] = 1;
  m.ir_version = 8;
  Graph& g = m.graph;
  g.name = "cuda_transformer_test";
  g.inputs = {"x"};
  g.value_info["x"] = {DType::kFloat, SymShape::from_dims({Dim::symbolic("N"), Dim(7), Dim(c)})};
  g.initializers["wqkv"] = random_tensor({c, 3 * c}, 1, 0.15f);
  g.initializers["bqkv"] = random_tensor({3 * c}, 2, 0.1f);
  g.initializers["wo"] = random_tensor({c, c}, 3, 0.1f);  // [N, K]: trans_b
  g.initializers["bo"] = random_tensor({c}, 4, 0.1f);
  g.initializers["gamma"] = random_tensor({c}, 5, 1.0f);
  g.initializers["beta"] = random_tensor({c}, 6, 0.2f);
  g.initializers["w1"] = random_tensor({c, ff}, 7, 0.1f);
  g.initializers["b1"] = random_tensor({ff}, 8, 0.1f);
  g.initializers["w2"] = random_tensor({ff, c}, 9, 0.1f);
  g.initializers["b2"] = random_tensor({c}, 10, 0.1f);
  auto ferry_op = [](const std::string& op, std::vector<std::string> in, const std::string& out) {
    Node n = Node::make(op, std::move(in), {out});
    n.domain = "ferry";
    n.name = out;
    return n;
  };
  const std::string xt = batch_major ? "x" : "xt";
  if (!batch_major) {
    Node t0 = Node::make("Transpose", {"x"}, {"xt"});
    t0.attrs["perm"] = ints_attr({1, 0, 2});
    g.nodes.push_back(t0);
  }
  Node qkv = ferry_op("FusedMatMul", {xt, "wqkv", "bqkv"}, "qkv");
  qkv.attrs["activation"] = string_attr("none");
  g.nodes.push_back(qkv);
  Node att = ferry_op("SdpAttention", {"qkv", "qkv", "qkv"}, "att");
  att.attrs["seq_major"] = int_attr(batch_major ? 0 : 1);
  att.attrs["num_heads"] = int_attr(heads);
  att.attrs["head_dim"] = int_attr(hd);
  att.attrs["v_head_dim"] = int_attr(hd);
  att.attrs["offsets"] = ints_attr({0, c, 2 * c});
  att.attrs["scale"] = float_attr(1.0f / std::sqrt(static_cast<float>(hd)));
  g.nodes.push_back(att);
  Node o = ferry_op("FusedMatMul", {"att", "wo", "bo", xt}, "o1");
  o.attrs["activation"] = string_attr("none");
  o.attrs["trans_b"] = int_attr(1);
  g.nodes.push_back(o);
  Node ln = ferry_op("LayerNorm", {"o1", "gamma", "beta"}, "l1");
  ln.attrs["epsilon"] = float_attr(1e-5f);
  g.nodes.push_back(ln);
  Node f1 = ferry_op("FusedMatMul", {"l1", "w1", "b1"}, "h");
  f1.attrs["activation"] = string_attr("gelu");
  g.nodes.push_back(f1);
  Node f2 = ferry_op("FusedMatMul", {"h", "w2", "b2", "l1"}, batch_major ? "y" : "o2");
  f2.attrs["activation"] = string_attr("relu");
  g.nodes.push_back(f2);
  if (!batch_major) {
    Node t1 = Node::make("Transpose", {"o2"}, {"y"});
    t1.attrs["perm"] = ints_attr({1, 0, 2});
    g.nodes.push_back(t1);
  }
  g.outputs = {"y"};
  for (auto& n : g.nodes) n.opset = n.domain.empty() ? 13 : 1;
  std::string path = (std::filesystem::temp_directory_path() /
                      (std::string(unsupported_head ? "ferry_cuda_block48" : "ferry_cuda_block") +
                       (batch_major ? "_bm.onnx" : ".onnx")))
                         .string();
  Status st = save_onnx_model(m, path);
  EXPECT_TRUE(st.is_ok()) << st.to_string();
  return path;
}

TEST(CudaBackend, TransformerOpsMatchCpu) {
  for (auto [unsupported_head, batch_major] : {std::pair{false, false}, {true, false}, {false, true}}) {
    std::string path = write_block(unsupported_head, batch_major);
    SessionOptions probe;
    probe.device = "cuda";
    auto ps = Session::load(path, probe);
    if (!ps) GTEST_SKIP() << "no usable CUDA GPU: " << ps.status().to_string();
    for (int64_t batch : {2, 3}) {
      Tensor x = random_tensor({batch, 7, unsupported_head ? 96 : 128}, static_cast<uint32_t>(50 + batch), 1.5f);
      auto cpu = Session::load(path, SessionOptions{});
      ASSERT_TRUE(cpu.has_value()) << cpu.status().to_string();
      auto ref = (*cpu)->run({x});
      ASSERT_TRUE(ref.has_value()) << ref.status().to_string();
      for (const char* precision : {"fp32", "fp16", "bf16"}) {
        for (bool graph : {false, true}) {
          SCOPED_TRACE(std::string(precision) + (graph ? " cuda-graph" : "") + " batch " + std::to_string(batch) +
                       (unsupported_head ? " head 48" : "") + (batch_major ? " batch-major" : ""));
          SessionOptions o;
          o.device = "cuda";
          o.precision = precision;
          o.cuda_graph = graph;
          auto s = Session::load(path, o);
          ASSERT_TRUE(s.has_value()) << s.status().to_string();
          auto out = (*s)->run({x});
          ASSERT_TRUE(out.has_value()) << out.status().to_string();
          ASSERT_EQ(out->size(), 1u);
          const std::string p = precision;
          const double tol = p == "fp32" ? 1e-4 : p == "fp16" ? 2e-2 : 8e-2;
          expect_close((*ref)[0], (*out)[0], tol, tol);
          const std::string summary = (*s)->device_summary();
          if (!unsupported_head) EXPECT_NE(summary.find(" 0 on the CPU"), std::string::npos) << summary;
          else EXPECT_EQ(summary.find(" 0 on the CPU"), std::string::npos) << summary;
        }
      }
    }
  }
}

// ViT's patch embedding: Conv 4x4 stride 4 (3 -> 8 channels) on x[N, 3, 16, 16] on the patchify path (the default)
// (permute + GEMM, cuda_patchify.cc) against the CPU, NCHW input in FP32 and the padded NHWC stem in FP16/BF16.
TEST(CudaBackend, PatchifyConvMatchesCpu) {
  Model m;
  m.opsets[""] = 13;
  m.ir_version = 8;
  Graph& g = m.graph;
  g.name = "cuda_patchify_test";
  g.inputs = {"x"};
  g.value_info["x"] = {DType::kFloat, SymShape::from_dims({Dim::symbolic("N"), Dim(3), Dim(16), Dim(16)})};
  g.initializers["w"] = random_tensor({8, 3, 4, 4}, 21, 0.5f);
  g.initializers["b"] = random_tensor({8}, 22, 0.5f);
  Node conv = Node::make("Conv", {"x", "w", "b"}, {"y"});
  conv.attrs["kernel_shape"] = ints_attr({4, 4});
  conv.attrs["strides"] = ints_attr({4, 4});
  conv.name = "patch";
  conv.opset = 13;
  g.nodes.push_back(conv);
  g.outputs = {"y"};
  std::string path = (std::filesystem::temp_directory_path() / "ferry_cuda_patchify.onnx").string();
  ASSERT_TRUE(save_onnx_model(m, path).is_ok());
  SessionOptions probe;
  probe.device = "cuda";
  if (!Session::load(path, probe)) GTEST_SKIP() << "no usable CUDA GPU";
  Tensor x = random_tensor({3, 3, 16, 16}, 23, 1.0f);
  auto cpu = Session::load(path, SessionOptions{});
  ASSERT_TRUE(cpu.has_value());
  auto ref = (*cpu)->run({x});
  ASSERT_TRUE(ref.has_value());
  setenv("FERRY_CUDA_PATCHIFY", "1", 1);
  for (const char* precision : {"fp32", "fp16", "bf16"}) {
    SCOPED_TRACE(precision);
    SessionOptions o;
    o.device = "cuda";
    o.precision = precision;
    o.cuda_graph = true;
    auto s = Session::load(path, o);
    ASSERT_TRUE(s.has_value()) << s.status().to_string();
    auto out = (*s)->run({x});
    ASSERT_TRUE(out.has_value()) << out.status().to_string();
    const std::string p = precision;
    const double tol = p == "fp32" ? 1e-4 : p == "fp16" ? 2e-2 : 8e-2;
    expect_close((*ref)[0], (*out)[0], tol, tol);
  }
  unsetenv("FERRY_CUDA_PATCHIFY");
}

#if FERRY_HAVE_CUDA
// Host only (no GPU): the device executor's pipeline (extended passes + the transformer fusions, input shapes
// fixed) on the zoo's bert_tiny_enc and vit_b_16 leaves only nodes the CUDA backend takes, the ferry ops
// included. Models from build/zoo (FERRY_ZOO_DIR overrides); each is skipped when it is not there.
TEST(CudaBackend, ZooTransformersFuseIntoSupportedOps) {
  const char* env = std::getenv("FERRY_ZOO_DIR");
  struct Case {
    const char* name;
    Shape input;
    int min_ferry_ops;  // bert: 16 FusedMatMul, 8 LayerNorm, 4 SdpAttention at the time of writing
  };
  int found = 0;
  for (const Case& c : {Case{"bert_tiny_enc", {4, 128, 256}, 20}, Case{"vit_b_16", {2, 3, 224, 224}, 60}}) {
    std::string path;
    for (std::string dir : {std::string(env ? env : "build/zoo"), std::string("../build/zoo"),
                            std::string("../../build/zoo")})
      if (path.empty() && std::filesystem::exists(dir + "/" + c.name + ".onnx")) path = dir + "/" + c.name + ".onnx";
    if (path.empty()) continue;
    ++found;
    SCOPED_TRACE(path);
    auto m = load_onnx_model(path);
    ASSERT_TRUE(m.has_value()) << m.status().to_string();
    Graph& g = m->graph;
    ASSERT_EQ(g.inputs.size(), 1u);
    g.value_info[g.inputs[0]].shape = SymShape::from_shape(c.input);
    PassManager pm;
    add_passes_for_level(pm, OptLevel::kExtended);
    add_transformer_fusions(pm);
    ASSERT_TRUE(pm.run(*m).has_value());
    ASSERT_TRUE(infer_graph_types(g, {{g.inputs[0], c.input}}).has_value());
    int ferry_ops = 0;
    for (const Node& n : g.nodes) {
      ferry_ops += n.domain == "ferry";
      EXPECT_TRUE(cuda::cuda_supports(g, n)) << n.display_name() << " (" << n.domain << "." << n.op_type << ")";
    }
    EXPECT_GE(ferry_ops, c.min_ferry_ops);
  }
  if (found == 0) GTEST_SKIP() << "no zoo model found (set FERRY_ZOO_DIR)";
}
#endif

}  // namespace
}  // namespace ferry
