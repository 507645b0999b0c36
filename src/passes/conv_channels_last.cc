// conv_channels_last.cc — runs 2-D conv chains in NHWC ("channels last"), the layout oneDNN's fast AVX-512
// kernels use natively, so activations are not reordered around every conv (measured on the zoo: reorders cost
// 2-4x the depthwise convs themselves).
//
// 1. Every float32 2-D Conv / ferry.FusedConv becomes FusedConv(channels_last=1) between two Transposes:
//      y = Transpose[0,3,1,2](FusedConv_cl(Transpose[0,2,3,1](x), W, B, Transpose[0,2,3,1](z)))
// 2. NCHW-making Transposes ("to_nchw", perm [0,3,1,2]) are pushed down through layout-agnostic ops:
//      unary elementwise ops, Add/Mul/Sub/Div of two to_nchw values (or a scalar constant),
//      GlobalAveragePool (-> ReduceMean over axes [1,2]) and Concat (axis remapped).
// 3. to_nchw followed by to_nhwc cancels; Transposes nobody reads are removed.
// What is left are Transposes at the borders of conv regions (the image input, Flatten before the classifier).
#include <algorithm>
#include <memory>
#include <unordered_set>

#include "passes/graph_edit.h"
#include "passes/layout_util.h"
#include "passes/conv_fusions.h"

namespace ferry {

namespace {

bool convertible_conv(const Graph& g, const Node& n) {
  const bool fused = n.op_type == "FusedConv" && n.domain == "ferry";
  if (!fused && (n.op_type != "Conv" || !n.domain.empty())) return false;
  if (fused && n.attr_int("channels_last", 0) != 0) return false;
  if (n.inputs.size() < 2 || !n.has_input(0)) return false;
  const Tensor* w = initializer_of(g, n.inputs[1]);
  if (!w || w->dtype() != DType::kFloat || w->rank() != 4) return false;
  const ValueType* x = g.type_of(n.inputs[0]);
  return x && x->dtype == DType::kFloat && x->shape.rank_known && x->shape.rank() == 4;
}

// True when some reader of `value` does not list it among its inputs (a subgraph's outer reference).
bool read_by_subgraph(std::unordered_map<std::string, std::vector<int>>& consumers, const Graph& g,
                      const std::string& value) {
  for (int c : consumers[value]) {
    const auto& in = g.nodes[static_cast<size_t>(c)].inputs;
    if (std::find(in.begin(), in.end(), value) == in.end()) return true;
  }
  return false;
}

const std::unordered_set<std::string>& unary_ops() {
  static const std::unordered_set<std::string> ops{"Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSwish",
                                                    "HardSigmoid", "Clip", "Neg", "Abs", "Exp", "Sqrt", "Elu",
                                                    "Softplus", "Erf", "Identity"};
  return ops;
}

class ConvChannelsLast : public Pass {
 public:
  std::string name() const override { return "conv_channels_last"; }

  Expected<bool> run(Model& model) override {
    Graph& g = model.graph;
    bool changed = false;
    ValueNamer names(g);  // one used-name set for the whole pass (a fresh one per name was O(N^2))
    // 1. wrap convs.
    const size_t n0 = g.nodes.size();
    for (size_t i = 0; i < n0; ++i) {
      if (!convertible_conv(g, g.nodes[i])) continue;
      std::vector<Node> added;
      Node& c = g.nodes[i];
      for (size_t k : {size_t{0}, size_t{3}}) {
        if (!c.has_input(k)) continue;
        std::string t = names.make(c.inputs[k] + "_nhwc");
        added.push_back(make_transpose(c.inputs[k], t, kToNhwc, "_transpose"));
        c.inputs[k] = t;
        reserve(g, t);  // the name is taken before the node that produces it is in the graph
      }
      std::string y = names.make(c.outputs[0] + "_nhwc");
      reserve(g, y);
      added.push_back(make_transpose(y, c.outputs[0], kToNchw, "_transpose"));
      c.outputs[0] = y;
      if (c.op_type == "Conv") {
        c.op_type = "FusedConv";
        c.domain = "ferry";
        c.opset = 1;
      }
      Attr cl;
      cl.kind = Attr::Kind::kInt;
      cl.i = 1;
      c.attrs["channels_last"] = cl;
      for (auto& a : added) g.nodes.push_back(std::move(a));
      changed = true;
    }
    if (changed) g.invalidate_index();
    // 2./3. push and cancel until nothing moves; 4. a conv still fed by a to_nhwc Transpose reads the NCHW
    // value itself (channels_last=2: oneDNN's reorder inside the conv beats a separate Transpose), then the
    // orphaned Transposes go.
    for (int guard = 0; guard < 100000; ++guard) {
      if (!push_sweep(g, names) && !read_nchw_directly(g)) break;
      changed = true;
    }
    if (changed) {
      for (const auto& r : reserved_) g.value_info.erase(r);  // inference types them afresh
      reserved_.clear();
      FERRY_RETURN_IF_ERROR(g.topo_sort());
    }
    return changed;
  }

 private:
  std::vector<std::string> reserved_;
  void reserve(Graph& g, const std::string& name) {
    g.value_info[name] = {};
    reserved_.push_back(name);
  }

  // Every conv fed by a to_nhwc Transpose reads that Transpose's input instead (each rewrite touches one conv's
  // input only, so one sweep does them all).
  bool read_nchw_directly(Graph& g) {
    auto producers = build_producers(g);
    bool changed = false;
    for (Node& n : g.nodes) {
      if (n.op_type != "FusedConv" || n.domain != "ferry" || n.attr_int("channels_last", 0) != 1) continue;
      auto p = producers.find(n.inputs[0]);
      if (p == producers.end()) continue;
      const Node& t = g.nodes[static_cast<size_t>(p->second)];
      if (!is_transpose(t, kToNhwc)) continue;
      n.inputs[0] = t.inputs[0];
      n.attrs["channels_last"].i = 2;
      changed = true;
    }
    if (changed) g.invalidate_index();
    return changed;
  }

  // One sweep of rewrites over the nodes present at its start, with the producer/consumer maps built once.
  // A rewrite marks every value whose producer or readers it changes as dirty; later nodes touching a dirty
  // value wait for the next sweep (their decision could rest on stale maps). Erasures are applied at the end,
  // so indexes stay valid during the sweep. Returns whether anything changed.
  bool push_sweep(Graph& g, ValueNamer& names) {
    auto producers = build_producers(g);
    auto consumers = build_consumers(g);
    std::unordered_set<std::string> dirty;
    std::vector<bool> dead(g.nodes.size(), false);
    bool changed = false;
    auto to_nchw_of = [&](const std::string& v) -> const Node* {
      auto p = producers.find(v);
      if (p == producers.end() || dead[static_cast<size_t>(p->second)]) return nullptr;
      const Node& n = g.nodes[static_cast<size_t>(p->second)];
      return is_transpose(n, kToNchw) ? &n : nullptr;
    };
    auto touches_dirty = [&](const Node& n) {
      for (const auto& v : n.inputs)
        if (dirty.count(v)) return true;
      for (const auto& v : n.outputs)
        if (dirty.count(v)) return true;
      return false;
    };
    const size_t count = g.nodes.size();
    for (size_t i = 0; i < count; ++i) {
      if (dead[i] || touches_dirty(g.nodes[i])) continue;
      Node& n = g.nodes[i];
      // dead transposes
      if (n.op_type == "Transpose" && n.domain.empty() && !is_graph_output(g, n.outputs[0]) &&
          consumers[n.outputs[0]].empty()) {
        dead[i] = true;
        dirty.insert(n.inputs.begin(), n.inputs.end());
        changed = true;
        continue;
      }
      if (is_transpose(n, kToNhwc)) {  // cancel to_nhwc(to_nchw(a)) -> a
        const Node* t = to_nchw_of(n.inputs[0]);
        if (!t || is_graph_output(g, n.outputs[0]) || read_by_subgraph(consumers, g, n.outputs[0])) continue;
        const std::string from = n.outputs[0], to = t->inputs[0];
        for (int c : consumers[from])
          for (auto& in : g.nodes[static_cast<size_t>(c)].inputs)
            if (in == from) in = to;
        dead[i] = true;
        dirty.insert({from, to, n.inputs[0]});
        changed = true;
        continue;
      }
      if (!n.domain.empty() || n.outputs.size() != 1 || !n.has_output(0)) continue;
      if (is_graph_output(g, n.outputs[0]) && n.op_type == "Identity") continue;
      std::vector<std::string> before = n.inputs;
      if (try_push(g, i, names, to_nchw_of)) {
        // g.nodes may have grown: re-read node i by index.
        const Node& m = g.nodes[i];
        dirty.insert(before.begin(), before.end());
        dirty.insert(m.inputs.begin(), m.inputs.end());
        dirty.insert(m.outputs.begin(), m.outputs.end());
        dirty.insert(g.nodes.back().outputs.begin(), g.nodes.back().outputs.end());
        changed = true;
      }
    }
    if (changed) {
      dead.resize(g.nodes.size(), false);
      erase_nodes(g, dead);  // also invalidates the graph's index
    }
    return changed;
  }

  template <typename F>
  bool try_push(Graph& g, size_t i, ValueNamer& names, const F& to_nchw_of) {
    Node& n = g.nodes[i];
    std::vector<std::string> new_inputs = n.inputs;
    std::string op = n.op_type;
    if (unary_ops().count(op)) {
      const Node* t = n.has_input(0) ? to_nchw_of(n.inputs[0]) : nullptr;
      if (!t) return false;
      for (size_t k = 1; k < n.inputs.size(); ++k)  // Clip min/max: scalars only
        if (n.has_input(k) && (!initializer_of(g, n.inputs[k]) || initializer_of(g, n.inputs[k])->numel() != 1))
          return false;
      new_inputs[0] = t->inputs[0];
    } else if (op == "Add" || op == "Mul" || op == "Sub" || op == "Div") {
      if (n.inputs.size() != 2) return false;
      int moved = 0;
      for (size_t k = 0; k < 2; ++k) {
        if (const Node* t = to_nchw_of(n.inputs[k])) {
          new_inputs[k] = t->inputs[0];
          ++moved;
        } else {
          const Tensor* c = initializer_of(g, n.inputs[k]);
          if (!c || c->numel() != 1) return false;
        }
      }
      if (moved == 0) return false;
      // A rank-4 to_nchw operand against a scalar broadcasts the same in either layout; two to_nchw operands
      // broadcast the same too (both permuted identically).
    } else if (op == "GlobalAveragePool") {
      const Node* t = to_nchw_of(n.inputs[0]);
      if (!t) return false;
      new_inputs[0] = t->inputs[0];
      n.op_type = "ReduceMean";
      n.opset = 13;
      n.attrs.clear();
      Attr axes;
      axes.kind = Attr::Kind::kInts;
      axes.ints = {1, 2};
      n.attrs["axes"] = axes;
      Attr keep;
      keep.kind = Attr::Kind::kInt;
      keep.i = 1;
      n.attrs["keepdims"] = keep;
    } else if (op == "Concat") {
      if (n.inputs.empty()) return false;
      for (size_t k = 0; k < n.inputs.size(); ++k) {
        const Node* t = to_nchw_of(n.inputs[k]);
        if (!t) return false;
        new_inputs[k] = t->inputs[0];
      }
      int64_t axis = n.attr_int("axis", 0);
      if (axis < 0) axis += 4;
      if (axis < 0 || axis > 3) return false;
      static const int64_t kNhwcPos[4] = {0, 3, 1, 2};  // where NCHW axis a sits in NHWC
      n.attrs["axis"].kind = Attr::Kind::kInt;
      n.attrs["axis"].i = kNhwcPos[axis];
    } else {
      return false;
    }
    std::string y = names.make(n.outputs[0] + "_nhwc");
    reserve(g, y);
    const std::string orig = n.outputs[0];
    n.inputs = new_inputs;
    n.outputs[0] = y;
    g.nodes.push_back(make_transpose(y, orig, kToNchw, "_transpose"));
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> make_conv_channels_last() { return std::make_unique<ConvChannelsLast>(); }

}  // namespace ferry
