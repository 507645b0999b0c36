// fusion_util.h — pattern-matching helpers shared by the transformer fusion passes (fuse_*.cc).
//
// A FusionView looks up who produces and who reads every value of the top-level graph (the graph's cached
// GraphIndex: constructing one is free while the graph is unchanged; it must not outlive an edit), so a pass can walk a
// pattern backwards from its anchor node and check that every intermediate it will delete has exactly one
// reader and is not a graph output. Constants are seen through Identity nodes and Constant nodes, as torch
// exports both (weights behind Identity, scalars as Constant).
//
//   FusionView v(model.graph);
//   const Node* mul = v.producer(n.inputs[0], "Mul");       // nullptr unless a Mul produces it
//   if (!mul || !v.single_use(mul->outputs[0])) return false;
//   std::optional<float> c = v.scalar(mul->inputs[1]);       // 0.5f for Constant(0.5)
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/graph.h"

namespace ferry {

class FusionView {
 public:
  explicit FusionView(const Graph& g);
  const Graph& graph() const { return g_; }
  // The node producing `value` when its op_type is `op` (domain "" unless given), else nullptr.
  const Node* producer(const std::string& value, const std::string& op, const std::string& domain = "") const;
  // Nodes reading `value`.
  std::vector<const Node*> consumers(const std::string& value) const;
  // True when exactly one node reads `value` and it is not a graph output (safe to fold away).
  bool single_use(const std::string& value) const;
  // The constant tensor behind `value` (initializer, Constant node, or Identity chains of those), else nullptr.
  // When it is an initializer, *init_name (if given) receives the initializer's name.
  const Tensor* constant(const std::string& value, std::string* init_name = nullptr) const;
  // A one-element float/double constant's value.
  std::optional<float> scalar(const std::string& value) const;
  // Declared/inferred rank of `value`, -1 when unknown.
  int rank(const std::string& value) const;

 private:
  const Graph& g_;
  std::shared_ptr<const GraphIndex> index_;  // g_.index(): cached, not copied
  const std::unordered_map<std::string, int>& producers_;
  const std::unordered_map<std::string, std::vector<int>>& consumers_;
};

// The other input of a binary node whose input `known` is one of its two inputs ("" when neither matches).
std::string other_input(const Node& n, const std::string& known);
// True for a float constant whose value is `v` at every element (within 1e-6 relative).
bool is_constant_value(const FusionView& v, const std::string& value, float expected);
// Marks the nodes named by pointer as dead, erases them, and inserts `fused` where `anchor` was (its inputs are
// all produced before the pattern's first node, and its outputs replace the anchor's, so order stays valid).
void replace_pattern(Graph& g, const std::vector<const Node*>& remove, const Node* anchor, Node fused);

}  // namespace ferry
