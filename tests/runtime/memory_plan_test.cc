// memory_plan_test.cc — the pure planner (liveness, aliasing, in place, best fit) and planned executor runs
// (repeated runs give identical results, views keep their root alive, in-place chains, replanning on new shapes).
#include "runtime/memory_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "core/threadpool.h"
#include "runtime/executor.h"

namespace ferry {
namespace {

PlanItem item(size_t bytes, int def, int last) {
  PlanItem it;
  it.bytes = bytes;
  it.def = def;
  it.last = last;
  it.arena_ok = true;
  return it;
}

bool overlap(const MemoryPlan& p, const std::vector<PlanItem>& items, size_t a, size_t b) {
  size_t ea = p.offset[a] + items[a].bytes, eb = p.offset[b] + items[b].bytes;
  return p.offset[a] < eb && p.offset[b] < ea;
}

TEST(MemoryPlan, DisjointLifetimesShareBytes) {
  std::vector<PlanItem> items = {item(100, 0, 1), item(100, 1, 2), item(100, 2, 3)};
  MemoryPlan p = plan_memory(items);
  EXPECT_EQ(p.offset[0], p.offset[2]);
  EXPECT_FALSE(overlap(p, items, 0, 1));  // both live at step 1: the output never overlaps its step's input
  EXPECT_FALSE(overlap(p, items, 1, 2));
  EXPECT_EQ(p.arena_bytes, 2 * 128u);
  EXPECT_EQ(p.planned_bytes, 3 * 128u);
  EXPECT_EQ(p.arena_values, 3);
}

TEST(MemoryPlan, ViewsExtendTheirRootsLifetime) {
  std::vector<PlanItem> items = {item(256, 0, 1), item(256, 1, 5), item(256, 2, 3)};
  items[1].alias_of = 0;  // a Reshape of item 0, read until step 5
  items[1].arena_ok = false;
  MemoryPlan p = plan_memory(items);
  EXPECT_EQ(p.root[1], 0);
  EXPECT_EQ(p.end[0], 5);
  EXPECT_EQ(p.offset[1], MemoryPlan::kNone);
  EXPECT_FALSE(overlap(p, items, 0, 2));
}

TEST(MemoryPlan, PinnedViewsKeepTheirRootOnTheHeap) {
  std::vector<PlanItem> items = {item(64, 0, 1), item(64, 1, 1)};
  items[1].alias_of = 0;
  items[1].pinned = true;  // a graph output viewing item 0
  MemoryPlan p = plan_memory(items);
  EXPECT_EQ(p.offset[0], MemoryPlan::kNone);
  EXPECT_EQ(p.arena_bytes, 0u);
  EXPECT_EQ(p.heap_bytes, 64u);
}

TEST(MemoryPlan, InPlaceOnlyWhenTheInputDiesAtThatStep) {
  std::vector<PlanItem> items = {item(512, 0, 1), item(512, 1, 2), item(512, 2, 3)};
  items[1].in_place_of = 0;  // Relu(item 0), the last reader of item 0
  items[2].in_place_of = 1;  // Neg(item 1)
  MemoryPlan p = plan_memory(items);
  EXPECT_EQ(p.offset[1], p.offset[0]);
  EXPECT_EQ(p.offset[2], p.offset[0]);
  EXPECT_EQ(p.in_place, 2);
  EXPECT_EQ(p.arena_bytes, 512u);

  items[0].last = 2;  // item 0 is still read after item 1 is made: no in place
  p = plan_memory(items);
  EXPECT_NE(p.offset[1], p.offset[0]);
  EXPECT_EQ(p.in_place, 1);
}

TEST(MemoryPlan, BestFitReusesTheSmallestGap) {
  // 0: big, dies at 1; 1: small, lives long; 2: small, made after 0 died: fits into 0's bytes.
  std::vector<PlanItem> items = {item(4096, 0, 1), item(64, 0, 9), item(1024, 2, 3)};
  MemoryPlan p = plan_memory(items);
  EXPECT_EQ(p.arena_bytes, 4096u + 64u);
  EXPECT_FALSE(overlap(p, items, 1, 2));
}

// x, y: [N,3,4]. Views (Reshape) keep the Relu output alive until the last node; Relu/Neg/Tanh run in place.
Graph make_graph() {
  Graph g;
  g.name = "memplan";
  g.inputs = {"x", "y"};
  for (const char* in : {"x", "y"})
    g.value_info[in] = {DType::kFloat, SymShape::from_dims({Dim::symbolic("N"), Dim(3), Dim(4)})};
  g.initializers["s2"] = Tensor::from_vector<int64_t>(DType::kInt64, {2}, {-1, 4});
  g.initializers["bias"] = Tensor::from_vector<float>(DType::kFloat, {4}, {0.5f, -1.0f, 2.0f, 0.25f});
  auto add = [&](const char* op, std::vector<std::string> ins, std::vector<std::string> outs) {
    Node n = Node::make(op, std::move(ins), std::move(outs));
    n.opset = 13;
    g.nodes.push_back(std::move(n));
  };
  add("Mul", {"x", "y"}, {"a"});
  add("Relu", {"a"}, {"b"});  // in place of a
  add("Reshape", {"b", "s2"}, {"c"});
  add("Shape", {"x"}, {"sx"});
  add("Reshape", {"c", "sx"}, {"d"});
  add("Add", {"d", "bias"}, {"e"});  // d views b, still read at the end: e must not take b's bytes
  add("Neg", {"e"}, {"f"});          // in place of e
  add("Tanh", {"f"}, {"g"});         // in place of f
  add("Add", {"g", "x"}, {"h"});
  add("Identity", {"h"}, {"out1"});  // a graph output viewing h: h stays on the heap
  add("Sigmoid", {"c"}, {"out2"});
  g.outputs = {"out1", "out2"};
  EXPECT_TRUE(g.topo_sort().is_ok());
  return g;
}

std::vector<Tensor> make_inputs(int64_t n, float seed) {
  Tensor x = Tensor::empty(DType::kFloat, {n, 3, 4}), y = Tensor::empty(DType::kFloat, {n, 3, 4});
  for (int64_t i = 0; i < x.numel(); ++i) {
    x.data<float>()[i] = std::sin(seed + 0.37f * static_cast<float>(i));
    y.data<float>()[i] = std::cos(seed * 2 + 0.11f * static_cast<float>(i));
  }
  return {x, y};
}

void expect_reference(const std::vector<Tensor>& in, const std::vector<Tensor>& out) {
  const float bias[4] = {0.5f, -1.0f, 2.0f, 0.25f};
  ASSERT_EQ(out.size(), 2u);
  ASSERT_EQ(out[0].shape(), in[0].shape());
  ASSERT_EQ(out[1].shape(), (Shape{in[0].numel() / 4, 4}));
  for (int64_t i = 0; i < in[0].numel(); ++i) {
    float x = in[0].data<float>()[i], y = in[1].data<float>()[i];
    float b = std::max(x * y, 0.0f);
    float h = std::tanh(-(b + bias[i % 4])) + x;
    EXPECT_NEAR(out[0].data<float>()[i], h, 1e-5f) << i;
    EXPECT_NEAR(out[1].data<float>()[i], 1.0f / (1.0f + std::exp(-b)), 1e-5f) << i;
  }
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

TEST(MemoryPlanRun, RepeatedRunsAreIdenticalAndUseTheArena) {
  Graph g = make_graph();
  auto plan = CompiledGraph::compile(g, {});
  ASSERT_TRUE(plan.has_value()) << plan.status().to_string();
  ThreadPool pool(2);
  std::vector<Tensor> in = make_inputs(2, 0.3f);
  std::vector<std::vector<Tensor>> runs;
  for (int r = 0; r < 5; ++r) {
    auto out = (*plan)->run(in, pool);
    ASSERT_TRUE(out.has_value()) << out.status().to_string();
    expect_reference(in, *out);
    runs.push_back(std::move(out).value());
  }
  for (int r = 1; r < 5; ++r)
    for (size_t o = 0; o < 2; ++o) EXPECT_TRUE(same_bytes(runs[0][o], runs[static_cast<size_t>(r)][o])) << r;
  MemoryPlan mp = (*plan)->memory_plan();
  if (std::getenv("FERRY_MEMORY_PLAN")) GTEST_SKIP() << "planning configured by the environment";
  EXPECT_GT(mp.arena_bytes, 0u);
  EXPECT_LT(mp.arena_bytes, mp.planned_bytes);
  EXPECT_EQ(mp.in_place, 3);  // b over a, f over e, g over f
  // Results of earlier runs are the caller's: later runs must not have written over them.
  expect_reference(in, runs[1]);
}

TEST(MemoryPlanRun, ReplansWhenInputShapesChange) {
  Graph g = make_graph();
  auto plan = CompiledGraph::compile(g, {});
  ASSERT_TRUE(plan.has_value()) << plan.status().to_string();
  ThreadPool pool(1);
  float seed = 0;
  for (int64_t n : {2, 2, 2, 7, 7, 7, 1, 2, 2}) {
    std::vector<Tensor> in = make_inputs(n, seed += 0.7f);  // new values every run
    auto out = (*plan)->run(in, pool);
    ASSERT_TRUE(out.has_value()) << out.status().to_string();
    expect_reference(in, *out);
  }
}

}  // namespace
}  // namespace ferry
