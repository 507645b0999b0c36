// string_test.cc — StringConcat, StringSplit, StringNormalizer, RegexFullMatch.
#include "ops/op_test_util.h"

namespace ferry::test {
namespace {


TEST(StringOps, ConcatBroadcast) {
  Node n = Node::make("StringConcat", {"x", "y"}, {"z"});
  auto out = run_single_op(n, {svec({3}, {"cat", "dog", ""}), svec({1}, {"s"})}, 20);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], svec({3}, {"cats", "dogs", "s"}));
}

TEST(StringOps, ConcatScalarAndUtf8) {
  Node n = Node::make("StringConcat", {"x", "y"}, {"z"});
  auto out = run_single_op(n, {svec({}, {"\xe7\x9a\x84"}), svec({2, 1}, {"a", "b"})}, 20);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], svec({2, 1}, {"\xe7\x9a\x84" "a", "\xe7\x9a\x84" "b"}));
}

TEST(StringOps, ConcatRejectsNonString) {
  Node n = Node::make("StringConcat", {"x", "y"}, {"z"});
  auto out = run_single_op(n, {fvec({1}, {1}), svec({1}, {"s"})}, 20);
  EXPECT_FALSE(out.has_value());
}

TEST(StringOps, SplitDelimiterPadsAndCounts) {
  Node n = Node::make("StringSplit", {"x"}, {"s", "l"});
  n.attrs["delimiter"] = attr_s("-");
  auto out = run_single_op(n, {svec({3}, {"o-n--x-", "a", ""})}, 20);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], svec({3, 5}, {"o", "n", "", "x", "", "a", "", "", "", "", "", "", "", "", ""}));
  expect_near((*out)[1], ivec({3}, {5, 1, 1}));
}

TEST(StringOps, SplitWhitespaceMaxsplit) {
  Node n = Node::make("StringSplit", {"x"}, {"s", "l"});
  n.attrs["maxsplit"] = attr_i(1);
  auto out = run_single_op(n, {svec({2}, {"  hello   big world ", ""})}, 20);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], svec({2, 2}, {"hello", "big world ", "", ""}));
  expect_near((*out)[1], ivec({2}, {2, 0}));
}

TEST(StringOps, SplitEmptyTensor) {
  Node n = Node::make("StringSplit", {"x"}, {"s", "l"});
  auto out = run_single_op(n, {svec({0}, {})}, 20);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], svec({0, 0}, {}));
  expect_near((*out)[1], ivec({0}, {}));
}

TEST(StringOps, NormalizerStopwordsCaseInsensitiveUpper) {
  Node n = Node::make("StringNormalizer", {"x"}, {"y"});
  n.attrs["case_change_action"] = attr_s("UPPER");
  Attr sw;
  sw.kind = Attr::Kind::kStrings;
  sw.strings = {"monday"};
  n.attrs["stopwords"] = sw;
  auto out = run_single_op(n, {svec({1, 4}, {"Monday", "tuesday", "MONDAY", "caf\xc3\xa9"})}, 10);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], svec({1, 2}, {"TUESDAY", "CAF\xc3\x89"}));
}

TEST(StringOps, NormalizerAllRemovedGivesOneEmpty) {
  Node n = Node::make("StringNormalizer", {"x"}, {"y"});
  n.attrs["is_case_sensitive"] = attr_i(1);
  Attr sw;
  sw.kind = Attr::Kind::kStrings;
  sw.strings = {"monday"};
  n.attrs["stopwords"] = sw;
  auto out = run_single_op(n, {svec({2}, {"monday", "monday"})}, 10);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], svec({1}, {""}));
}

TEST(StringOps, NormalizerRejectsBadAction) {
  Node n = Node::make("StringNormalizer", {"x"}, {"y"});
  n.attrs["case_change_action"] = attr_s("TITLE");
  auto out = run_single_op(n, {svec({1}, {"a"})}, 10);
  EXPECT_FALSE(out.has_value());
}

TEST(StringOps, RegexFullMatch) {
  Node n = Node::make("RegexFullMatch", {"x"}, {"y"});
  n.attrs["pattern"] = attr_s(R"(www\.[\w.-]+\.\bcom\b)");
  auto out = run_single_op(n, {svec({3}, {"www.google.com", "www.bbc.co.uk", "xwww.a.com"})}, 20);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], Tensor::from_vector<bool>(DType::kBool, {3}, {true, false, false}));
}

TEST(StringOps, RegexLongInputDoesNotOverflowStack) {
  Node n = Node::make("RegexFullMatch", {"x"}, {"y"});
  n.attrs["pattern"] = attr_s("(a|b)*");
  std::string long_ok(40000, 'a'), long_bad = long_ok + "c";
  auto out = run_single_op(n, {svec({3}, {long_ok, long_bad, "ab"})}, 20);
  ASSERT_TRUE(out.has_value()) << out.status().to_string();
  expect_near((*out)[0], Tensor::from_vector<bool>(DType::kBool, {3}, {true, false, true}));
  auto too_long = run_single_op(n, {svec({1}, {std::string(100000, 'a')})}, 20);
  EXPECT_FALSE(too_long.has_value());
}

TEST(StringOps, RegexInvalidPatternIsError) {
  Node n = Node::make("RegexFullMatch", {"x"}, {"y"});
  n.attrs["pattern"] = attr_s("(unclosed");
  auto out = run_single_op(n, {svec({1}, {"a"})}, 20);
  EXPECT_FALSE(out.has_value());
}

}  // namespace
}  // namespace ferry::test
