// pass_test_util.h — small graphs for optimizer-pass tests: build, optimize a copy, run both, compare.
//
//   Model m = make_model({"x"}, {{"x", {DType::kFloat, SymShape::from_shape({2, 3})}}}, {"y"});
//   add_node(m.graph, "Relu", {"x"}, {"y"});
//   Model opt = m;
//   run_passes(opt, {make_eliminate_identity()});
//   expect_same_outputs(m, opt, {fvec({2, 3}, {...})});
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "ops/op_test_util.h"
#include "passes/pass.h"
#include "passes/passes.h"
#include "runtime/executor.h"

namespace ferry::test {

inline Model make_model(std::vector<std::string> inputs, std::vector<std::pair<std::string, ValueType>> types,
                        std::vector<std::string> outputs) {
  Model m;
  m.ir_version = 8;
  m.opsets[""] = 17;
  m.graph.name = "test";
  m.graph.inputs = std::move(inputs);
  m.graph.outputs = std::move(outputs);
  for (auto& [name, t] : types) m.graph.value_info[name] = t;
  return m;
}

inline ValueType ftype(Shape s) { return {DType::kFloat, SymShape::from_shape(s)}; }

inline Node& add_node(Graph& g, const std::string& op, std::vector<std::string> ins, std::vector<std::string> outs,
                      std::map<std::string, Attr> attrs = {}) {
  Node n = Node::make(op, std::move(ins), std::move(outs));
  n.opset = 17;
  n.name = op + "_" + std::to_string(g.nodes.size());
  n.attrs = std::move(attrs);
  g.nodes.push_back(std::move(n));
  return g.nodes.back();
}

inline void add_init(Graph& g, const std::string& name, Tensor t) {
  g.value_info[name] = {t.dtype(), SymShape::from_shape(t.shape())};
  g.initializers[name] = std::move(t);
}

inline int count_op(const Graph& g, const std::string& op) {
  int c = 0;
  for (const Node& n : g.nodes) c += n.op_type == op;
  return c;
}

// Runs the given passes to a fixed point (as the PassManager does for a level).
inline PassReport run_passes(Model& m, std::vector<std::unique_ptr<Pass>> passes) {
  EXPECT_TRUE(m.graph.topo_sort().is_ok());
  PassManager pm;
  for (auto& p : passes) pm.add(std::move(p));
  auto r = pm.run(m);
  EXPECT_TRUE(r.has_value()) << r.status().to_string();
  return r ? *r : PassReport{};
}

inline std::vector<std::unique_ptr<Pass>> passes(std::unique_ptr<Pass> a, std::unique_ptr<Pass> b = nullptr,
                                                 std::unique_ptr<Pass> c = nullptr) {
  std::vector<std::unique_ptr<Pass>> v;
  for (auto* p : {&a, &b, &c})
    if (*p) v.push_back(std::move(*p));
  return v;
}

inline std::vector<Tensor> run_model(const Model& m, const std::vector<Tensor>& inputs) {
  Graph g = m.graph;
  EXPECT_TRUE(g.topo_sort().is_ok());
  auto plan = CompiledGraph::compile(g, {});
  EXPECT_TRUE(plan.has_value()) << plan.status().to_string();
  if (!plan) return {};
  ThreadPool pool(1);
  auto out = (*plan)->run(inputs, pool);
  EXPECT_TRUE(out.has_value()) << out.status().to_string();
  return out ? *out : std::vector<Tensor>{};
}

inline void expect_same_outputs(const Model& a, const Model& b, const std::vector<Tensor>& inputs,
                                double rtol = 1e-5, double atol = 1e-5) {
  auto x = run_model(a, inputs);
  auto y = run_model(b, inputs);
  ASSERT_EQ(x.size(), y.size());
  for (size_t i = 0; i < x.size(); ++i) expect_near(y[i], x[i], rtol, atol);
}

}  // namespace ferry::test
