// detection_test.cc — NonMaxSuppression.
#include "ops/op_test_util.h"

namespace ferry::test {
namespace {

Tensor six_boxes() {
  return fvec({1, 6, 4}, {0, 0, 1, 1, 0, 0.1f, 1, 1.1f, 0, -0.1f, 1, 0.9f, 0, 10, 1, 11, 0, 10.1f, 1, 11.1f, 0, 100, 1, 101});
}
Tensor six_scores() { return fvec({1, 1, 6}, {0.9f, 0.75f, 0.6f, 0.95f, 0.5f, 0.3f}); }

TEST(DetectionOps, NmsSuppressByIou) {
  Node n = Node::make("NonMaxSuppression", {"b", "s", "m", "iou", "st"}, {"y"});
  auto out = run_single_op(n, {six_boxes(), six_scores(), ivec({1}, {3}), fvec({1}, {0.5f}), fvec({1}, {0.0f})}, 11);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], ivec({3, 3}, {0, 0, 3, 0, 0, 0, 0, 0, 5}));
}

TEST(DetectionOps, NmsScoreThresholdAndLimit) {
  Node n = Node::make("NonMaxSuppression", {"b", "s", "m", "iou", "st"}, {"y"});
  auto out = run_single_op(n, {six_boxes(), six_scores(), ivec({1}, {2}), fvec({1}, {0.5f}), fvec({1}, {0.92f})}, 11);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], ivec({1, 3}, {0, 0, 3}));
}

TEST(DetectionOps, NmsCenterPointFlippedAndNoLimit) {
  Node n = Node::make("NonMaxSuppression", {"b", "s", "m"}, {"y"});
  n.attrs["center_point_box"] = attr_i(1);
  // Two identical center boxes: iou 1 > default threshold 0, so one survives; default max 0 means none.
  Tensor b = fvec({1, 2, 4}, {0.5f, 0.5f, 1, 1, 0.5f, 0.5f, 1, 1});
  Tensor s = fvec({1, 1, 2}, {0.5f, 0.5f});
  auto none = run_single_op(n, {b, s, ivec({1}, {0})}, 11);
  ASSERT_TRUE(none.has_value()) << none.status().to_string();
  expect_near((*none)[0], ivec({0, 3}, {}));
  auto one = run_single_op(n, {b, s, ivec({1}, {5})}, 11);
  ASSERT_TRUE(one.has_value()) << one.status().to_string();
  expect_near((*one)[0], ivec({1, 3}, {0, 0, 0}));
}

TEST(DetectionOps, NmsBadShapesIsError) {
  Node n = Node::make("NonMaxSuppression", {"b", "s", "m"}, {"y"});
  auto out = run_single_op(n, {fvec({1, 2, 3}, {0, 0, 0, 0, 0, 0}), fvec({1, 1, 2}, {1, 1}), ivec({1}, {1})}, 11);
  EXPECT_FALSE(out.has_value());
}

}  // namespace
}  // namespace ferry::test
