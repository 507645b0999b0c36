#include "passes/fusion_util.h"

#include <cmath>

#include "passes/graph_edit.h"

namespace ferry {

FusionView::FusionView(const Graph& g)
    : g_(g), index_(g.shared_index()), producers_(index_->producer), consumers_(index_->consumers) {}

const Node* FusionView::producer(const std::string& value, const std::string& op, const std::string& domain) const {
  auto it = producers_.find(value);
  if (it == producers_.end()) return nullptr;
  const Node& n = g_.nodes[static_cast<size_t>(it->second)];
  return n.op_type == op && n.domain == domain ? &n : nullptr;
}

std::vector<const Node*> FusionView::consumers(const std::string& value) const {
  std::vector<const Node*> out;
  auto it = consumers_.find(value);
  if (it != consumers_.end())
    for (int i : it->second) out.push_back(&g_.nodes[static_cast<size_t>(i)]);
  return out;
}

bool FusionView::single_use(const std::string& value) const {
  auto it = consumers_.find(value);
  return it != consumers_.end() && it->second.size() == 1 && !is_graph_output(g_, value);
}

const Tensor* FusionView::constant(const std::string& value, std::string* init_name) const {
  std::string name = value;
  for (int depth = 0; depth < 16; ++depth) {
    if (const Tensor* t = initializer_of(g_, name)) {
      if (init_name) *init_name = name;
      return t;
    }
    auto it = producers_.find(name);
    if (it == producers_.end()) return nullptr;
    const Node& n = g_.nodes[static_cast<size_t>(it->second)];
    if (!n.domain.empty()) return nullptr;
    if (n.op_type == "Constant") return n.attr_tensor("value");
    if (n.op_type != "Identity" || n.inputs.empty()) return nullptr;
    name = n.inputs[0];
  }
  return nullptr;
}

std::optional<float> FusionView::scalar(const std::string& value) const {
  const Tensor* t = constant(value);
  if (!t || t->numel() != 1) return std::nullopt;
  if (t->dtype() == DType::kFloat) return t->data<float>()[0];
  if (t->dtype() == DType::kDouble) return static_cast<float>(t->data<double>()[0]);
  return std::nullopt;
}

int FusionView::rank(const std::string& value) const {
  const ValueType* vt = g_.type_of(value);
  if (!vt) {
    if (const Tensor* t = constant(value)) return t->rank();
    return -1;
  }
  return vt->shape.rank_known ? vt->shape.rank() : -1;
}

std::string other_input(const Node& n, const std::string& known) {
  if (n.inputs.size() != 2) return "";
  if (n.inputs[0] == known) return n.inputs[1];
  if (n.inputs[1] == known) return n.inputs[0];
  return "";
}

bool is_constant_value(const FusionView& v, const std::string& value, float expected) {
  auto s = v.scalar(value);
  return s && std::fabs(*s - expected) <= 1e-6f * std::fabs(expected);
}

void replace_pattern(Graph& g, const std::vector<const Node*>& remove, const Node* anchor, Node fused) {
  std::vector<bool> dead(g.nodes.size(), false);
  size_t anchor_index = static_cast<size_t>(anchor - g.nodes.data());
  for (const Node* n : remove) {
    size_t i = static_cast<size_t>(n - g.nodes.data());
    if (i == anchor_index) continue;
    dead[i] = true;
    for (const auto& o : n->outputs) g.value_info.erase(o);
  }
  fused.index = static_cast<int>(anchor_index);
  g.nodes[anchor_index] = std::move(fused);
  erase_nodes(g, dead);
}

}  // namespace ferry
