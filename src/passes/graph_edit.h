// graph_edit.h — helpers passes use to query and rewrite a Graph safely.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
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
// unique_value_name for passes that create many names: the used-name set is built once, not per call.
// Every name it returns counts as used from then on.
class ValueNamer {
 public:
  explicit ValueNamer(const Graph& g);
  std::string make(const std::string& base);

 private:
  std::unordered_set<std::string> used_;
};
// Removes nodes whose index is marked in `dead` (vector<bool> sized like g.nodes) and renumbers.
void erase_nodes(Graph& g, const std::vector<bool>& dead);
// Drops initializers no node, subgraph or graph output reads.
void drop_unused_initializers(Graph& g);

// True when a subgraph (If/Loop/Scan body) of some node reads `value` from the enclosing scope.
bool read_by_subgraph(const Graph& g, const std::string& value);
// Removes node `node_index`, whose output `out` equals its input `in` (Identity-like), rewiring readers of
// `out` to `in`. When `out` is a graph output the producer of `in` is renamed to produce `out` instead.
// Returns false (graph untouched) when that is impossible: `out` read by a subgraph, or `out` a graph output
// while `in` is a graph input/initializer/graph output or read by a subgraph.
bool bypass_node(Graph& g, size_t node_index, const std::string& in, const std::string& out);
// Adds (or replaces) initializer `name` and records its type in value_info.
void add_initializer(Graph& g, const std::string& name, Tensor t);
// Erases one node (indexes renumbered).
void erase_node(Graph& g, size_t node_index);
// Integer values of initializer `name` (int32/int64), or nullopt when it is not a constant integer tensor.
std::optional<std::vector<int64_t>> constant_ints(const Graph& g, const std::string& name);
// True when both shapes are fully known or symbolically equal dim by dim (same known value or same symbol).
bool same_static_shape(const SymShape& a, const SymShape& b);
// Number of nodes reading `value` (node inputs and subgraphs) plus one if it is a graph output.
int use_count(const Graph& g, const std::string& value);

// Index of the node producing `value` when `value` has exactly one reader and is not a graph output (the
// precondition of every producer/consumer fusion), else -1.
int fusable_producer(const Graph& g, const std::string& value);

// An inference BatchNormalization as y = x * scale[c] + shift[c] (double precision), from float initializers
// with `channels` elements each; nullopt when `bn` is not foldable (non-constant params, training mode, a used
// mean/var output, wrong sizes).
struct BatchNormFold {
  std::vector<double> scale, shift;
};
std::optional<BatchNormFold> batchnorm_fold(const Graph& g, const Node& bn, int64_t channels);

}  // namespace ferry
