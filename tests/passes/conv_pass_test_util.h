// conv_pass_test_util.h — helpers for the conv fusion/layout pass tests: build small conv graphs, run a model
// through the executor, compare a pass's output graph numerically with the original.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ops/op_test_util.h"
#include "passes/pass.h"
#include "runtime/executor.h"
#include "runtime/shape_inference.h"

namespace ferry::test {

inline Tensor random_tensor(Shape s, unsigned seed, float scale = 1.f) {
  return random_floats(std::move(s), seed, -scale, scale);
}

inline void add_const(Graph& g, const std::string& name, Tensor t) {
  g.value_info[name] = {t.dtype(), SymShape::from_shape(t.shape())};
  g.initializers[name] = std::move(t);
}

inline void add_input(Graph& g, const std::string& name, Shape s) {
  g.inputs.push_back(name);
  g.value_info[name] = {DType::kFloat, SymShape::from_shape(s)};
}

// Conv node with initializer weights [m, c/group, k, k] and bias, named `name`.
inline Node conv_node(Graph& g, const std::string& name, const std::string& x, const std::string& y, int64_t c,
                      int64_t m, int64_t k, int64_t group = 1, int64_t stride = 1) {
  add_const(g, name + "_w", random_tensor({m, c / group, k, k}, static_cast<unsigned>(m * 31 + c), 0.5f));
  add_const(g, name + "_b", random_tensor({m}, static_cast<unsigned>(m + 7), 0.5f));
  Node n = Node::make("Conv", {x, name + "_w", name + "_b"}, {y});
  n.name = name;
  n.opset = 13;
  Attr pads;
  pads.kind = Attr::Kind::kInts;
  pads.ints = {k / 2, k / 2, k / 2, k / 2};
  n.attrs["pads"] = pads;
  Attr st;
  st.kind = Attr::Kind::kInts;
  st.ints = {stride, stride};
  n.attrs["strides"] = st;
  Attr gr;
  gr.kind = Attr::Kind::kInt;
  gr.i = group;
  n.attrs["group"] = gr;
  return n;
}

inline Node op_node(const std::string& op, std::vector<std::string> in, std::vector<std::string> out) {
  Node n = Node::make(op, std::move(in), std::move(out));
  n.opset = 13;
  return n;
}

inline std::vector<Tensor> run_model(Model m, const std::vector<Tensor>& inputs) {
  Graph& g = m.graph;
  EXPECT_TRUE(g.topo_sort().is_ok());
  EXPECT_TRUE(infer_graph_types(g, {}).has_value());
  auto plan = CompiledGraph::compile(g, {});
  EXPECT_TRUE(plan.has_value()) << plan.status().to_string();
  if (!plan) return {};
  ThreadPool pool(1);
  auto out = (*plan)->run(inputs, pool);
  EXPECT_TRUE(out.has_value()) << out.status().to_string();
  return out ? *out : std::vector<Tensor>{};
}

// Runs `pass` to a fixed point (types inferred first, as fold_shapes does in the real pipeline).
inline Model apply_pass(const Model& in, std::unique_ptr<Pass> pass) {
  Model m = in;
  EXPECT_TRUE(m.graph.topo_sort().is_ok());
  auto rep = infer_graph_types(m.graph, {});
  EXPECT_TRUE(rep.has_value());
  if (rep) for (const auto& w : rep->warnings) ADD_FAILURE() << "inference: " << w;
  PassManager pm;
  pm.add(std::move(pass));
  auto r = pm.run(m);
  EXPECT_TRUE(r.has_value()) << r.status().to_string();
  return m;
}

inline int count_op(const Graph& g, const std::string& op) {
  int c = 0;
  for (const Node& n : g.nodes) c += n.op_type == op;
  return c;
}

inline void expect_close(const std::vector<Tensor>& a, const std::vector<Tensor>& b, double tol = 1e-4) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].shape(), b[i].shape());
    for (int64_t k = 0; k < a[i].numel(); ++k) {
      const float x = a[i].data<float>()[k], y = b[i].data<float>()[k];
      ASSERT_NEAR(x, y, tol * (1 + std::abs(y))) << "output " << i << " element " << k;
    }
  }
}

}  // namespace ferry::test
