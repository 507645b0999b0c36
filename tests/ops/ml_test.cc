// ml_test.cc — LabelEncoder, TreeEnsemble, Binarizer, ArrayFeatureExtractor, TfIdfVectorizer.
#include <cmath>

#include "ops/op_test_util.h"

namespace ferry::test {
namespace {

Attr attr_strs(std::vector<std::string> v) {
  Attr a;
  a.kind = Attr::Kind::kStrings;
  a.strings = std::move(v);
  return a;
}
Attr attr_t(Tensor t) {
  Attr a;
  a.kind = Attr::Kind::kTensor;
  a.t = std::move(t);
  return a;
}
Node ml_node(const std::string& op, std::vector<std::string> in, std::vector<std::string> out) {
  Node n = Node::make(op, std::move(in), std::move(out));
  n.domain = "ai.onnx.ml";
  return n;
}

TEST(MlOps, LabelEncoderStringToInt) {
  Node n = ml_node("LabelEncoder", {"x"}, {"y"});
  n.attrs["keys_strings"] = attr_strs({"a", "b", "c"});
  n.attrs["values_int64s"] = attr_ints({0, 1, 2});
  n.attrs["default_int64"] = attr_i(42);
  auto out = run_single_op(n, {svec({5}, {"a", "b", "d", "c", "g"})}, 4);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], ivec({5}, {0, 1, 42, 2, 42}));
}

TEST(MlOps, LabelEncoderTensorAttrsInt16AndFloatKeys) {
  Node n = ml_node("LabelEncoder", {"x"}, {"y"});
  n.attrs["keys_tensor"] = attr_t(fvec({3}, {1.5f, NAN, -2.0f}));
  n.attrs["values_tensor"] = attr_t(Tensor::from_vector<int16_t>(DType::kInt16, {3}, {7, 8, 9}));
  auto out = run_single_op(n, {fvec({2, 2}, {-2.0f, NAN, 3.0f, 1.5f})}, 4);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], Tensor::from_vector<int16_t>(DType::kInt16, {2, 2}, {9, 8, -1, 7}));
}

TEST(MlOps, LabelEncoderMismatchedLengthsIsError) {
  Node n = ml_node("LabelEncoder", {"x"}, {"y"});
  n.attrs["keys_strings"] = attr_strs({"a", "b"});
  n.attrs["values_int64s"] = attr_ints({0});
  auto out = run_single_op(n, {svec({1}, {"a"})}, 2);
  EXPECT_FALSE(out.has_value());
}

// Root: x0 <= 3.14 ? (x0 <= 1.2 ? leaf0 : leaf1) : (x0 <= 4.2 ? leaf2 : leaf3); targets 0,1,0,1.
Node single_tree() {
  Node n = ml_node("TreeEnsemble", {"x"}, {"y"});
  n.attrs["aggregate_function"] = attr_i(1);
  n.attrs["leaf_targetids"] = attr_ints({0, 1, 0, 1});
  n.attrs["leaf_weights"] = attr_t(fvec({4}, {5.23f, 12.12f, -12.23f, 7.21f}));
  n.attrs["n_targets"] = attr_i(2);
  n.attrs["nodes_falseleafs"] = attr_ints({0, 1, 1});
  n.attrs["nodes_falsenodeids"] = attr_ints({2, 2, 3});
  n.attrs["nodes_featureids"] = attr_ints({0, 0, 0});
  n.attrs["nodes_modes"] = attr_t(Tensor::from_vector<uint8_t>(DType::kUInt8, {3}, {0, 0, 0}));
  n.attrs["nodes_splits"] = attr_t(fvec({3}, {3.14f, 1.2f, 4.2f}));
  n.attrs["nodes_trueleafs"] = attr_ints({0, 1, 1});
  n.attrs["nodes_truenodeids"] = attr_ints({1, 0, 1});
  n.attrs["post_transform"] = attr_i(0);
  n.attrs["tree_roots"] = attr_ints({0});
  return n;
}

TEST(MlOps, TreeEnsembleSingleTree) {
  auto out = run_single_op(single_tree(), {fvec({4, 2}, {1.2f, 3.4f, -0.12f, 1.66f, 4.14f, 1.77f, 9.0f, 0.0f})}, 5);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({4, 2}, {5.23f, 0, 5.23f, 0, 0, 12.12f, 0, 7.21f}));
}

TEST(MlOps, TreeEnsembleLogistic) {
  Node n = single_tree();
  n.attrs["post_transform"] = attr_i(2);
  auto out = run_single_op(n, {fvec({1, 1}, {0.0f})}, 5);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({1, 2}, {static_cast<float>(1 / (1 + std::exp(-5.23))), 0.5f}));
}

TEST(MlOps, TreeEnsembleBadNodeIdIsError) {
  Node n = single_tree();
  n.attrs["nodes_truenodeids"] = attr_ints({1, 0, 99});
  auto out = run_single_op(n, {fvec({1, 1}, {0.0f})}, 5);
  EXPECT_FALSE(out.has_value());
}

TEST(MlOps, Binarizer) {
  Node n = ml_node("Binarizer", {"x"}, {"y"});
  n.attrs["threshold"] = attr_f(1.0f);
  auto out = run_single_op(n, {fvec({5}, {0.5f, 1.0f, 1.5f, -3.0f, 7.0f})}, 1);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({5}, {0, 0, 1, 0, 1}));
}

TEST(MlOps, ArrayFeatureExtractor) {
  Node n = ml_node("ArrayFeatureExtractor", {"x", "i"}, {"y"});
  auto out = run_single_op(n, {fvec({3, 4}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}), ivec({3}, {3, 0, 3})}, 1);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({3, 3}, {3, 0, 3, 7, 4, 7, 11, 8, 11}));
  auto bad = run_single_op(n, {fvec({2}, {0, 1}), ivec({1}, {2})}, 1);
  EXPECT_FALSE(bad.has_value());
}

Node tfidf(int64_t min_n, int64_t skip) {
  Node n = Node::make("TfIdfVectorizer", {"x"}, {"y"});
  n.attrs["max_gram_length"] = attr_i(2);
  n.attrs["min_gram_length"] = attr_i(min_n);
  n.attrs["max_skip_count"] = attr_i(skip);
  n.attrs["mode"] = attr_s("TF");
  n.attrs["ngram_counts"] = attr_ints({0, 4});
  n.attrs["ngram_indexes"] = attr_ints({0, 1, 2, 3, 4, 5, 6});
  n.attrs["pool_int64s"] = attr_ints({2, 3, 5, 4, 5, 6, 7, 8, 6, 7});
  return n;
}

TEST(MlOps, TfIdfUniAndBigramsSkip5) {
  Tensor x = Tensor::from_vector<int32_t>(DType::kInt32, {12}, {1, 1, 3, 3, 3, 7, 8, 6, 7, 5, 6, 8});
  auto out = run_single_op(tfidf(1, 5), {x}, 9);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({7}, {0, 3, 1, 0, 1, 3, 1}));
}

TEST(MlOps, TfIdfBatchBigramsSkip0) {
  Tensor x = Tensor::from_vector<int32_t>(DType::kInt32, {2, 6}, {1, 1, 3, 3, 3, 7, 8, 6, 7, 5, 6, 8});
  auto out = run_single_op(tfidf(2, 0), {x}, 9);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], fvec({2, 7}, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1}));
}

TEST(MlOps, TfIdfBadModeIsError) {
  Node n = tfidf(1, 0);
  n.attrs["mode"] = attr_s("BM25");
  auto out = run_single_op(n, {ivec({2}, {1, 2})}, 9);
  EXPECT_FALSE(out.has_value());
}

}  // namespace
}  // namespace ferry::test
