#include "passes/graph_edit.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "ops/op_registry.h"

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
  g.invalidate_index();
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

ValueNamer::ValueNamer(const Graph& g) {
  used_.reserve(g.initializers.size() + g.inputs.size() + g.nodes.size() * 2);
  for (const auto& [k, v] : g.initializers) used_.insert(k);
  for (const auto& in : g.inputs) used_.insert(in);
  for (const Node& n : g.nodes)
    for (const auto& o : n.outputs) used_.insert(o);
}

std::string ValueNamer::make(const std::string& base) {
  if (used_.insert(base).second) return base;
  for (int i = 1;; ++i) {
    std::string s = base + "_" + std::to_string(i);
    if (used_.insert(s).second) return s;
  }
}

void erase_nodes(Graph& g, const std::vector<bool>& dead) {
  std::vector<Node> kept;
  kept.reserve(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (!dead[i]) kept.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(kept);
  for (size_t i = 0; i < g.nodes.size(); ++i) g.nodes[i].index = static_cast<int>(i);
  g.invalidate_index();
}

void drop_unused_initializers(Graph& g) {
  g.invalidate_index();  // callers may have rewired node inputs by hand just before
  const auto& consumers = g.index().consumers;
  for (auto it = g.initializers.begin(); it != g.initializers.end();) {
    if (!consumers.count(it->first) && !is_graph_output(g, it->first)) {
      g.value_info.erase(it->first);
      it = g.initializers.erase(it);
    } else {
      ++it;
    }
  }
}

bool read_by_subgraph(const Graph& g, const std::string& value) { return g.index().subgraph_reads.count(value) > 0; }

void add_initializer(Graph& g, const std::string& name, Tensor t) {
  g.value_info[name] = {t.dtype(), SymShape::from_shape(t.shape())};
  g.initializers[name] = std::move(t);
}

void erase_node(Graph& g, size_t node_index) {
  std::vector<bool> dead(g.nodes.size(), false);
  dead[node_index] = true;
  erase_nodes(g, dead);
}

bool bypass_node(Graph& g, size_t node_index, const std::string& in, const std::string& out) {
  if (in.empty() || out.empty() || read_by_subgraph(g, out)) return false;
  if (!is_graph_output(g, out)) {
    replace_uses(g, out, in);
    erase_node(g, node_index);
    return true;
  }
  // `out` must keep its name: make the producer of `in` write `out` directly.
  if (is_graph_output(g, in) || read_by_subgraph(g, in) || g.initializers.count(in)) return false;
  const auto& producers = g.index().producer;
  auto p = producers.find(in);
  if (p == producers.end()) return false;
  Node& producer = g.nodes[static_cast<size_t>(p->second)];
  g.invalidate_index();
  for (auto& o : producer.outputs)
    if (o == in) o = out;
  replace_uses(g, in, out);
  erase_node(g, node_index);
  return true;
}

std::optional<std::vector<int64_t>> constant_ints(const Graph& g, const std::string& name) {
  const Tensor* t = initializer_of(g, name);
  if (!t || (t->dtype() != DType::kInt64 && t->dtype() != DType::kInt32)) return std::nullopt;
  return tensor_to_int64s(*t);
}

bool same_static_shape(const SymShape& a, const SymShape& b) {
  if (!a.rank_known || !b.rank_known || a.dims.size() != b.dims.size()) return false;
  for (size_t i = 0; i < a.dims.size(); ++i) {
    const Dim &x = a.dims[i], &y = b.dims[i];
    if (x.known() || y.known()) {
      if (x.value != y.value) return false;
    } else if (x.symbol.empty() || x.symbol != y.symbol) {
      return false;
    }
  }
  return true;
}

int use_count(const Graph& g, const std::string& value) {
  const auto& consumers = g.index().consumers;
  auto it = consumers.find(value);
  int n = it == consumers.end() ? 0 : static_cast<int>(it->second.size());
  return n + (is_graph_output(g, value) ? 1 : 0);
}

int fusable_producer(const Graph& g, const std::string& value) {
  if (value.empty() || use_count(g, value) != 1 || read_by_subgraph(g, value)) return -1;
  const auto& producers = g.index().producer;
  auto p = producers.find(value);
  return p == producers.end() ? -1 : p->second;
}

std::optional<BatchNormFold> batchnorm_fold(const Graph& g, const Node& bn, int64_t channels) {
  if (bn.op_type != "BatchNormalization" || !bn.domain.empty() || bn.inputs.size() != 5) return std::nullopt;
  if (bn.attr_int("training_mode", 0) != 0 || bn.attr_int("is_test", 1) == 0) return std::nullopt;
  for (size_t k = 1; k < bn.outputs.size(); ++k)
    if (!bn.outputs[k].empty() && use_count(g, bn.outputs[k]) > 0) return std::nullopt;
  const Tensor* p[4];
  for (int k = 0; k < 4; ++k) {
    p[k] = initializer_of(g, bn.inputs[static_cast<size_t>(k) + 1]);
    if (!p[k] || p[k]->dtype() != DType::kFloat || p[k]->numel() != channels) return std::nullopt;
  }
  const double eps = bn.attr_float("epsilon", 1e-5f);
  BatchNormFold f;
  for (int64_t c = 0; c < channels; ++c) {
    double var = p[3]->data<float>()[c];
    if (var + eps <= 0) return std::nullopt;
    double s = p[0]->data<float>()[c] / std::sqrt(var + eps);
    f.scale.push_back(s);
    f.shift.push_back(p[1]->data<float>()[c] - p[2]->data<float>()[c] * s);
  }
  return f;
}

}  // namespace ferry
