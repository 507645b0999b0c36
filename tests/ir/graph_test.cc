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

TEST(Graph, IndexListsProducersConsumersAndSubgraphReads) {
  Graph g;
  g.inputs = {"x"};
  g.outputs = {"z"};
  g.nodes.push_back(Node::make("Relu", {"x"}, {"y"}));
  g.nodes.push_back(Node::make("Add", {"y", "y"}, {"z"}));  // reads y twice: one consumer entry
  auto body = std::make_shared<Graph>();
  body->outer_refs = {"x"};
  Attr a;
  a.kind = Attr::Kind::kGraph;
  a.g = body;
  g.nodes.push_back(Node::make("If", {"c"}, {"w"}));
  g.nodes[2].attrs["then_branch"] = a;
  const GraphIndex& idx = g.index();
  EXPECT_EQ(idx.producer.at("y"), 0);
  EXPECT_EQ(idx.producer.at("z"), 1);
  EXPECT_EQ(idx.consumers.at("y"), (std::vector<int>{1}));
  EXPECT_EQ(idx.consumers.at("x"), (std::vector<int>{0, 2}));
  EXPECT_EQ(idx.subgraph_reads.count("x"), 1u);
  EXPECT_EQ(idx.subgraph_reads.count("y"), 0u);
  // Cached until invalidated; topo_sort invalidates (it reorders nodes).
  g.nodes[1].inputs = {"x", "x"};
  EXPECT_EQ(&g.index(), &idx);
  g.invalidate_index();
  EXPECT_EQ(g.index().consumers.count("y"), 0u);
  EXPECT_EQ(g.index().consumers.at("x"), (std::vector<int>{0, 1, 2}));
  auto held = g.shared_index();
  std::swap(g.nodes[0], g.nodes[1]);
  g.nodes.pop_back();
  ASSERT_TRUE(g.topo_sort().is_ok());  // no dependency left between the two: the order stays [Add, Relu]
  EXPECT_EQ(g.index().producer.at("y"), 1);
  EXPECT_EQ(held->producer.at("y"), 0);  // a held snapshot stays readable after invalidation
}

TEST(Graph, VerifyChecksSubgraphsAgainstTheEnclosingScope) {
  Graph g;
  g.inputs = {"c", "x"};
  g.outputs = {"w"};
  auto body = std::make_shared<Graph>();
  body->outer_refs = {"y"};
  body->outputs = {"y"};
  g.nodes.push_back(Node::make("Relu", {"x"}, {"y"}));
  g.nodes.push_back(Node::make("If", {"c"}, {"w"}));
  Attr a;
  a.kind = Attr::Kind::kGraph;
  a.g = body;
  g.nodes[1].attrs["then_branch"] = a;
  EXPECT_TRUE(g.verify().is_ok());
  body->outputs = {"v"};  // read from nowhere
  EXPECT_FALSE(g.verify().is_ok());
}

TEST(SymShape, ToStringKeepsSymbols) {
  SymShape s = SymShape::from_dims({Dim::symbolic("N"), Dim(3), Dim()});
  EXPECT_EQ(s.to_string(), "[N,3,?]");
  EXPECT_FALSE(s.is_concrete());
  EXPECT_EQ(SymShape::unknown().to_string(), "?");
}

}  // namespace ferry
