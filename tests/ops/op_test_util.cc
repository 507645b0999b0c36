#include "ops/op_test_util.h"

#include <algorithm>

#include "runtime/executor.h"

namespace ferry::test {

Expected<std::vector<Tensor>> run_single_op(Node node, const std::vector<Tensor>& inputs, int opset) {
  Graph g;
  g.name = "single_op";
  node.opset = opset;
  size_t k = 0;
  for (auto& in : node.inputs) {
    if (in.empty()) continue;
    if (k >= inputs.size()) return invalid_argument("run_single_op: fewer tensors than node inputs");
    if (std::find(g.inputs.begin(), g.inputs.end(), in) == g.inputs.end()) {
      g.inputs.push_back(in);
      g.value_info[in] = {inputs[k].dtype(), SymShape::from_shape(inputs[k].shape())};
      ++k;
    }
  }
  for (auto& out : node.outputs)
    if (!out.empty()) g.outputs.push_back(out);
  g.nodes.push_back(std::move(node));
  FERRY_RETURN_IF_ERROR(g.topo_sort());
  auto plan = CompiledGraph::compile(g, {});
  if (!plan) return plan.status();
  ThreadPool pool(2);
  std::vector<Tensor> ins(inputs.begin(), inputs.begin() + static_cast<long>(k));
  return (*plan)->run(ins, pool);
}

void expect_near(const Tensor& got, const Tensor& expected, double rtol, double atol) {
  ASSERT_EQ(got.dtype(), expected.dtype()) << dtype_name(got.dtype()) << " vs " << dtype_name(expected.dtype());
  ASSERT_EQ(got.shape(), expected.shape()) << shape_to_string(got.shape()) << " vs " << shape_to_string(expected.shape());
  if (got.dtype() == DType::kString) {
    for (int64_t i = 0; i < got.numel(); ++i)
      EXPECT_EQ(got.data<std::string>()[i], expected.data<std::string>()[i]) << "at " << i;
    return;
  }
  for (int64_t i = 0; i < got.numel(); ++i) {
    double a = load_double(got, i), b = load_double(expected, i);
    if (std::isnan(b)) {
      EXPECT_TRUE(std::isnan(a)) << "at " << i;
      continue;
    }
    if (std::isinf(b)) {
      EXPECT_EQ(a, b) << "at " << i;
      continue;
    }
    EXPECT_LE(std::fabs(a - b), atol + rtol * std::fabs(b)) << "at " << i << ": got " << a << ", expected " << b;
  }
}

}  // namespace ferry::test
