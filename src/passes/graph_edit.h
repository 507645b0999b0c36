// graph_edit.h — helpers passes use to query and rewrite a Graph safely.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "ir/graph.h"

namespace ferry {

// Value name -> indexes of nodes reading it (inputs and subgraph outer refs).
std::unordered_map<std::string, std::vector<int>> build_consumers(const Graph& g);
// Value name -> index of the node producing it.
std::unordered_map<std::string, int> build_producers(const Graph& g);
bool is_graph_output(const Graph& g, const std::string& value);
// Constant value of `name` if it is an initializer (nullptr otherwise).
const Tensor* initializer_of(const Graph& g, const std::string& name);
// Renames every read of `from` to `to` (node inputs, graph outputs are NOT touched).
void replace_uses(Graph& g, const std::string& from, const std::string& to);
// A value/initializer name not yet used in the graph, derived from `base`.
std::string unique_value_name(const Graph& g, const std::string& base);
// Removes nodes whose index is marked in `dead` (vector<bool> sized like g.nodes) and renumbers.
void erase_nodes(Graph& g, const std::vector<bool>& dead);
// Drops initializers no node, subgraph or graph output reads.
void drop_unused_initializers(Graph& g);

}  // namespace ferry
