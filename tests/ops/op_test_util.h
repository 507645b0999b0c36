// op_test_util.h — declarative single-op tests (the reference kernels are the oracle for every faster kernel).
//
//   Node n = Node::make("Add", {"a", "b"}, {"y"});
//   auto out = run_single_op(n, {fvec({2}, {1, 2}), fvec({2}, {3, 4})});
//   ASSERT_TRUE(out.has_value()) << out.status().to_string();
//   expect_near((*out)[0], fvec({2}, {4, 6}));
//
// run_single_op builds a one-node graph whose inputs are the node's non-empty input names, runs static
// inference, creates the CPU kernel and runs it exactly as a Session does; the opset is set on the node.
#pragma once

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "core/dtype_dispatch.h"
#include "ir/graph.h"

namespace ferry::test {

Expected<std::vector<Tensor>> run_single_op(Node node, const std::vector<Tensor>& inputs, int opset = 21);

// Seeded uniform floats in [lo, hi) (std::mt19937): the one random-tensor generator of the tests.
inline Tensor random_floats(Shape s, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  Tensor t = Tensor::empty(DType::kFloat, std::move(s));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

inline Tensor fvec(Shape shape, std::vector<float> v) { return Tensor::from_vector<float>(DType::kFloat, shape, v); }
inline Tensor ivec(Shape shape, std::vector<int64_t> v) { return Tensor::from_vector<int64_t>(DType::kInt64, shape, v); }
inline Tensor i32vec(Shape shape, std::vector<int32_t> v) {
  return Tensor::from_vector<int32_t>(DType::kInt32, shape, v);
}
inline Tensor svec(Shape shape, std::vector<std::string> v) {
  return Tensor::from_vector<std::string>(DType::kString, shape, v);
}
inline Tensor bvec(Shape shape, std::vector<bool> v) {
  Tensor t = Tensor::empty(DType::kBool, shape);
  for (size_t i = 0; i < v.size(); ++i) t.data<bool>()[i] = v[i];
  return t;
}
// 0, 1, 2, ... as float in the given shape.
inline Tensor iota_f(Shape shape) {
  Tensor t = Tensor::empty(DType::kFloat, shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(i);
  return t;
}

// Runs one op and asserts that it succeeded: RUN_OK(out, node, {inputs...}); then (*out)[0] is the first output.
#define RUN_OK(var, ...)                 \
  auto var = run_single_op(__VA_ARGS__); \
  ASSERT_TRUE(var.has_value()) << var.status().to_string()

// Checks dtype, shape and |a-b| <= atol + rtol*|b| elementwise (strings/bools exactly).
void expect_near(const Tensor& got, const Tensor& expected, double rtol = 1e-5, double atol = 1e-6);

inline Attr attr_i(int64_t v) { Attr a; a.kind = Attr::Kind::kInt; a.i = v; return a; }
inline Attr attr_f(float v) { Attr a; a.kind = Attr::Kind::kFloat; a.f = v; return a; }
inline Attr attr_s(std::string v) { Attr a; a.kind = Attr::Kind::kString; a.s = std::move(v); return a; }
inline Attr attr_ints(std::vector<int64_t> v) { Attr a; a.kind = Attr::Kind::kInts; a.ints = std::move(v); return a; }
inline Attr attr_floats(std::vector<float> v) { Attr a; a.kind = Attr::Kind::kFloats; a.floats = std::move(v); return a; }

}  // namespace ferry::test
