// executor_cache_test.cc — the executor's per-step shape-inference cache: repeated runs reuse the previous run's
// inference only while it still holds (same input shapes; same values where inference reads values).
#include <gtest/gtest.h>

#include <cstdlib>

#include "core/threadpool.h"
#include "runtime/executor.h"

namespace ferry {
namespace {

Tensor ints(Shape shape, std::vector<int64_t> v) { return Tensor::from_vector<int64_t>(DType::kInt64, shape, v); }

Tensor floats(Shape shape, float start) {
  Tensor t = Tensor::empty(DType::kFloat, shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = start + static_cast<float>(i);
  return t;
}

// x -> Relu -> Reshape(shape) -> y, and NonZero(m) -> z: the reshape target and the mask are graph inputs, so
// their values change between runs while their shapes stay.
Graph make_graph() {
  Graph g;
  g.name = "cache";
  g.inputs = {"x", "shape", "m"};
  g.value_info["x"] = {DType::kFloat, SymShape::from_dims({Dim::symbolic("n"), Dim(6)})};
  g.value_info["shape"] = {DType::kInt64, SymShape::from_dims({Dim(2)})};
  g.value_info["m"] = {DType::kFloat, SymShape::from_dims({Dim(100)})};
  g.nodes.push_back(Node::make("Relu", {"x"}, {"r"}));
  g.nodes.push_back(Node::make("Reshape", {"r", "shape"}, {"y"}));
  g.nodes.push_back(Node::make("NonZero", {"m"}, {"z"}));
  for (Node& n : g.nodes) n.opset = 13;
  g.outputs = {"y", "z"};
  EXPECT_TRUE(g.topo_sort().is_ok());
  return g;
}

Tensor mask(int nonzeros) {
  Tensor t = Tensor::empty(DType::kFloat, {100});
  for (int64_t i = 0; i < 100; ++i) t.data<float>()[i] = i < nonzeros ? 1.f : 0.f;
  return t;
}

void check_runs(const char* memory_plan) {
  if (memory_plan) setenv("FERRY_MEMORY_PLAN", memory_plan, 1);
  Graph g = make_graph();
  auto plan = CompiledGraph::compile(g, {});
  if (memory_plan) unsetenv("FERRY_MEMORY_PLAN");
  ASSERT_TRUE(plan.has_value()) << plan.status().to_string();
  ThreadPool pool(1);
  struct Run { int64_t rows, a, b; int nonzeros; };
  for (const Run& r : std::vector<Run>{{2, 3, 4, 5}, {2, 3, 4, 5}, {2, 4, 3, 7}, {2, 12, 1, 0}, {3, 9, 2, 100},
                                       {3, 9, 2, 100}, {2, 3, 4, 1}}) {
    auto out = (*plan)->run({floats({r.rows, 6}, -3.f), ints({2}, {r.a, r.b}), mask(r.nonzeros)}, pool);
    ASSERT_TRUE(out.has_value()) << out.status().to_string();
    const Tensor& y = (*out)[0];
    ASSERT_EQ(y.shape(), (Shape{r.a, r.b}));
    for (int64_t i = 0; i < y.numel(); ++i) EXPECT_EQ(y.data<float>()[i], std::max(0.f, -3.f + i));
    EXPECT_EQ((*out)[1].shape(), (Shape{1, r.nonzeros}));
  }
  // A shape the values do not fit fails with an error naming the node, also after cached runs.
  auto bad = (*plan)->run({floats({2, 6}, 0.f), ints({2}, {5, 5}), mask(3)}, pool);
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.status().to_string().find("Reshape"), std::string::npos) << bad.status().to_string();
}

TEST(ExecutorCache, ValuesAndShapesChangingBetweenRuns) { check_runs(nullptr); }
TEST(ExecutorCache, PlanningOff) { check_runs("0"); }
TEST(ExecutorCache, PlanningCheck) { check_runs("check"); }

}  // namespace
}  // namespace ferry
