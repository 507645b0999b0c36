// device_program_cache_test.cc — the device executor keeps the last N input-shape specializations compiled
// (least recently used dropped; all dropped and retried once when compiling runs out of memory). Runs without a
// GPU over a fake backend that takes Relu nodes and computes them on the host.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/threadpool.h"
#include "runtime/device_executor.h"

namespace ferry {
namespace {

struct Counters {
  std::atomic<int> compiles = 0;
  std::atomic<int> live = 0;            // programs not yet destroyed (the last holder may be any thread)
  std::atomic<int> oom_at_live = 1000;  // compile() answers OutOfMemory while this many programs are alive
};

class FakeProgram final : public DeviceProgram {
 public:
  explicit FakeProgram(std::shared_ptr<Counters> c) : c_(std::move(c)) { ++c_->live; }
  ~FakeProgram() override { --c_->live; }
  Status run_segment(size_t, const std::vector<const Tensor*>& inputs, std::vector<Tensor>* outputs,
                     DeviceTimings*) override {
    outputs->clear();
    Tensor y = Tensor::empty(DType::kFloat, inputs.at(0)->shape());
    for (int64_t i = 0; i < y.numel(); ++i) y.data<float>()[i] = std::max(0.f, inputs[0]->data<float>()[i]);
    outputs->push_back(std::move(y));
    return Status::ok();
  }
  std::string summary() const override { return "fake program"; }

 private:
  std::shared_ptr<Counters> c_;
};

class FakeBackend final : public DeviceBackend {
 public:
  explicit FakeBackend(std::shared_ptr<Counters> c) : c_(std::move(c)) {}
  std::string name() const override { return "fake:0"; }
  bool supports(const Graph&, const Node& n) const override { return n.op_type == "Relu"; }
  Expected<std::unique_ptr<DeviceProgram>> compile(const Graph&, const std::vector<DeviceSegmentSpec>& segs) override {
    if (segs.size() != 1 || segs[0].uploads.size() != 1 || segs[0].downloads.size() != 1)
      return internal_error("fake backend: expected one segment with one upload and one download");
    if (c_->live >= c_->oom_at_live) return out_of_memory("fake:0: out of memory");
    ++c_->compiles;
    return std::unique_ptr<DeviceProgram>(std::make_unique<FakeProgram>(c_));
  }

 private:
  std::shared_ptr<Counters> c_;
};

// x [n, 3] -> Relu (device) -> Neg (CPU fallback) -> y
Model make_model() {
  Model m;
  m.opsets[""] = 13;
  Graph& g = m.graph;
  g.name = "cache";
  g.inputs = {"x"};
  g.value_info["x"] = {DType::kFloat, SymShape::from_dims({Dim::symbolic("n"), Dim(3)})};
  g.nodes.push_back(Node::make("Relu", {"x"}, {"r"}));
  g.nodes.push_back(Node::make("Neg", {"r"}, {"y"}));
  for (Node& n : g.nodes) n.opset = 13;
  g.outputs = {"y"};
  EXPECT_TRUE(g.topo_sort().is_ok());
  return m;
}

struct Fixture {
  std::shared_ptr<Counters> counters = std::make_shared<Counters>();
  std::unique_ptr<DeviceExecutor> ex;
  ThreadPool pool{1};

  explicit Fixture(int cached) {
    DeviceOptions o;
    o.cached_programs = cached;
    auto e = DeviceExecutor::create_with_backend(make_model(), std::make_unique<FakeBackend>(counters), o, 0);
    EXPECT_TRUE(e.has_value()) << e.status().to_string();
    if (e) ex = std::move(e).value();
  }
  // Runs rows x 3 inputs (-4, -3, ...) and checks y = -relu(x).
  void run(int64_t rows) {
    Tensor x = Tensor::empty(DType::kFloat, {rows, 3});
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = -4.f + static_cast<float>(i);
    auto out = ex->run({x}, pool);
    ASSERT_TRUE(out.has_value()) << out.status().to_string();
    ASSERT_EQ((*out)[0].shape(), (Shape{rows, 3}));
    for (int64_t i = 0; i < x.numel(); ++i) EXPECT_EQ((*out)[0].data<float>()[i], -std::max(0.f, -4.f + i));
  }
};

TEST(DeviceProgramCache, AlternatingShapesCompileOncePerShape) {
  Fixture f(4);
  for (int64_t rows : {2, 5, 2, 5, 2, 7, 5}) f.run(rows);
  EXPECT_EQ(f.counters->compiles.load(), 3);
  EXPECT_EQ(f.ex->compiles(), 3);
  EXPECT_EQ(f.ex->cached_programs(), 3);
  EXPECT_EQ(f.counters->live.load(), 3);
  EXPECT_NE(f.ex->summary().find("3 of 4 input-shape programs cached, 3 compiled"), std::string::npos)
      << f.ex->summary();
}

TEST(DeviceProgramCache, OneProgramRecompilesOnEveryChange) {
  Fixture f(1);
  for (int64_t rows : {2, 5, 2, 5}) f.run(rows);
  EXPECT_EQ(f.counters->compiles.load(), 4);
  EXPECT_EQ(f.counters->live.load(), 1);  // the old program is freed before the new one compiles
}

TEST(DeviceProgramCache, LeastRecentlyUsedIsDropped) {
  Fixture f(2);
  for (int64_t rows : {1, 2, 1, 3}) f.run(rows);  // 3 drops 2 (1 was used after it)
  EXPECT_EQ(f.counters->compiles.load(), 3);
  f.run(1);  // still cached
  EXPECT_EQ(f.counters->compiles.load(), 3);
  f.run(2);  // was dropped
  EXPECT_EQ(f.counters->compiles.load(), 4);
  EXPECT_EQ(f.counters->live.load(), 2);
}

TEST(DeviceProgramCache, OutOfMemoryDropsCachedProgramsAndRetries) {
  Fixture f(4);
  f.counters->oom_at_live = 2;
  f.run(1);
  f.run(2);  // live 1 -> compiles
  EXPECT_EQ(f.counters->live.load(), 2);
  f.run(3);  // live 2 -> OutOfMemory, the two cached programs are dropped, the retry compiles
  EXPECT_EQ(f.counters->compiles.load(), 3);
  EXPECT_EQ(f.ex->cached_programs(), 1);
  EXPECT_EQ(f.counters->live.load(), 1);
}

TEST(DeviceProgramCache, OutOfMemoryWithNothingCachedIsReported) {
  Fixture f(4);
  f.counters->oom_at_live = 0;
  Tensor x = Tensor::zeros(DType::kFloat, {2, 3});
  auto out = f.ex->run({x}, f.pool);
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.status().code(), StatusCode::kOutOfMemory);
  EXPECT_NE(out.status().message().find("fake:0"), std::string::npos);
}

// run() from several threads at once (GPU sessions take requests in flight): different shapes on every thread, with
// room for only two programs, so specializations are compiled, dropped and reused while others run them; the CPU
// fallback part (Neg) takes turns. Every result must be right and every program freed at the end.
TEST(DeviceProgramCache, ConcurrentRunsWithEvictionStayCorrect) {
  Fixture f(2);
  constexpr int kThreads = 4, kRuns = 60;
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRuns && errors[t].empty(); ++r) {
        const int64_t rows = 1 + (t + r) % 3;
        Tensor x = Tensor::empty(DType::kFloat, {rows, 3});
        for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(t * 100 + r) - 3.f * i;
        auto out = f.ex->run({x}, f.pool);
        if (!out) {
          errors[t] = out.status().to_string();
          break;
        }
        for (int64_t i = 0; i < x.numel(); ++i)
          if ((*out)[0].data<float>()[i] != -std::max(0.f, x.data<float>()[i])) errors[t] = "wrong value";
      }
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(errors[t], "") << "thread " << t;
  EXPECT_LE(f.ex->cached_programs(), 2);
  EXPECT_EQ(f.counters->live.load(), f.ex->cached_programs());  // programs no call holds any more are freed
}

}  // namespace
}  // namespace ferry
