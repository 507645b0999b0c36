// GPU instances in `ferry serve`: instance_group KIND_GPU/KIND_AUTO parsing, the placement rules (with a fake
// GPU inventory, so they run everywhere), the clear no-GPU load failure (machines without a GPU), and a real
// GPU load + infer that GTEST_SKIPs without a GPU.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <vector>
#include <unistd.h>

#include "serve/instance_placement.h"
#include "serve/model_config.h"
#include "serve/server_core.h"

namespace ferry::serve {
namespace {

namespace fs = std::filesystem;

std::string fixtures() {
  for (const char* p : {"tests/fixtures", "../tests/fixtures", "../../tests/fixtures"})
    if (fs::exists(fs::path(p) / "tiny_add.onnx")) return p;
  return "tests/fixtures";
}

std::function<GpuInventory()> fake_gpus(int n, int* calls = nullptr) {
  return [n, calls] {
    if (calls) ++*calls;
    return GpuInventory{n, n == 0 ? "cuda:0: no usable CUDA device (test)" : ""};
  };
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(GpuInstances, ParsesKindGpusAndParameters) {
  auto c = parse_model_config_text(R"(
instance_group [ { count: 2 kind: KIND_GPU gpus: [ 0, 1 ] }, { name: "cpu_side" kind: KIND_CPU } ]
optimization { cuda { graphs: true } }
parameters { key: "precision" value { string_value: "fp16" } })", "cfg.pbtxt", "m");
  ASSERT_TRUE(c) << c.status().to_string();
  ASSERT_EQ(c->instance_groups.size(), 2u);
  EXPECT_EQ(c->instance_groups[0].name, "m_0");
  EXPECT_EQ(c->instance_groups[0].kind, "KIND_GPU");
  EXPECT_EQ(c->instance_groups[0].count, 2);
  EXPECT_EQ(c->instance_groups[0].gpus, (std::vector<int>{0, 1}));
  EXPECT_EQ(c->instance_groups[1].name, "cpu_side");
  EXPECT_EQ(c->instance_groups[1].kind, "KIND_CPU");
  EXPECT_EQ(c->instance_count, 5);
  EXPECT_EQ(c->precision, "fp16");
  EXPECT_TRUE(c->cuda_graph);

  EXPECT_EQ(c->device_programs, 4);
  EXPECT_EQ(c->inflight, 2);

  auto d = parse_model_config_text(R"(instance_group [ { kind: KIND_GPU } ]
parameters { key: "cuda_graph" value { string_value: "true" } }
parameters { key: "device_programs" value { string_value: "8" } }
parameters { key: "inflight" value { string_value: "3" } })", "f", "m");
  ASSERT_TRUE(d) << d.status().to_string();
  EXPECT_TRUE(d->cuda_graph);
  EXPECT_EQ(d->device_programs, 8);
  EXPECT_EQ(d->inflight, 3);
  EXPECT_EQ(d->precision, "fp32");
  EXPECT_TRUE(d->instance_groups[0].gpus.empty());
  auto e = parse_model_config_text("instance_group [ { count: 1 } ]", "f", "m");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->instance_groups[0].kind, "KIND_AUTO");
  EXPECT_FALSE(e->cuda_graph);
}

TEST(GpuInstances, RejectsBadGroupsAndParameters) {
  for (const char* bad : {
           "instance_group [ { kind: KIND_CPU gpus: [ 0 ] } ]",
           "instance_group [ { kind: KIND_GPU gpus: [ -1 ] } ]",
           "instance_group [ { kind: KIND_GPU gpus: [ 1, 1 ] } ]",
           "instance_group [ { kind: KIND_GPU count: -2 } ]",
           "instance_group [ { kind: KIND_GPU count: 40 gpus: [ 0, 1 ] } ]",
           "parameters { key: \"precision\" value { string_value: \"fp8\" } }",
           "parameters { key: \"cuda_graph\" value { string_value: \"maybe\" } }",
           "parameters { key: \"device_programs\" value { string_value: \"0\" } }",
           "parameters { key: \"inflight\" value { string_value: \"9\" } }",
           "optimization { cuda { graphs: true busy_wait_events: true } }",
       }) {
    auto c = parse_model_config_text(bad, "repo/m/config.pbtxt", "m");
    ASSERT_FALSE(c) << bad;
    EXPECT_TRUE(contains(c.status().message(), "repo/m/config.pbtxt")) << c.status().message();
  }
  auto c = parse_model_config_text("instance_group [ { name: \"g\" kind: KIND_CPU gpus: [ 0 ] } ]", "f", "m");
  ASSERT_FALSE(c);
  EXPECT_TRUE(contains(c.status().message(), "instance_group 'g'")) << c.status().message();
}

TEST(GpuInstances, CountInstancesOnEachListedGpu) {
  auto c = parse_model_config_text("instance_group [ { count: 2 kind: KIND_GPU gpus: [ 0, 2 ] }, { kind: KIND_CPU } ]",
                                   "f", "m");
  ASSERT_TRUE(c);
  auto p = place_instances(*c, fake_gpus(3));
  ASSERT_TRUE(p) << p.status().to_string();
  std::vector<std::string> devs;
  for (const auto& x : *p) devs.push_back(x.device);
  EXPECT_EQ(devs, (std::vector<std::string>{"cuda:0", "cuda:0", "cuda:2", "cuda:2", "cpu"}));
  EXPECT_EQ((*p)[4].group, "m_1");
  EXPECT_EQ(c->instance_count, 5);
  std::string json = model_config_json(*c);
  EXPECT_TRUE(contains(json, R"("count":2,"gpus":[0,2],"kind":"KIND_GPU")")) << json;
  EXPECT_TRUE(contains(json, R"("count":1,"gpus":[],"kind":"KIND_CPU")")) << json;
}

TEST(GpuInstances, NoGpusMeansEveryVisibleGpu) {
  auto c = parse_model_config_text("instance_group [ { kind: KIND_GPU } ]", "f", "m");
  ASSERT_TRUE(c);
  auto p = place_instances(*c, fake_gpus(2));
  ASSERT_TRUE(p);
  ASSERT_EQ(p->size(), 2u);
  EXPECT_EQ((*p)[1].device, "cuda:1");
  EXPECT_EQ(c->instance_groups[0].gpus, (std::vector<int>{0, 1}));
}

TEST(GpuInstances, AutoIsGpuWhenAvailableElseCpu) {
  auto c = parse_model_config_text("instance_group [ { count: 2 } ]", "f", "m");
  ASSERT_TRUE(c);
  ModelConfig on_gpu = *c, on_cpu = *c, missing = *c;
  auto g = place_instances(on_gpu, fake_gpus(1));
  ASSERT_TRUE(g);
  EXPECT_EQ((*g)[0].device, "cuda:0");
  EXPECT_EQ(on_gpu.instance_groups[0].kind, "KIND_GPU");
  auto p = place_instances(on_cpu, fake_gpus(0));
  ASSERT_TRUE(p);
  ASSERT_EQ(p->size(), 2u);
  EXPECT_EQ((*p)[0].device, "cpu");
  EXPECT_EQ(on_cpu.instance_groups[0].kind, "KIND_CPU");
  missing.instance_groups[0].gpus = {3};  // Triton: a listed GPU that is not there -> CPU
  auto m = place_instances(missing, fake_gpus(2));
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)[0].device, "cpu");
}

TEST(GpuInstances, CpuConfigsNeverProbe) {
  int calls = 0;
  auto c = parse_model_config_text("instance_group [ { count: 3 kind: KIND_CPU } ]", "f", "m");
  ASSERT_TRUE(c);
  auto p = place_instances(*c, fake_gpus(0, &calls));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->size(), 3u);
  ModelConfig none;
  none.name = "n";
  auto q = place_instances(none, fake_gpus(0, &calls));  // no instance_group: one CPU instance
  ASSERT_TRUE(q);
  EXPECT_EQ(q->size(), 1u);
  EXPECT_EQ((*q)[0].device, "cpu");
  EXPECT_EQ(calls, 0);
}

TEST(GpuInstances, MissingOrBadGpuNamesModelGroupAndDevice) {
  auto c = parse_model_config_text("instance_group [ { name: \"fast\" kind: KIND_GPU gpus: [ 1 ] } ]", "f", "m");
  ASSERT_TRUE(c);
  auto none = place_instances(*c, fake_gpus(0));
  ASSERT_FALSE(none);
  EXPECT_EQ(none.status().code(), StatusCode::kUnsupported);
  for (const char* part : {"model 'm'", "instance group 'fast'", "KIND_GPU", "cuda:1", "no usable CUDA device"})
    EXPECT_TRUE(contains(none.status().message(), part)) << part << " in " << none.status().message();
  auto bad = place_instances(*c, fake_gpus(1));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  for (const char* part : {"model 'm'", "instance group 'fast'", "cuda:1", "not visible", "1 GPU"})
    EXPECT_TRUE(contains(bad.status().message(), part)) << part << " in " << bad.status().message();
}

// A repository with tiny_add on the CPU and tiny_add_gpu (KIND_GPU, gpus [0]) next to it.
class GpuServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("ferry_serve_gpu_test_" + std::to_string(::getpid()));
    for (const char* m : {"tiny_add", "tiny_add_gpu"}) {
      fs::create_directories(root_ / m / "1");
      fs::copy_file(fixtures() + "/tiny_add.onnx", root_ / m / "1" / "model.onnx");
    }
    std::ofstream(root_ / "tiny_add_gpu" / "config.pbtxt")
        << "instance_group [ { name: \"gpu0\" count: 1 kind: KIND_GPU gpus: [ 0 ] } ]\n"
           "parameters { key: \"precision\" value { string_value: \"fp32\" } }\n";
    ServerOptions o;
    o.repository = root_.string();
    o.control_mode = ModelControlMode::kExplicit;
    o.startup_models = {"*"};
    auto c = ServerCore::create(o);
    ASSERT_TRUE(c) << c.status().to_string();
    core_ = std::move(c).value();
  }
  void TearDown() override {
    core_.reset();
    fs::remove_all(root_);
  }
  InferResponse add_ones(const std::string& model) {
    InferRequest req;
    req.model_name = model;
    req.inputs.push_back({"x", Tensor::from_vector<float>(DType::kFloat, {2, 3}, {1, 1, 1, 1, 1, 1})});
    return core_->infer(req).get();
  }
  fs::path root_;
  std::unique_ptr<ServerCore> core_;
};

TEST_F(GpuServeTest, NoGpuFailsThatModelOnly) {
  GpuInventory inv = probe_gpus();
  if (inv.count > 0) GTEST_SKIP() << "a GPU is visible (" << inv.count << "): the no-GPU path is not reachable";
  EXPECT_FALSE(core_->model_ready("tiny_add_gpu", ""));
  std::string reason;
  for (const auto& row : core_->repository_index(false))
    if (row.name == "tiny_add_gpu") {
      EXPECT_EQ(row.state, ModelState::kUnavailable);
      reason = row.reason;
    }
  for (const char* part : {"model 'tiny_add_gpu'", "instance group 'gpu0'", "KIND_GPU", "cuda:0"})
    EXPECT_TRUE(contains(reason, part)) << part << " in " << reason;
  InferResponse r = add_ones("tiny_add");
  ASSERT_TRUE(r.status.is_ok()) << r.status.to_string();
  EXPECT_EQ(r.outputs[0].tensor.data<float>()[5], 6.0f);
}

TEST_F(GpuServeTest, GpuInstanceServesLikeCpu) {
  GpuInventory inv = probe_gpus();
  if (inv.count == 0) GTEST_SKIP() << "no GPU: " << inv.reason;
  ASSERT_TRUE(core_->model_ready("tiny_add_gpu", ""));
  InferResponse cpu = add_ones("tiny_add"), gpu = add_ones("tiny_add_gpu");
  ASSERT_TRUE(cpu.status.is_ok()) << cpu.status.to_string();
  ASSERT_TRUE(gpu.status.is_ok()) << gpu.status.to_string();
  ASSERT_EQ(gpu.outputs[0].tensor.numel(), cpu.outputs[0].tensor.numel());
  for (int64_t i = 0; i < cpu.outputs[0].tensor.numel(); ++i)
    EXPECT_NEAR(gpu.outputs[0].tensor.data<float>()[i], cpu.outputs[0].tensor.data<float>()[i], 1e-5) << i;
  auto json = core_->model_config_json("tiny_add_gpu", "");
  ASSERT_TRUE(json);
  EXPECT_TRUE(contains(*json, R"("gpus":[0],"kind":"KIND_GPU")")) << *json;
  // Requests at once: the instance's two scheduler threads (parameters.inflight, default 2) share its Session.
  std::vector<std::future<InferResponse>> pending;
  for (int i = 0; i < 16; ++i)
    pending.push_back(std::async(std::launch::async, [this] { return add_ones("tiny_add_gpu"); }));
  for (auto& f : pending) {
    InferResponse r = f.get();
    ASSERT_TRUE(r.status.is_ok()) << r.status.to_string();
    for (int64_t i = 0; i < cpu.outputs[0].tensor.numel(); ++i)
      ASSERT_NEAR(r.outputs[0].tensor.data<float>()[i], cpu.outputs[0].tensor.data<float>()[i], 1e-5) << i;
  }
}

}  // namespace
}  // namespace ferry::serve
