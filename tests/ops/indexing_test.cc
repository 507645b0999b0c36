// indexing_test.cc — indexing-family reference kernels (spec examples, negative indices, reductions, errors).
#include "ops/op_test_util.h"

namespace ferry::test {
namespace {

Node op(const std::string& type, std::vector<std::string> in, std::vector<std::string> out = {"y"}) {
  return Node::make(type, std::move(in), std::move(out));
}

TEST(IndexingFamily, GatherAxisNegativeIndicesAndErrors) {
  Node n = op("Gather", {"x", "i"});
  n.attrs["axis"] = attr_i(1);
  RUN_OK(a, n, {iota_f({2, 3}), ivec({2, 2}, {0, -1, 1, 1})});
  expect_near((*a)[0], fvec({2, 2, 2}, {0, 2, 1, 1, 3, 5, 4, 4}));
  RUN_OK(s, op("Gather", {"x", "i"}), {svec({3}, {"a", "b", "c"}), i32vec({2}, {2, 0})});
  expect_near((*s)[0], svec({2}, {"c", "a"}));
  EXPECT_FALSE(run_single_op(n, {iota_f({2, 3}), ivec({1}, {3})}).has_value());
  EXPECT_FALSE(run_single_op(n, {iota_f({2, 3}), ivec({1}, {-4})}).has_value());
}

TEST(IndexingFamily, GatherElementsAndGatherND) {
  Node n = op("GatherElements", {"x", "i"});
  n.attrs["axis"] = attr_i(1);
  RUN_OK(a, n, {fvec({2, 2}, {1, 2, 3, 4}), ivec({2, 2}, {0, 0, 1, -2})});
  expect_near((*a)[0], fvec({2, 2}, {1, 1, 4, 3}));
  EXPECT_FALSE(run_single_op(n, {fvec({2, 2}, {1, 2, 3, 4}), ivec({2, 2}, {0, 2, 0, 0})}).has_value());
  // GatherND spec example with batch_dims = 1.
  Node g = op("GatherND", {"x", "i"});
  g.attrs["batch_dims"] = attr_i(1);
  RUN_OK(b, g, {i32vec({2, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7}), ivec({2, 1}, {1, 0})});
  expect_near((*b)[0], i32vec({2, 2}, {2, 3, 4, 5}));
  RUN_OK(c, op("GatherND", {"x", "i"}), {i32vec({2, 2}, {0, 1, 2, 3}), ivec({2, 2}, {0, 0, 1, 1})});
  expect_near((*c)[0], i32vec({2}, {0, 3}));
  EXPECT_FALSE(run_single_op(op("GatherND", {"x", "i"}), {i32vec({2, 2}, {0, 1, 2, 3}), ivec({1, 2}, {0, 2})}).has_value());
}

TEST(IndexingFamily, ScatterElementsReductions) {
  Node n = op("ScatterElements", {"x", "i", "u"});
  n.attrs["axis"] = attr_i(1);
  n.attrs["reduction"] = attr_s("add");
  RUN_OK(a, n, {fvec({1, 5}, {1, 2, 3, 4, 5}), ivec({1, 2}, {1, 1}), fvec({1, 2}, {1.1f, 2.1f})}, 18);
  expect_near((*a)[0], fvec({1, 5}, {1, 5.2f, 3, 4, 5}));
  n.attrs["reduction"] = attr_s("max");
  RUN_OK(b, n, {fvec({1, 5}, {1, 2, 3, 4, 5}), ivec({1, 2}, {-1, 0}), fvec({1, 2}, {1, 9})}, 18);
  expect_near((*b)[0], fvec({1, 5}, {9, 2, 3, 4, 5}));
  // Scatter (opset 10) is ScatterElements without reduction.
  RUN_OK(c, op("Scatter", {"x", "i", "u"}), {iota_f({3, 3}), ivec({1, 3}, {1, 0, 2}), fvec({1, 3}, {-1, -2, -3})}, 10);
  expect_near((*c)[0], fvec({3, 3}, {0, -2, 2, -1, 4, 5, 6, 7, -3}));
  EXPECT_FALSE(run_single_op(n, {fvec({1, 5}, {1, 2, 3, 4, 5}), ivec({1, 1}, {5}), fvec({1, 1}, {1})}, 18).has_value());
}

TEST(IndexingFamily, ScatterNDAndTensorScatter) {
  Node n = op("ScatterND", {"x", "i", "u"});
  n.attrs["reduction"] = attr_s("mul");
  RUN_OK(a, n, {fvec({4}, {1, 2, 3, 4}), ivec({2, 1}, {1, 1}), fvec({2}, {3, 5})}, 18);
  expect_near((*a)[0], fvec({4}, {1, 30, 3, 4}));
  RUN_OK(b, op("ScatterND", {"x", "i", "u"}), {iota_f({2, 2}), ivec({1, 1}, {-1}), fvec({1, 2}, {8, 9})}, 16);
  expect_near((*b)[0], fvec({2, 2}, {0, 1, 8, 9}));
  EXPECT_FALSE(run_single_op(n, {fvec({4}, {1, 2, 3, 4}), ivec({1, 1}, {4}), fvec({1}, {3})}, 18).has_value());
  Node t = op("TensorScatter", {"p", "u", "w"});
  t.attrs["mode"] = attr_s("circular");
  RUN_OK(c, t, {fvec({1, 3, 1}, {0, 0, 0}), fvec({1, 2, 1}, {7, 8}), ivec({1}, {2})}, 24);
  expect_near((*c)[0], fvec({1, 3, 1}, {8, 0, 7}));
  t.attrs["mode"] = attr_s("linear");
  EXPECT_FALSE(run_single_op(t, {fvec({1, 3, 1}, {0, 0, 0}), fvec({1, 2, 1}, {7, 8}), ivec({1}, {2})}, 24).has_value());
}

TEST(IndexingFamily, OneHotNonZeroCompress) {
  Node n = op("OneHot", {"i", "d", "v"});
  n.attrs["axis"] = attr_i(0);
  RUN_OK(a, n, {ivec({3}, {0, -1, 5}), fvec({}, {3}), fvec({2}, {0, 2})}, 11);
  expect_near((*a)[0], fvec({3, 3}, {2, 0, 0, 0, 0, 0, 0, 2, 0}));
  RUN_OK(b, op("NonZero", {"x"}), {bvec({2, 2}, {true, false, true, true})}, 13);
  expect_near((*b)[0], ivec({2, 3}, {0, 1, 1, 0, 0, 1}));
  Node c = op("Compress", {"x", "c"});
  c.attrs["axis"] = attr_i(-1);
  RUN_OK(d, c, {iota_f({2, 3}), bvec({2}, {false, true})}, 11);
  expect_near((*d)[0], fvec({2, 1}, {1, 4}));
  RUN_OK(e, op("Compress", {"x", "c"}), {iota_f({2, 2}), bvec({4}, {false, true, true, false})}, 11);
  expect_near((*e)[0], fvec({2}, {1, 2}));
  EXPECT_FALSE(run_single_op(c, {iota_f({2, 3}), bvec({4}, {false, false, false, true})}, 11).has_value());
}

TEST(IndexingFamily, UniqueSortedUnsortedAxis) {
  Node n = op("Unique", {"x"}, {"y", "idx", "inv", "cnt"});
  n.attrs["sorted"] = attr_i(0);
  RUN_OK(a, n, {fvec({6}, {2, 1, 1, 3, 4, 3})}, 11);
  expect_near((*a)[0], fvec({4}, {2, 1, 3, 4}));
  expect_near((*a)[1], ivec({4}, {0, 1, 3, 4}));
  expect_near((*a)[2], ivec({6}, {0, 1, 1, 2, 3, 2}));
  expect_near((*a)[3], ivec({4}, {1, 2, 2, 1}));
  Node s = op("Unique", {"x"}, {"y", "idx", "inv", "cnt"});
  s.attrs["axis"] = attr_i(0);
  RUN_OK(b, s, {fvec({3, 3}, {1, 0, 0, 1, 0, 0, 2, 3, 4})}, 11);
  expect_near((*b)[0], fvec({2, 3}, {1, 0, 0, 2, 3, 4}));
  expect_near((*b)[1], ivec({2}, {0, 2}));
  expect_near((*b)[2], ivec({3}, {0, 0, 1}));
  expect_near((*b)[3], ivec({2}, {2, 1}));
  RUN_OK(c, op("Unique", {"x"}), {svec({3}, {"b", "a", "b"})}, 11);
  expect_near((*c)[0], svec({2}, {"a", "b"}));
}

TEST(IndexingFamily, TopKTiesDtypesAndErrors) {
  Node n = op("TopK", {"x", "k"}, {"v", "i"});
  RUN_OK(a, n, {fvec({2, 4}, {1, 3, 3, 2, 5, 4, 6, 6}), ivec({1}, {2})}, 11);
  expect_near((*a)[0], fvec({2, 2}, {3, 3, 6, 6}));
  expect_near((*a)[1], ivec({2, 2}, {1, 2, 2, 3}));
  Node s = op("TopK", {"x", "k"}, {"v", "i"});
  s.attrs["largest"] = attr_i(0);
  s.attrs["axis"] = attr_i(0);
  Tensor u = Tensor::from_vector<uint64_t>(DType::kUInt64, {3}, {~0ull, 5, 5});
  RUN_OK(b, s, {u, ivec({1}, {2})}, 11);
  EXPECT_EQ((*b)[0].data<uint64_t>()[0], 5u);
  expect_near((*b)[1], ivec({2}, {1, 2}));
  Node old = op("TopK", {"x"}, {"v", "i"});
  old.attrs["k"] = attr_i(1);
  RUN_OK(c, old, {fvec({3}, {1, 7, 2})}, 1);
  expect_near((*c)[0], fvec({1}, {7}));
  EXPECT_FALSE(run_single_op(n, {fvec({3}, {1, 2, 3}), ivec({1}, {4})}, 11).has_value());
}

}  // namespace
}  // namespace ferry::test

namespace ferry::test {
namespace {

TEST(IndexingFamily, MalformedInputsReturnErrors) {
  // GatherND: batch dims differ; ScatterND: index tuple longer than data rank; updates of the wrong shape.
  Node g = Node::make("GatherND", {"x", "i"}, {"y"});
  g.attrs["batch_dims"] = attr_i(1);
  EXPECT_FALSE(run_single_op(g, {fvec({2, 2}, {0, 1, 2, 3}), ivec({3, 1}, {0, 0, 0})}).has_value());
  Node s = Node::make("ScatterND", {"x", "i", "u"}, {"y"});
  EXPECT_FALSE(run_single_op(s, {fvec({2}, {0, 1}), ivec({1, 2}, {0, 0}), fvec({1}, {5})}).has_value());
  EXPECT_FALSE(run_single_op(s, {fvec({2}, {0, 1}), ivec({1, 1}, {0}), fvec({2}, {5, 6})}).has_value());
  Node e = Node::make("ScatterElements", {"x", "i", "u"}, {"y"});
  EXPECT_FALSE(run_single_op(e, {fvec({2}, {0, 1}), ivec({1}, {-3}), fvec({1}, {5})}).has_value());
  Node t = Node::make("TopK", {"x", "k"}, {"v", "i"});
  EXPECT_FALSE(run_single_op(t, {fvec({2}, {0, 1}), ivec({1}, {-1})}).has_value());
  Node o = Node::make("OneHot", {"i", "d", "v"}, {"y"});
  EXPECT_FALSE(run_single_op(o, {ivec({1}, {0}), fvec({}, {0}), fvec({2}, {0, 1})}, 11).has_value());
  Node ts = Node::make("TensorScatter", {"p", "u", "w"}, {"y"});
  EXPECT_FALSE(run_single_op(ts, {fvec({1, 2, 1}, {0, 0}), fvec({1, 1, 1}, {1}), ivec({1}, {-1})}, 24).has_value());
}

}  // namespace
}  // namespace ferry::test
