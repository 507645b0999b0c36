#include "ir/graph.h"

namespace ferry {

SymShape SymShape::from_shape(const Shape& s) {
  SymShape out;
  out.rank_known = true;
  for (int64_t d : s) out.dims.emplace_back(d);
  return out;
}

bool SymShape::is_concrete() const {
  if (!rank_known) return false;
  for (const Dim& d : dims)
    if (!d.known()) return false;
  return true;
}

Shape SymShape::to_shape() const {
  Shape s;
  for (const Dim& d : dims) s.push_back(d.value);
  return s;
}

std::string SymShape::to_string() const {
  if (!rank_known) return "?";
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) out += ",";
    if (dims[i].known()) out += std::to_string(dims[i].value);
    else if (!dims[i].symbol.empty()) out += dims[i].symbol;
    else out += "?";
  }
  return out + "]";
}

const char* attr_kind_name(Attr::Kind k) {
  switch (k) {
    case Attr::Kind::kFloat: return "float";
    case Attr::Kind::kInt: return "int";
    case Attr::Kind::kString: return "string";
    case Attr::Kind::kTensor: return "tensor";
    case Attr::Kind::kGraph: return "graph";
    case Attr::Kind::kFloats: return "floats";
    case Attr::Kind::kInts: return "ints";
    case Attr::Kind::kStrings: return "strings";
    case Attr::Kind::kTensors: return "tensors";
    case Attr::Kind::kGraphs: return "graphs";
    case Attr::Kind::kTypeProto: return "type_proto";
  }
  return "?";
}

Node Node::make(std::string op_type, std::vector<std::string> inputs, std::vector<std::string> outputs) {
  Node n;
  n.op_type = std::move(op_type);
  n.inputs = std::move(inputs);
  n.outputs = std::move(outputs);
  return n;
}

std::string Node::display_name() const {
  std::string who = name.empty() ? "#" + std::to_string(index) : "'" + name + "'";
  return who + " (" + (domain.empty() ? "" : domain + ".") + op_type + ")";
}

const Attr* Node::attr(const std::string& key) const {
  auto it = attrs.find(key);
  return it == attrs.end() ? nullptr : &it->second;
}

int64_t Node::attr_int(const std::string& key, int64_t def) const {
  const Attr* a = attr(key);
  if (!a) return def;
  if (a->kind == Attr::Kind::kFloat) return static_cast<int64_t>(a->f);
  return a->i;
}

float Node::attr_float(const std::string& key, float def) const {
  const Attr* a = attr(key);
  if (!a) return def;
  if (a->kind == Attr::Kind::kInt) return static_cast<float>(a->i);
  return a->f;
}

std::string Node::attr_string(const std::string& key, const std::string& def) const {
  const Attr* a = attr(key);
  return a ? a->s : def;
}

std::vector<int64_t> Node::attr_ints(const std::string& key, std::vector<int64_t> def) const {
  const Attr* a = attr(key);
  if (!a) return def;
  if (a->kind == Attr::Kind::kInt) return {a->i};
  return a->ints;
}

std::vector<float> Node::attr_floats(const std::string& key, std::vector<float> def) const {
  const Attr* a = attr(key);
  if (!a) return def;
  if (a->kind == Attr::Kind::kFloat) return {a->f};
  return a->floats;
}

std::vector<std::string> Node::attr_strings(const std::string& key, std::vector<std::string> def) const {
  const Attr* a = attr(key);
  return a ? a->strings : def;
}

const Tensor* Node::attr_tensor(const std::string& key) const {
  const Attr* a = attr(key);
  return a && a->kind == Attr::Kind::kTensor ? &a->t : nullptr;
}

const Graph* Node::attr_graph(const std::string& key) const {
  const Attr* a = attr(key);
  return a && a->kind == Attr::Kind::kGraph ? a->g.get() : nullptr;
}

const GraphIndex& Graph::index() const {
  if (index_) return *index_;
  auto idx = std::make_shared<GraphIndex>();
  size_t values = 0;
  for (const Node& n : nodes) values += n.outputs.size();
  idx->producer.reserve(values);
  idx->consumers.reserve(values + initializers.size() + inputs.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& n = nodes[i];
    const int at = static_cast<int>(i);
    for (const auto& o : n.outputs)
      if (!o.empty()) idx->producer[o] = at;
    auto read = [&](const std::string& v) {
      if (v.empty()) return;
      std::vector<int>& c = idx->consumers[v];
      if (c.empty() || c.back() != at) c.push_back(at);  // a node reading a value twice counts once
    };
    for (const auto& in : n.inputs) read(in);
    for (const auto& [key, a] : n.attrs) {
      std::vector<const Graph*> subs;
      if (a.g) subs.push_back(a.g.get());
      for (const auto& sg : a.graphs) subs.push_back(sg.get());
      for (const Graph* sg : subs)
        for (const auto& r : sg->outer_refs) {
          read(r);
          idx->subgraph_reads.insert(r);
        }
    }
  }
  index_ = std::move(idx);
  return *index_;
}

const ValueType* Graph::type_of(const std::string& value) const {
  auto it = value_info.find(value);
  return it == value_info.end() ? nullptr : &it->second;
}

}  // namespace ferry
