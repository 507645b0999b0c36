// cuda_backend_test.cc — the CUDA backend against the CPU backend on small graphs, and the device errors.
//
// Tests that need a GPU skip with a message when none is visible (CI builds the backend but has no GPU);
// the error tests run everywhere: a bad device string, a bad ordinal, a build without CUDA.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <thread>

#include "ferry/session.h"
#include "ir/onnx_import.h"
#include "runtime/device_executor.h"
#include "cuda/cuda_test_util.h"

namespace ferry {
namespace {

Attr ints(std::vector<int64_t> v) {
  Attr a;
  a.kind = Attr::Kind::kInts;
  a.ints = std::move(v);
  return a;
}

// x[N,3,8,8] -> Conv+Relu -> Softplus (CPU fallback) -> Conv -> Add(residual) -> Relu -> MaxPool -> GlobalAveragePool
// -> Flatten -> Gemm -> Softmax; a second output reads an intermediate (a download in the middle).
std::string write_test_model() {
  Model m;
  m.opsets[""] = 13;
  m.ir_version = 8;
  Graph& g = m.graph;
  g.name = "cuda_test";
  g.inputs = {"x"};
  g.value_info["x"] = {DType::kFloat, SymShape::from_dims({Dim::symbolic("N"), Dim(3), Dim(8), Dim(8)})};
  g.initializers["w1"] = random_tensor({8, 3, 3, 3}, 1, 0.5f);
  g.initializers["b1"] = random_tensor({8}, 2, 0.1f);
  g.initializers["w2"] = random_tensor({8, 8, 3, 3}, 3, 0.3f);
  g.initializers["b2"] = random_tensor({8}, 4, 0.1f);
  g.initializers["wf"] = random_tensor({5, 8}, 5);
  g.initializers["bf"] = random_tensor({5}, 6);
  auto conv = [&](const std::string& x, const std::string& w, const std::string& b, const std::string& y) {
    Node n = Node::make("Conv", {x, w, b}, {y});
    n.attrs["pads"] = ints({1, 1, 1, 1});
    n.attrs["kernel_shape"] = ints({3, 3});
    n.name = y;
    return n;
  };
  g.nodes.push_back(conv("x", "w1", "b1", "c1"));
  g.nodes.push_back(Node::make("Relu", {"c1"}, {"r1"}));
  g.nodes.push_back(Node::make("Softplus", {"r1"}, {"n1"}));  // no CUDA kernel: CPU fallback
  g.nodes.push_back(Node::make("Relu", {"n1"}, {"r1b"}));
  g.nodes.push_back(conv("r1b", "w2", "b2", "c2"));
  g.nodes.push_back(Node::make("Add", {"c2", "r1b"}, {"a2"}));
  g.nodes.push_back(Node::make("Relu", {"a2"}, {"r2"}));
  Node pool = Node::make("MaxPool", {"r2"}, {"p"});
  pool.attrs["kernel_shape"] = ints({2, 2});
  pool.attrs["strides"] = ints({2, 2});
  g.nodes.push_back(pool);
  g.nodes.push_back(Node::make("GlobalAveragePool", {"p"}, {"gap"}));
  g.nodes.push_back(Node::make("Flatten", {"gap"}, {"flat"}));
  Node gemm = Node::make("Gemm", {"flat", "wf", "bf"}, {"logits"});
  Attr tb;
  tb.kind = Attr::Kind::kInt;
  tb.i = 1;
  gemm.attrs["transB"] = tb;
  g.nodes.push_back(gemm);
  g.nodes.push_back(Node::make("Softmax", {"logits"}, {"prob"}));
  g.outputs = {"prob", "p"};
  for (auto& n : g.nodes) n.opset = 13;
  std::string path = (std::filesystem::temp_directory_path() / "ferry_cuda_test.onnx").string();
  Status st = save_onnx_model(m, path);
  EXPECT_TRUE(st.is_ok()) << st.to_string();
  return path;
}

// MobileNet-like block: x[N,3,8,8] (padded to 8 stored channels in FP16) -> Conv -> Clip(0,6) -> depthwise Conv ->
// Clip(0,6) -> 1x1 Conv -> Add(first Clip) ; a second branch Conv (no bias) -> Add -> Relu. Exercises the cuDNN
// graph path's conv+bias+clip, grouped conv, conv+bias+add and conv+add+relu (and the legacy path in FP32).
std::string write_clip_model() {
  Model m;
  m.opsets[""] = 13;
  m.ir_version = 8;
  Graph& g = m.graph;
  g.name = "cuda_clip_test";
  g.inputs = {"x"};
  g.value_info["x"] = {DType::kFloat, SymShape::from_dims({Dim::symbolic("N"), Dim(3), Dim(8), Dim(8)})};
  g.initializers["w1"] = random_tensor({16, 3, 3, 3}, 11, 0.8f);
  g.initializers["b1"] = random_tensor({16}, 12, 0.5f);
  g.initializers["wd"] = random_tensor({16, 1, 3, 3}, 13, 0.8f);
  g.initializers["bd"] = random_tensor({16}, 14, 0.5f);
  g.initializers["wp"] = random_tensor({16, 16, 1, 1}, 15, 0.4f);
  g.initializers["bp"] = random_tensor({16}, 16, 0.1f);
  g.initializers["w3"] = random_tensor({16, 16, 3, 3}, 17, 0.2f);
  g.initializers["lo"] = Tensor::scalar_float(0.0f);
  g.initializers["hi"] = Tensor::scalar_float(6.0f);
  auto conv = [&](std::vector<std::string> in, const std::string& y, int64_t k, int64_t group) {
    Node n = Node::make("Conv", std::move(in), {y});
    n.attrs["pads"] = ints(k == 3 ? std::vector<int64_t>{1, 1, 1, 1} : std::vector<int64_t>{0, 0, 0, 0});
    n.attrs["kernel_shape"] = ints({k, k});
    if (group > 1) {
      Attr a;
      a.kind = Attr::Kind::kInt;
      a.i = group;
      n.attrs["group"] = a;
    }
    n.name = y;
    return n;
  };
  g.nodes.push_back(conv({"x", "w1", "b1"}, "c1", 3, 1));
  g.nodes.push_back(Node::make("Clip", {"c1", "lo", "hi"}, {"r1"}));
  g.nodes.push_back(conv({"r1", "wd", "bd"}, "cd", 3, 16));
  g.nodes.push_back(Node::make("Clip", {"cd", "lo", "hi"}, {"rd"}));
  g.nodes.push_back(conv({"rd", "wp", "bp"}, "cp", 1, 1));
  g.nodes.push_back(Node::make("Add", {"cp", "r1"}, {"a1"}));
  g.nodes.push_back(conv({"a1", "w3"}, "c3", 3, 1));
  g.nodes.push_back(Node::make("Add", {"a1", "c3"}, {"a3"}));
  g.nodes.push_back(Node::make("Relu", {"a3"}, {"out"}));
  g.outputs = {"out"};
  for (auto& n : g.nodes) n.opset = 13;
  std::string path = (std::filesystem::temp_directory_path() / "ferry_cuda_clip_test.onnx").string();
  Status st = save_onnx_model(m, path);
  EXPECT_TRUE(st.is_ok()) << st.to_string();
  return path;
}

// x[N,3,H,W] -> Conv 7x7 stride 2 pad 3 (16 out, bias) -> Relu: a stem that reads a space-to-depth input in
// FP16/BF16 (conv_layout.h); and x2[N,8] -> MatMul [8,4] -> Relu, whose input the device keeps as is (NCHW).
std::string write_stem_and_matmul_model() {
  Model m;
  m.opsets[""] = 13;
  m.ir_version = 8;
  Graph& g = m.graph;
  g.name = "cuda_stem_test";
  g.inputs = {"x", "x2"};
  g.value_info["x"] = {DType::kFloat, SymShape::from_dims({Dim::symbolic("N"), Dim(3), Dim::symbolic("H"),
                                                           Dim::symbolic("W")})};
  g.value_info["x2"] = {DType::kFloat, SymShape::from_dims({Dim::symbolic("M"), Dim(8)})};
  g.initializers["w"] = random_tensor({16, 3, 7, 7}, 21, 0.2f);
  g.initializers["b"] = random_tensor({16}, 22, 0.1f);
  g.initializers["wm"] = random_tensor({8, 4}, 23, 0.5f);
  Node conv = Node::make("Conv", {"x", "w", "b"}, {"c"});
  conv.attrs["pads"] = ints({3, 3, 3, 3});
  conv.attrs["kernel_shape"] = ints({7, 7});
  conv.attrs["strides"] = ints({2, 2});
  conv.name = "stem";
  g.nodes.push_back(conv);
  g.nodes.push_back(Node::make("Relu", {"c"}, {"y"}));
  g.nodes.push_back(Node::make("MatMul", {"x2", "wm"}, {"m"}));
  g.nodes.push_back(Node::make("Relu", {"m"}, {"y2"}));
  g.outputs = {"y", "y2"};
  for (auto& n : g.nodes) n.opset = 13;
  std::string path = (std::filesystem::temp_directory_path() / "ferry_cuda_stem_test.onnx").string();
  Status st = save_onnx_model(m, path);
  EXPECT_TRUE(st.is_ok()) << st.to_string();
  return path;
}

bool gpu_available(std::string* why) {
  SessionOptions o;
  o.device = "cuda";
  auto s = Session::load(write_test_model(), o);
  if (!s) *why = s.status().to_string();
  return s.has_value();
}

std::vector<Tensor> run(const std::string& path, const SessionOptions& o, const std::vector<Tensor>& inputs) {
  auto s = Session::load(path, o);
  EXPECT_TRUE(s.has_value()) << s.status().to_string();
  if (!s) return {};
  auto out = (*s)->run(inputs);
  EXPECT_TRUE(out.has_value()) << out.status().to_string();
  return out ? *out : std::vector<Tensor>{};
}

std::vector<Tensor> run(const std::string& path, const SessionOptions& o, const Tensor& x) {
  return run(path, o, std::vector<Tensor>{x});
}

TEST(DeviceOptions, ParsesDevicesAndPrecisions) {
  std::string kind;
  int ordinal = -1;
  EXPECT_TRUE(parse_device("cuda:3", &kind, &ordinal).is_ok());
  EXPECT_EQ(kind, "cuda");
  EXPECT_EQ(ordinal, 3);
  EXPECT_TRUE(parse_device("cpu", &kind, &ordinal).is_ok());
  EXPECT_EQ(kind, "cpu");
  EXPECT_EQ(parse_device("gpu", &kind, &ordinal).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(parse_device("cuda:x", &kind, &ordinal).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(*parse_precision("fp16"), DType::kFloat16);
  EXPECT_FALSE(parse_precision("fp8").has_value());
}

TEST(DeviceOptions, BadOrdinalIsAClearError) {
  SessionOptions o;
  o.device = "cuda:99";
  auto s = Session::load(write_test_model(), o);
  ASSERT_FALSE(s.has_value());
  // NotFound naming the device with a GPU or none; Unsupported when built without CUDA.
  EXPECT_NE(s.status().message().find("cuda:99"), std::string::npos) << s.status().to_string();
  EXPECT_TRUE(s.status().code() == StatusCode::kNotFound || s.status().code() == StatusCode::kUnsupported);
}

TEST(DeviceOptions, PrecisionNeedsADevice) {
  SessionOptions o;
  o.precision = "fp16";
  EXPECT_FALSE(Session::load(write_test_model(), o).has_value());
}

TEST(CudaBackend, MatchesCpuInFp32AndFp16WithFallback) {
  std::string why;
  if (!gpu_available(&why)) GTEST_SKIP() << "no usable CUDA GPU: " << why;
  std::string path = write_test_model();
  Tensor x = random_tensor({2, 3, 8, 8}, 42);
  auto ref = run(path, SessionOptions{}, x);
  ASSERT_EQ(ref.size(), 2u);
  for (const char* precision : {"fp32", "fp16", "bf16"}) {
    for (bool graph : {false, true}) {
      SessionOptions o;
      o.device = "cuda";
      o.precision = precision;
      o.cuda_graph = graph;
      auto s = Session::load(path, o);
      ASSERT_TRUE(s.has_value()) << s.status().to_string();
      for (int rep = 0; rep < 2; ++rep) {  // the second run replays the cached plan (and CUDA graph)
        auto out = (*s)->run({x});
        ASSERT_TRUE(out.has_value()) << out.status().to_string();
        ASSERT_EQ(out->size(), 2u);
        double rtol = std::string(precision) == "fp32" ? 1e-4 : 2e-2, atol = rtol == 1e-4 ? 1e-4 : 2e-2;
        for (size_t k = 0; k < 2; ++k) expect_close(ref[k], (*out)[k], rtol, atol);
      }
      EXPECT_NE((*s)->device_summary().find("1 parts"), std::string::npos) << (*s)->device_summary();
    }
  }
}

TEST(CudaBackend, FusedConvClipAddAndPaddedStemMatchCpu) {
  std::string why;
  if (!gpu_available(&why)) GTEST_SKIP() << "no usable CUDA GPU: " << why;
  std::string path = write_clip_model();
  for (int64_t batch : {1, 3}) {
    Tensor x = random_tensor({batch, 3, 8, 8}, static_cast<uint32_t>(100 + batch), 2.0f);
    auto ref = run(path, SessionOptions{}, x);
    ASSERT_EQ(ref.size(), 1u);
    // The cuDNN paths (FERRY_CUDA_DW_KERNEL=0), then the own depthwise kernel (the default, FP16/BF16 only), then
    // also the 1x1 conv (+ residual) as a cuBLASLt GEMM (FERRY_CUDA_1X1_GEMM=1, FP16/BF16 only).
    for (int variant = 0; variant < 3; ++variant)
    for (const char* precision : {"fp32", "fp16", "bf16"}) {
      for (bool graph : {false, true}) {
        const int dw_kernel = variant > 0;
        setenv("FERRY_CUDA_DW_KERNEL", dw_kernel ? "1" : "0", 1);
        setenv("FERRY_CUDA_1X1_GEMM", variant == 2 ? "1" : "0", 1);
        SessionOptions o;
        o.device = "cuda";
        o.precision = precision;
        o.cuda_graph = graph;
        auto out = run(path, o, x);
        unsetenv("FERRY_CUDA_DW_KERNEL");
        unsetenv("FERRY_CUDA_1X1_GEMM");
        ASSERT_EQ(out.size(), 1u) << precision << " dw_kernel " << dw_kernel;
        // Errors relative to the output's range (values reach ~10 here; FP32 cuDNN may pick Winograd).
        double range = 1.0;
        for (int64_t i = 0; i < ref[0].numel(); ++i) range = std::max(range, double(std::fabs(ref[0].data<float>()[i])));
        const bool fp32 = std::string(precision) == "fp32";
        const double tol = (fp32 ? 1e-5 : std::string(precision) == "bf16" ? 3e-2 : 5e-3) * range;
        SCOPED_TRACE(std::string(precision) + (graph ? " cuda-graph" : "") + (dw_kernel ? " dw-kernel" : "") +
                     (variant == 2 ? " 1x1-gemm" : ""));
        expect_close(ref[0], out[0], 0.0, tol);
      }
    }
  }
}

// FP16/BF16 inputs and outputs cross PCIe in their own type, converted on the host while staged; the results must be
// the bits of the FP32 staging (FERRY_CUDA_STAGE_F32=1) on every transfer path: space-to-depth stem, channel-padded
// NHWC stem, NHWC after a CPU fallback, a value kept as is (DMA straight into and out of it), NHWC outputs. The stem
// model's input (12 MiB) and output (16 MiB) take the chunked, parallel staging.
TEST(CudaBackend, NarrowStagingIsBitIdenticalToFp32Staging) {
  std::string why;
  if (!gpu_available(&why)) GTEST_SKIP() << "no usable CUDA GPU: " << why;
  struct Case {
    std::string path;
    std::vector<Tensor> inputs;
  };
  std::vector<Case> cases = {
      {write_stem_and_matmul_model(), {random_tensor({64, 3, 128, 128}, 31, 3.0f), random_tensor({5, 8}, 32)}},
      {write_clip_model(), {random_tensor({3, 3, 8, 8}, 33, 2.0f)}},
      {write_test_model(), {random_tensor({2, 3, 8, 8}, 34)}},
  };
  for (const Case& c : cases) {
    for (const char* precision : {"fp16", "bf16"}) {
      std::vector<Tensor> outs[2];
      for (int f32 = 0; f32 < 2; ++f32) {
        if (f32) setenv("FERRY_CUDA_STAGE_F32", "1", 1);
        SessionOptions o;
        o.device = "cuda";
        o.precision = precision;
        auto s = Session::load(c.path, o);
        unsetenv("FERRY_CUDA_STAGE_F32");
        ASSERT_TRUE(s.has_value()) << s.status().to_string();
        auto out = (*s)->run(c.inputs);
        ASSERT_TRUE(out.has_value()) << out.status().to_string();
        outs[f32] = std::move(*out);
      }
      SCOPED_TRACE(c.path + " " + precision);
      auto ref = run(c.path, SessionOptions{}, c.inputs);  // and both near the CPU's FP32 (layout kernels checked)
      ASSERT_EQ(ref.size(), outs[0].size());
      for (size_t k = 0; k < ref.size(); ++k) {
        double range = 1.0;
        for (int64_t i = 0; i < ref[k].numel(); ++i)
          range = std::max(range, double(std::fabs(ref[k].data<float>()[i])));
        expect_close(ref[k], outs[0][k], 0.0, (std::string(precision) == "bf16" ? 3e-2 : 5e-3) * range);
      }
      ASSERT_EQ(outs[0].size(), outs[1].size());
      for (size_t k = 0; k < outs[0].size(); ++k) {
        ASSERT_EQ(outs[0][k].shape(), outs[1][k].shape());
        EXPECT_EQ(std::memcmp(outs[0][k].raw_data(), outs[1][k].raw_data(), outs[0][k].numel() * sizeof(float)), 0)
            << "output " << k << " differs between FP16/BF16 and FP32 staging";
      }
    }
  }
}

// Several threads on one session: each call takes a staging slot (2 by default), so one call's transfers overlap
// another's compute; every call must still get exactly its own result. Each thread runs its own inputs; results are
// compared bit for bit with the same inputs run one at a time. With a CPU fallback part (write_test_model) calls
// take turns; the stem model runs wholly on the device, with large transfers.
TEST(CudaBackend, RequestsInFlightOnOneSessionMatchOneAtATime) {
  std::string why;
  if (!gpu_available(&why)) GTEST_SKIP() << "no usable CUDA GPU: " << why;
  struct Case {
    std::string path;
    std::function<std::vector<Tensor>(uint32_t)> inputs;
  };
  std::vector<Case> cases = {
      {write_stem_and_matmul_model(),
       [](uint32_t seed) {
         return std::vector<Tensor>{random_tensor({32, 3, 128, 128}, seed, 3.0f), random_tensor({5, 8}, seed + 1)};
       }},
      {write_test_model(), [](uint32_t seed) { return std::vector<Tensor>{random_tensor({2, 3, 8, 8}, seed)}; }},
  };
  constexpr int kThreads = 3, kRuns = 8;
  for (const Case& c : cases)
    for (bool graph : {false, true}) {
      SessionOptions o;
      o.device = "cuda";
      o.precision = "fp16";
      o.cuda_graph = graph;
      auto s = Session::load(c.path, o);
      ASSERT_TRUE(s.has_value()) << s.status().to_string();
      Session& session = **s;
      std::vector<std::vector<Tensor>> expected(kThreads);
      for (int t = 0; t < kThreads; ++t) {
        auto out = session.run(c.inputs(100 + 7 * t));
        ASSERT_TRUE(out.has_value()) << out.status().to_string();
        expected[t] = std::move(*out);
      }
      std::vector<std::string> errors(kThreads);
      std::vector<std::thread> threads;
      for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
          const std::vector<Tensor> in = c.inputs(100 + 7 * t);
          for (int r = 0; r < kRuns && errors[t].empty(); ++r) {
            auto out = session.run(in);
            if (!out) {
              errors[t] = out.status().to_string();
              break;
            }
            for (size_t k = 0; k < out->size(); ++k)
              if (std::memcmp((*out)[k].raw_data(), expected[t][k].raw_data(), expected[t][k].nbytes()) != 0)
                errors[t] = "run " + std::to_string(r) + ": output " + std::to_string(k) + " differs";
          }
        });
      for (auto& th : threads) th.join();
      for (int t = 0; t < kThreads; ++t)
        EXPECT_EQ(errors[t], "") << c.path << (graph ? " cuda-graph" : "") << " thread " << t;
    }
}

// Alternating batch sizes: each shape compiles once and stays cached (device_programs), also as CUDA graphs.
TEST(CudaBackend, NewInputShapeRespecializesAndStaysCached) {
  std::string why;
  if (!gpu_available(&why)) GTEST_SKIP() << "no usable CUDA GPU: " << why;
  std::string path = write_test_model();
  for (bool fp16_graph : {false, true}) {
    SessionOptions o;
    o.device = "cuda";
    o.precision = fp16_graph ? "fp16" : "fp32";
    o.cuda_graph = fp16_graph;
    auto s = Session::load(path, o);
    ASSERT_TRUE(s.has_value());
    const double tol = fp16_graph ? 2e-2 : 1e-4;
    for (int64_t batch : {1, 5, 1, 5, 3}) {
      Tensor x = random_tensor({batch, 3, 8, 8}, static_cast<uint32_t>(batch));
      auto ref = run(path, SessionOptions{}, x);
      auto out = (*s)->run({x});
      ASSERT_TRUE(out.has_value()) << out.status().to_string();
      expect_close(ref[0], (*out)[0], tol, tol);
    }
    EXPECT_NE((*s)->device_summary().find("3 of 4 input-shape programs cached, 3 compiled"), std::string::npos)
        << (*s)->device_summary();
  }
}

}  // namespace
}  // namespace ferry
