// Topological sorting and structural verification of graphs.
#include <algorithm>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "ir/graph.h"

namespace ferry {

namespace {
std::string quoted(const std::string& s) { return "'" + s + "'"; }
}  // namespace

Status Graph::topo_sort(const std::vector<std::string>& outer_scope) {
  invalidate_index();
  for (size_t i = 0; i < nodes.size(); ++i) nodes[i].index = static_cast<int>(i);
  std::unordered_map<std::string, int> producer;
  std::unordered_set<std::string> available(outer_scope.begin(), outer_scope.end());
  for (const auto& in : inputs) available.insert(in);
  for (const auto& [name, t] : initializers) available.insert(name);
  for (const Node& n : nodes) {
    for (const auto& out : n.outputs) {
      if (out.empty()) continue;
      if (producer.count(out))
        return invalid_argument("value " + quoted(out) + " is produced twice: by node " +
                                nodes[static_cast<size_t>(producer[out])].display_name() + " and by node " +
                                n.display_name());
      if (std::find(inputs.begin(), inputs.end(), out) != inputs.end())
        return invalid_argument("node " + n.display_name() + " writes graph input " + quoted(out));
      producer[out] = n.index;
    }
  }
  // Implicit inputs: names a node's subgraphs read from this scope must be produced before the node.
  auto implicit_inputs = [&](const Node& n) {
    std::vector<std::string> refs;
    for (const auto& [key, a] : n.attrs) {
      if (a.g) refs.insert(refs.end(), a.g->outer_refs.begin(), a.g->outer_refs.end());
      for (const auto& g : a.graphs) refs.insert(refs.end(), g->outer_refs.begin(), g->outer_refs.end());
    }
    return refs;
  };
  std::vector<int> pending(nodes.size(), 0);
  std::unordered_map<std::string, std::vector<int>> consumers;
  for (const Node& n : nodes) {
    std::vector<std::string> deps = n.inputs;
    auto imp = implicit_inputs(n);
    deps.insert(deps.end(), imp.begin(), imp.end());
    std::unordered_set<std::string> seen;
    for (const auto& in : deps) {
      if (in.empty() || !seen.insert(in).second) continue;
      if (producer.count(in)) {
        ++pending[static_cast<size_t>(n.index)];
        consumers[in].push_back(n.index);
      } else if (!available.count(in)) {
        return invalid_argument("node " + n.display_name() + " reads " + quoted(in) +
                                ", which is not a graph input, an initializer or any node's output");
      }
    }
  }
  // Kahn's algorithm with a min-heap on original index keeps already-sorted graphs unchanged.
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (size_t i = 0; i < nodes.size(); ++i)
    if (pending[i] == 0) ready.push(static_cast<int>(i));
  std::vector<int> order;
  while (!ready.empty()) {
    int i = ready.top();
    ready.pop();
    order.push_back(i);
    for (const auto& out : nodes[static_cast<size_t>(i)].outputs) {
      auto it = consumers.find(out);
      if (out.empty() || it == consumers.end()) continue;
      for (int c : it->second)
        if (--pending[static_cast<size_t>(c)] == 0) ready.push(c);
    }
  }
  if (order.size() != nodes.size()) {
    for (size_t i = 0; i < nodes.size(); ++i)
      if (pending[i] > 0) return invalid_argument("graph has a cycle through node " + nodes[i].display_name());
  }
  std::vector<Node> sorted;
  sorted.reserve(nodes.size());
  for (int i : order) sorted.push_back(std::move(nodes[static_cast<size_t>(i)]));
  nodes = std::move(sorted);
  for (size_t i = 0; i < nodes.size(); ++i) nodes[i].index = static_cast<int>(i);
  return Status::ok();
}

Status Graph::verify(const std::vector<std::string>& outer_scope) const {
  std::unordered_set<std::string> defined(outer_scope.begin(), outer_scope.end());
  std::unordered_set<std::string> graph_inputs;
  for (const auto& in : inputs) {
    if (in.empty()) return invalid_argument("graph '" + name + "' has an input with an empty name");
    if (!graph_inputs.insert(in).second) return invalid_argument("graph input " + quoted(in) + " is declared twice");
    defined.insert(in);
  }
  for (const auto& [n, t] : initializers) defined.insert(n);
  for (const Node& n : nodes) {
    for (const auto& in : n.inputs)
      if (!in.empty() && !defined.count(in))
        return invalid_argument("node " + n.display_name() + " reads " + quoted(in) + " before it is produced");
    std::vector<std::string> scope;  // built only for nodes with subgraphs (copying it per node was O(N^2))
    for (const auto& [key, a] : n.attrs) {
      std::vector<const Graph*> subs;
      if (a.g) subs.push_back(a.g.get());
      for (const auto& g : a.graphs) subs.push_back(g.get());
      if (!subs.empty() && scope.empty()) scope.assign(defined.begin(), defined.end());
      for (const Graph* g : subs) {
        Status s = g->verify(scope);
        if (!s.is_ok()) return s.with_context("in subgraph '" + key + "' of node " + n.display_name());
      }
    }
    for (const auto& out : n.outputs)
      if (!out.empty()) defined.insert(out);
  }
  for (const auto& out : outputs)
    if (!defined.count(out)) return invalid_argument("graph output " + quoted(out) + " is never produced");
  return Status::ok();
}

}  // namespace ferry
