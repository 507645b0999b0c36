// transpose_view_test.cc — shape-kernel fast paths used by transformer graphs: Transpose whose perm only moves
// size-1 axes returns a view with the permuted shape (other perms still copy); Slice with a unit step on the last
// axis copies contiguous rows (checked against a strided/negative-step outer axis and the per-element path).
#include "ops/op_test_util.h"

namespace ferry::test {
namespace {

TEST(TransposeView, SizeOneAxesOnlyIsAView) {
  Tensor x = fvec({1, 3, 2}, {1, 2, 3, 4, 5, 6});
  Node n = Node::make("Transpose", {"x"}, {"y"});
  n.attrs["perm"] = attr_ints({1, 0, 2});
  auto out = run_single_op(n, {x}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({3, 1, 2}, {1, 2, 3, 4, 5, 6}));
  n.attrs["perm"] = attr_ints({2, 1, 0});  // a real transpose: [2,3,1]
  out = run_single_op(n, {x}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({2, 3, 1}, {1, 3, 5, 2, 4, 6}));
  n.attrs["perm"] = attr_ints({0, 2, 1});
  out = run_single_op(n, {fvec({2, 1, 3}, {1, 2, 3, 4, 5, 6})}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({2, 3, 1}, {1, 2, 3, 4, 5, 6}));
}

TEST(SliceRows, UnitLastStepMatchesGather) {
  std::vector<float> v(4 * 3 * 10);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  Tensor x = fvec({4, 3, 10}, v);
  Node n = Node::make("Slice", {"x", "s", "e", "a", "p"}, {"y"});
  // axis 0: 3..0 step -2 -> {3, 1}; axis 2: 2..7 -> 5 elements; axis 1 whole.
  auto out = run_single_op(n, {x, ivec({2}, {3, 2}), ivec({2}, {0, 7}), ivec({2}, {0, 2}), ivec({2}, {-2, 1})}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  std::vector<float> want;
  for (int a : {3, 1})
    for (int b = 0; b < 3; ++b)
      for (int c = 2; c < 7; ++c) want.push_back(static_cast<float>((a * 3 + b) * 10 + c));
  expect_near((*out)[0], fvec({2, 3, 5}, want));
  // The packed-QKV split: last axis thirds.
  out = run_single_op(n, {x, ivec({1}, {4}), ivec({1}, {8}), ivec({1}, {-1}), ivec({1}, {1})}, 13);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  want.clear();
  for (int r = 0; r < 12; ++r)
    for (int c = 4; c < 8; ++c) want.push_back(static_cast<float>(r * 10 + c));
  expect_near((*out)[0], fvec({4, 3, 4}, want));
}

}  // namespace
}  // namespace ferry::test
