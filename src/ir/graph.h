// graph.h — ferry's intermediate representation: Model, Graph, Node, Attr and symbolic shapes.
//
// The IR knows nothing of protobuf or backends (onnx_import.cc is the only translator from ONNX). Values are
// named by strings, as in ONNX: a node's inputs/outputs list value names, "" marks an omitted optional input
// or output. A Graph owns its nodes (kept in topological order by topo_sort()), its initializers (constant
// tensors), the declared types of its inputs/outputs/intermediates, and, for subgraphs of If/Loop/Scan, the
// names it reads from enclosing scopes (outer_refs).
//
//   ferry::Graph g;
//   g.inputs = {"x"};
//   g.value_info["x"] = {DType::kFloat, SymShape::from_dims({Dim::symbolic("N"), Dim(3)})};
//   g.nodes.push_back(Node::make("Relu", {"x"}, {"y"}));
//   g.outputs = {"y"};
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ferry/status.h"
#include "ferry/tensor.h"

namespace ferry {

// One dimension: a known size (value >= 0), a named symbol ("N", "batch"), or unknown (value < 0, no symbol).
struct Dim {
  int64_t value = -1;
  std::string symbol;
  Dim() = default;
  Dim(int64_t v) : value(v) {}  // NOLINT: implicit from a size
  static Dim symbolic(std::string s) { Dim d; d.symbol = std::move(s); return d; }
  bool known() const { return value >= 0; }
  bool operator==(const Dim& o) const { return value == o.value && symbol == o.symbol; }
};

// A shape whose rank may be unknown and whose dims may be symbolic.
struct SymShape {
  bool rank_known = false;
  std::vector<Dim> dims;

  static SymShape unknown() { return {}; }
  static SymShape from_dims(std::vector<Dim> d) { return {true, std::move(d)}; }
  static SymShape from_shape(const Shape& s);
  int rank() const { return static_cast<int>(dims.size()); }  // only meaningful when rank_known
  bool is_concrete() const;                                   // rank and every dim known
  Shape to_shape() const;                                     // caller checks is_concrete()
  std::string to_string() const;                              // "[N,3,224,224]", "[?,3]", "?" (unknown rank)
};

struct ValueType {
  DType dtype = DType::kUndefined;
  SymShape shape;
};

class Graph;

// A node attribute; `kind` says which member holds the value.
struct Attr {
  enum class Kind { kFloat, kInt, kString, kTensor, kGraph, kFloats, kInts, kStrings, kTensors, kGraphs, kTypeProto };
  Kind kind = Kind::kInt;
  float f = 0;
  int64_t i = 0;
  std::string s;
  Tensor t;
  std::shared_ptr<Graph> g;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  std::vector<Tensor> tensors;
  std::vector<std::shared_ptr<Graph>> graphs;
};
const char* attr_kind_name(Attr::Kind k);

struct Node {
  std::string name;     // may be empty in ONNX files; display_name() always gives something usable
  std::string op_type;  // "Conv"
  std::string domain;   // "" (= ai.onnx), "ai.onnx.ml", "ai.onnx.preview.training", ...
  int opset = 0;        // the model's opset version for `domain`
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  std::map<std::string, Attr> attrs;

  static Node make(std::string op_type, std::vector<std::string> inputs, std::vector<std::string> outputs);
  // "'conv1' (Conv)" or "#12 (Conv)" when unnamed (index set by the graph); used in every error message.
  std::string display_name() const;
  int index = -1;  // position in Graph::nodes, maintained by Graph::topo_sort()

  bool has_input(size_t i) const { return i < inputs.size() && !inputs[i].empty(); }
  bool has_output(size_t i) const { return i < outputs.size() && !outputs[i].empty(); }
  const Attr* attr(const std::string& key) const;
  int64_t attr_int(const std::string& key, int64_t def) const;
  float attr_float(const std::string& key, float def) const;
  std::string attr_string(const std::string& key, const std::string& def) const;
  std::vector<int64_t> attr_ints(const std::string& key, std::vector<int64_t> def = {}) const;
  std::vector<float> attr_floats(const std::string& key, std::vector<float> def = {}) const;
  std::vector<std::string> attr_strings(const std::string& key, std::vector<std::string> def = {}) const;
  const Tensor* attr_tensor(const std::string& key) const;
  const Graph* attr_graph(const std::string& key) const;
};

// Who produces and who reads each value of one graph, by node index. A node's subgraphs (If/Loop/Scan bodies)
// reading a value from this scope count as reads by that node. Built by Graph::index().
struct GraphIndex {
  std::unordered_map<std::string, int> producer;                // value -> index of the node writing it
  std::unordered_map<std::string, std::vector<int>> consumers;  // value -> nodes reading it (each once, ascending)
  std::unordered_set<std::string> subgraph_reads;               // values some node's subgraph reads
};

class Graph {
 public:
  std::string name;
  std::vector<Node> nodes;
  std::vector<std::string> inputs;   // graph inputs in declaration order (initializers excluded)
  std::vector<std::string> outputs;  // graph outputs in declaration order
  std::unordered_map<std::string, ValueType> value_info;  // declared/inferred types by value name
  std::unordered_map<std::string, Tensor> initializers;
  std::vector<std::string> outer_refs;  // values read from enclosing graphs (subgraphs only)

  // Sorts nodes topologically (stable for already-sorted graphs) and renumbers Node::index.
  // Errors: a cycle (names a node on it), a value produced twice, a node input nobody produces.
  // `outer_scope` lists names visible from enclosing graphs (for subgraphs).
  Status topo_sort(const std::vector<std::string>& outer_scope = {});
  // Structural checks beyond topo_sort: graph outputs produced, names unique, subgraphs valid (recursive).
  Status verify(const std::vector<std::string>& outer_scope = {}) const;
  const ValueType* type_of(const std::string& value) const;

  // The producer/consumer index of the current nodes, built on first use and then cached, so that pattern
  // passes do not rebuild string maps for every node they look at. Whoever edits `nodes` (their inputs,
  // outputs or order) must call invalidate_index() before the next index(): topo_sort(), the graph_edit
  // helpers, RulePass (after an apply() that changed something) and the PassManager (between passes) do.
  const GraphIndex& index() const;
  std::shared_ptr<const GraphIndex> shared_index() const { index(); return index_; }  // outlives invalidation
  void invalidate_index() const { index_.reset(); }

 private:
  mutable std::shared_ptr<const GraphIndex> index_;
};

struct Model {
  Graph graph;
  std::map<std::string, int64_t> opsets;  // domain -> version ("" = ai.onnx)
  int64_t ir_version = 0;
  std::string producer_name;
  std::string producer_version;
  std::string doc_string;
  std::map<std::string, std::string> metadata;
};

}  // namespace ferry
