// control_flow_test.cc — If, Loop, Scan, Optional*. Bodies use string ops (StringConcat) and OptionalGetElement
// as an identity so these tests depend only on this family's own kernels.
#include <memory>

#include "ops/op_test_util.h"

namespace ferry::test {
namespace {

Tensor bscalar(bool b) { return Tensor::from_vector<bool>(DType::kBool, {}, {b}); }

Attr attr_g(std::shared_ptr<Graph> g) {
  Attr a;
  a.kind = Attr::Kind::kGraph;
  a.g = std::move(g);
  return a;
}
Node op(const std::string& type, std::vector<std::string> in, std::vector<std::string> out, int opset = 20) {
  Node n = Node::make(type, std::move(in), std::move(out));
  n.opset = opset;
  return n;
}
// Identity within this family's ops.
Node ident(const std::string& in, const std::string& out) { return op("OptionalGetElement", {in}, {out}, 18); }

// A branch returning the outer value `x` concatenated with a constant suffix.
std::shared_ptr<Graph> suffix_branch(const std::string& suffix) {
  auto g = std::make_shared<Graph>();
  g->name = "branch_" + suffix;
  g->initializers["suf_" + suffix] = svec({1}, {suffix});
  g->nodes.push_back(op("StringConcat", {"x", "suf_" + suffix}, {"out_" + suffix}));
  g->outputs = {"out_" + suffix};
  g->outer_refs = {"x"};
  return g;
}

TEST(ControlFlowOps, IfWithoutElseBranchIsError) {
  Node n = Node::make("If", {"cond"}, {"y"});
  n.attrs["then_branch"] = attr_g(suffix_branch("T"));
  auto out = run_single_op(n, {bscalar(true)}, 16);
  EXPECT_FALSE(out.has_value());
}

// Runs a graph with the given nodes/inputs/outputs (for control-flow nodes whose bodies read outer values).
Expected<std::vector<Tensor>> run_graph(Graph g, const std::vector<Tensor>& inputs);

TEST(ControlFlowOps, IfThenElse) {
  for (bool c : {true, false}) {
    Graph g;
    g.name = "main";
    g.inputs = {"cond", "x"};
    g.value_info["cond"] = {DType::kBool, SymShape::from_shape({})};
    g.value_info["x"] = {DType::kString, SymShape::from_shape({2})};
    Node n = op("If", {"cond"}, {"y"}, 16);
    n.attrs["then_branch"] = attr_g(suffix_branch("T"));
    n.attrs["else_branch"] = attr_g(suffix_branch("E"));
    g.nodes.push_back(n);
    g.outputs = {"y"};
    auto out = run_graph(g, {bscalar(c), svec({2}, {"a", "b"})});
    ASSERT_TRUE(out.has_value()) << out.status().to_string();
    expect_near((*out)[0], c ? svec({2}, {"aT", "bT"}) : svec({2}, {"aE", "bE"}));
  }
}

// Loop body: (iter, cond, s) -> (cond, s + "a", s + "a") ; scan output stacks each iteration's value.
std::shared_ptr<Graph> concat_loop_body() {
  auto b = std::make_shared<Graph>();
  b->name = "loop_body";
  b->inputs = {"i", "c_in", "s_in"};
  b->initializers["a"] = svec({}, {"a"});
  b->nodes.push_back(ident("c_in", "c_out"));
  b->nodes.push_back(op("StringConcat", {"s_in", "a"}, {"s_out"}));
  b->nodes.push_back(ident("s_out", "scan_out"));
  b->outputs = {"c_out", "s_out", "scan_out"};
  return b;
}

TEST(ControlFlowOps, LoopTripCountAndScanOutputs) {
  Node n = Node::make("Loop", {"M", "cond", "s"}, {"s_final", "s_all"});
  n.attrs["body"] = attr_g(concat_loop_body());
  auto out = run_single_op(n, {ivec({}, {3}), bscalar(true), svec({1}, {"x"})}, 11);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], svec({1}, {"xaaa"}));
  expect_near((*out)[1], svec({3, 1}, {"xa", "xaa", "xaaa"}));
}

TEST(ControlFlowOps, LoopFalseCondRunsZeroTimes) {
  Node n = Node::make("Loop", {"", "cond", "s"}, {"s_final", "s_all"});
  n.attrs["body"] = attr_g(concat_loop_body());
  auto out = run_single_op(n, {bscalar(false), svec({1}, {"x"})}, 11);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], svec({1}, {"x"}));
  EXPECT_EQ((*out)[1].dtype(), DType::kString);
  EXPECT_EQ((*out)[1].numel(), 0);
}

TEST(ControlFlowOps, LoopBodyArityMismatchIsError) {
  Node n = Node::make("Loop", {"M", "cond", "s", "t"}, {"s_final", "t_final"});
  n.attrs["body"] = attr_g(concat_loop_body());
  auto out = run_single_op(n, {ivec({}, {1}), bscalar(true), svec({1}, {"x"}), svec({1}, {"y"})}, 11);
  EXPECT_FALSE(out.has_value());
}

// Scan body: (acc, x_t) -> (acc + x_t, acc + x_t).
std::shared_ptr<Graph> concat_scan_body() {
  auto b = std::make_shared<Graph>();
  b->name = "scan_body";
  b->inputs = {"acc", "x_t"};
  b->nodes.push_back(op("StringConcat", {"acc", "x_t"}, {"acc_out"}));
  b->nodes.push_back(ident("acc_out", "y_t"));
  b->outputs = {"acc_out", "y_t"};
  return b;
}

TEST(ControlFlowOps, Scan9AxisAndDirections) {
  Node n = Node::make("Scan", {"init", "x"}, {"fin", "ys"});
  n.attrs["body"] = attr_g(concat_scan_body());
  n.attrs["num_scan_inputs"] = attr_i(1);
  n.attrs["scan_input_axes"] = attr_ints({1});
  n.attrs["scan_input_directions"] = attr_ints({1});
  n.attrs["scan_output_axes"] = attr_ints({-1});
  // x: [2, 3] scanned along axis 1 backwards; acc: [2].
  auto out = run_single_op(n, {svec({2}, {"", "-"}), svec({2, 3}, {"a", "b", "c", "d", "e", "f"})}, 16);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], svec({2}, {"cba", "-fed"}));
  expect_near((*out)[1], svec({2, 3}, {"c", "cb", "cba", "-f", "-fe", "-fed"}));
}

TEST(ControlFlowOps, Scan8BatchAndSequenceLens) {
  Node n = Node::make("Scan", {"lens", "init", "x"}, {"fin", "ys"});
  n.attrs["body"] = attr_g(concat_scan_body());
  n.attrs["num_scan_inputs"] = attr_i(1);
  // batch 2, seq 2, element shape [1]; second batch entry has length 1.
  auto out = run_single_op(n, {ivec({2}, {2, 1}), svec({2, 1}, {">", "<"}), svec({2, 2, 1}, {"a", "b", "c", "d"})}, 8);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], svec({2, 1}, {">ab", "<c"}));
  expect_near((*out)[1], svec({2, 2, 1}, {">a", ">ab", "<c", ""}));
}

TEST(ControlFlowOps, ScanMismatchedLengthsIsError) {
  auto b = std::make_shared<Graph>();
  b->name = "scan_body2";
  b->inputs = {"p", "q"};
  b->nodes.push_back(op("StringConcat", {"p", "q"}, {"r"}));
  b->outputs = {"r"};
  Node n = Node::make("Scan", {"x", "y"}, {"rs"});
  n.attrs["body"] = attr_g(b);
  n.attrs["num_scan_inputs"] = attr_i(2);
  auto out = run_single_op(n, {svec({2}, {"a", "b"}), svec({3}, {"a", "b", "c"})}, 16);
  EXPECT_FALSE(out.has_value());
}

TEST(ControlFlowOps, OptionalOps) {
  Node has = Node::make("OptionalHasElement", {""}, {"y"});
  auto out = run_single_op(has, {}, 18);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], bscalar(false));
  Node has2 = Node::make("OptionalHasElement", {"x"}, {"y"});
  out = run_single_op(has2, {fvec({2}, {1, 2})}, 18);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], bscalar(true));
  Node get = Node::make("OptionalGetElement", {"x"}, {"y"});
  out = run_single_op(get, {fvec({2}, {1, 2})}, 18);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({2}, {1, 2}));
  Node mk = Node::make("Optional", {"x"}, {"y"});
  out = run_single_op(mk, {ivec({1}, {5})}, 15);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], ivec({1}, {5}));
}

}  // namespace
}  // namespace ferry::test

#include "runtime/executor.h"

namespace ferry::test {
namespace {
Expected<std::vector<Tensor>> run_graph(Graph g, const std::vector<Tensor>& inputs) {
  FERRY_RETURN_IF_ERROR(g.topo_sort());
  auto plan = CompiledGraph::compile(g, {});
  if (!plan) return plan.status();
  ThreadPool pool(2);
  return (*plan)->run(inputs, pool);
}
}  // namespace
}  // namespace ferry::test
