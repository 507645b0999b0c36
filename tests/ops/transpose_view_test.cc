// transpose_view_test.cc — Transpose whose perm only moves size-1 axes returns a view (same storage) with the
// permuted shape; other perms still copy.
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

}  // namespace
}  // namespace ferry::test
