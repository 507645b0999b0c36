#include "passes/graph_edit.h"

#include <algorithm>
#include <unordered_set>

namespace ferry {

namespace {
void collect_subgraph_refs(const Node& n, std::vector<std::string>& out) {
  for (const auto& [k, a] : n.attrs) {
    if (a.g) out.insert(out.end(), a.g->outer_refs.begin(), a.g->outer_refs.end());
    for (const auto& g : a.graphs) out.insert(out.end(), g->outer_refs.begin(), g->outer_refs.end());
  }
}
}  // namespace

std::unordered_map<std::string, std::vector<int>> build_consumers(const Graph& g) {
  std::unordered_map<std::string, std::vector<int>> c;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    std::vector<std::string> reads = g.nodes[i].inputs;
    collect_subgraph_refs(g.nodes[i], reads);
    std::unordered_set<std::string> seen;
    for (const auto& in : reads)
      if (!in.empty() && seen.insert(in).second) c[in].push_back(static_cast<int>(i));
  }
  return c;
}

std::unordered_map<std::string, int> build_producers(const Graph& g) {
  std::unordered_map<std::string, int> p;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (const auto& o : g.nodes[i].outputs)
      if (!o.empty()) p[o] = static_cast<int>(i);
  return p;
}

bool is_graph_output(const Graph& g, const std::string& value) {
  return std::find(g.outputs.begin(), g.outputs.end(), value) != g.outputs.end();
}

const Tensor* initializer_of(const Graph& g, const std::string& name) {
  auto it = g.initializers.find(name);
  return it == g.initializers.end() ? nullptr : &it->second;
}

void replace_uses(Graph& g, const std::string& from, const std::string& to) {
  for (Node& n : g.nodes)
    for (auto& in : n.inputs)
      if (in == from) in = to;
}

std::string unique_value_name(const Graph& g, const std::string& base) {
  std::unordered_set<std::string> used;
  for (const auto& [k, v] : g.initializers) used.insert(k);
  for (const auto& in : g.inputs) used.insert(in);
  for (const Node& n : g.nodes)
    for (const auto& o : n.outputs) used.insert(o);
  if (!used.count(base)) return base;
  for (int i = 1;; ++i) {
    std::string s = base + "_" + std::to_string(i);
    if (!used.count(s)) return s;
  }
}

void erase_nodes(Graph& g, const std::vector<bool>& dead) {
  std::vector<Node> kept;
  kept.reserve(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (!dead[i]) kept.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(kept);
  for (size_t i = 0; i < g.nodes.size(); ++i) g.nodes[i].index = static_cast<int>(i);
}

void drop_unused_initializers(Graph& g) {
  auto consumers = build_consumers(g);
  for (auto it = g.initializers.begin(); it != g.initializers.end();) {
    if (!consumers.count(it->first) && !is_graph_output(g, it->first)) {
      g.value_info.erase(it->first);
      it = g.initializers.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace ferry
