#include "ir/graph.h"

#include <gtest/gtest.h>

namespace ferry {

namespace {
Graph chain() {
  Graph g;
  g.inputs = {"x"};
  g.outputs = {"z"};
  g.nodes.push_back(Node::make("Relu", {"y"}, {"z"}));  // out of order on purpose
  g.nodes.push_back(Node::make("Relu", {"x"}, {"y"}));
  g.nodes[0].name = "second";
  g.nodes[1].name = "first";
  return g;
}
}  // namespace

TEST(Graph, TopoSortOrdersNodes) {
  Graph g = chain();
  ASSERT_TRUE(g.topo_sort().is_ok());
  EXPECT_EQ(g.nodes[0].name, "first");
  EXPECT_EQ(g.nodes[1].name, "second");
  EXPECT_EQ(g.nodes[1].index, 1);
  EXPECT_TRUE(g.verify().is_ok());
}

TEST(Graph, CycleIsReportedWithANodeName) {
  Graph g;
  g.inputs = {"x"};
  g.outputs = {"b"};
  g.nodes.push_back(Node::make("Add", {"x", "b"}, {"a"}));
  g.nodes.push_back(Node::make("Relu", {"a"}, {"b"}));
  g.nodes[0].name = "loop_head";
  Status s = g.topo_sort();
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("cycle"), std::string::npos) << s.message();
}

TEST(Graph, DanglingInputAndDuplicateProducer) {
  Graph g;
  g.inputs = {"x"};
  g.outputs = {"y"};
  g.nodes.push_back(Node::make("Add", {"x", "ghost"}, {"y"}));
  Status s = g.topo_sort();
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("'ghost'"), std::string::npos) << s.message();

  Graph d;
  d.inputs = {"x"};
  d.outputs = {"y"};
  d.nodes.push_back(Node::make("Relu", {"x"}, {"y"}));
  d.nodes.push_back(Node::make("Neg", {"x"}, {"y"}));
  s = d.topo_sort();
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("produced twice"), std::string::npos) << s.message();
}

TEST(Graph, UnproducedOutputFailsVerify) {
  Graph g;
  g.inputs = {"x"};
  g.outputs = {"nowhere"};
  g.nodes.push_back(Node::make("Relu", {"x"}, {"y"}));
  ASSERT_TRUE(g.topo_sort().is_ok());
  Status s = g.verify();
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("'nowhere'"), std::string::npos);
}

TEST(SymShape, ToStringKeepsSymbols) {
  SymShape s = SymShape::from_dims({Dim::symbolic("N"), Dim(3), Dim()});
  EXPECT_EQ(s.to_string(), "[N,3,?]");
  EXPECT_FALSE(s.is_concrete());
  EXPECT_EQ(SymShape::unknown().to_string(), "?");
}

}  // namespace ferry
