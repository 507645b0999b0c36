// fuse_qdq_layout.cc — runs ferry.QConv chains channels-last (NHWC), the layout of oneDNN's fast int8 kernels.
//
// 1. Every QConv(channels_last=0) becomes QConv(channels_last=1) between Transposes:
//      y = to_nchw(QConv_cl(to_nhwc(x), ..., to_nhwc(z)))
// 2. to_nchw Transposes are pushed down through per-element ops of a QDQ graph: Relu, Clip (scalar bounds),
//    QuantizeLinear / DequantizeLinear with scalar scale and zero point, and Add of two to_nchw values (or of one
//    and a scalar constant) — each then runs on the NHWC value, which is the same computation permuted.
// 3. to_nhwc(to_nchw(a)) cancels to a; Transposes nobody reads go.
// 4. A to_nhwc Transpose read only as X by QConvs goes: they read the NCHW value with x_nchw=1 (their kernel
//    reorders it, far cheaper than the generic Transpose kernel on the 3-channel image).
// What remains are Transposes at the borders of QConv regions (pooling, the classifier), so int8 activations
// pass from one QConv to the next directly. A value never changes layout under its name:
// pushing renames the op's output (<name>_nhwc) and a to_nchw Transpose re-creates the original value.
#include <algorithm>
#include <map>
#include <memory>

#include "passes/graph_edit.h"
#include "passes/layout_util.h"
#include "passes/qdq_fusions.h"

namespace ferry {

namespace {

bool scalar_constant(const Graph& g, const std::string& v) {
  const Tensor* t = initializer_of(g, v);
  return t && t->numel() == 1;
}

// Ops that compute the same thing on a permuted tensor: every input other than input 0 a scalar constant.
bool pointwise_unary(const Graph& g, const Node& n) {
  if (!n.domain.empty() || n.outputs.size() != 1 || !n.has_input(0)) return false;
  if (n.op_type != "Relu" && n.op_type != "Clip" && n.op_type != "QuantizeLinear" &&
      n.op_type != "DequantizeLinear")
    return false;
  for (size_t k = 1; k < n.inputs.size(); ++k)
    if (n.has_input(k) && !scalar_constant(g, n.inputs[k])) return false;
  return true;
}

// True when a reader of `value` does not list it among its inputs (a subgraph's outer reference). Uses the
// consumers map built for this scan (nodes are edited by hand here, so no cached graph index is read).
bool read_by_subgraph_of(const Graph& g, std::unordered_map<std::string, std::vector<int>>& consumers,
                         const std::string& value) {
  for (int c : consumers[value]) {
    const auto& in = g.nodes[static_cast<size_t>(c)].inputs;
    if (std::find(in.begin(), in.end(), value) == in.end()) return true;
  }
  return false;
}

class FuseQdqLayout : public Pass {
 public:
  std::string name() const override { return "fuse_qdq_layout"; }

  Expected<bool> run(Model& model) override {
    Graph& g = model.graph;
    bool changed = wrap_qconvs(g);
    if (!changed) return false;  // pushing only ever follows a wrap: nothing new to move otherwise
    for (int guard = 0; guard < 100000 && push_once(g); ++guard) {
    }
    while (entry_into_qconv(g)) {
    }
    for (const auto& r : reserved_) g.value_info.erase(r);  // inference types them afresh
    reserved_.clear();
    FERRY_RETURN_IF_ERROR(g.topo_sort());
    return true;
  }

 private:
  std::vector<std::string> reserved_;

  std::string fresh(Graph& g, const std::string& base) {
    std::string name = unique_value_name(g, base);
    g.value_info[name] = {};  // taken before its producer is in the graph
    reserved_.push_back(name);
    return name;
  }

  bool wrap_qconvs(Graph& g) {
    bool changed = false;
    const size_t n0 = g.nodes.size();
    std::map<std::string, std::string> nhwc_of;  // one to_nhwc per value, shared by the QConvs reading it
    for (size_t i = 0; i < n0; ++i) {
      if (g.nodes[i].op_type != "QConv" || g.nodes[i].domain != "ferry" ||
          g.nodes[i].attr_int("channels_last", 0) != 0)
        continue;
      std::vector<Node> added;
      for (size_t k : {size_t{0}, size_t{8}}) {
        if (!g.nodes[i].has_input(k)) continue;
        const std::string v = g.nodes[i].inputs[k];
        if (!nhwc_of.count(v)) {
          nhwc_of[v] = fresh(g, v + "_nhwc");
          added.push_back(make_transpose(v, nhwc_of[v], kToNhwc, "_t"));
        }
        g.nodes[i].inputs[k] = nhwc_of[v];
      }
      std::string y = fresh(g, g.nodes[i].outputs[0] + "_nhwc");
      added.push_back(make_transpose(y, g.nodes[i].outputs[0], kToNchw, "_t"));
      g.nodes[i].outputs[0] = y;
      Attr cl;
      cl.kind = Attr::Kind::kInt;
      cl.i = 1;
      g.nodes[i].attrs["channels_last"] = cl;
      for (auto& a : added) g.nodes.push_back(std::move(a));
      changed = true;
    }
    return changed;
  }

  // Step 4 for the first to_nhwc Transpose that qualifies; false when none does.
  bool entry_into_qconv(Graph& g) {
    auto consumers = build_consumers(g);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& t = g.nodes[i];
      if (!is_transpose(t, kToNhwc) || !t.has_output(0) || is_graph_output(g, t.outputs[0])) continue;
      const std::string& y = t.outputs[0];
      const auto& readers = consumers[y];
      bool ok = !readers.empty();
      for (int c : readers) {
        const Node& r = g.nodes[static_cast<size_t>(c)];
        ok = ok && r.op_type == "QConv" && r.domain == "ferry" && r.attr_int("channels_last", 0) == 1 &&
             r.attr_int("x_nchw", 0) == 0 && !r.inputs.empty() && r.inputs[0] == y &&
             std::count(r.inputs.begin(), r.inputs.end(), y) == 1;
      }
      if (!ok) continue;
      Attr xn;
      xn.kind = Attr::Kind::kInt;
      xn.i = 1;
      for (int c : readers) {
        Node& r = g.nodes[static_cast<size_t>(c)];
        r.inputs[0] = t.inputs[0];
        r.attrs["x_nchw"] = xn;
      }
      erase_node(g, i);
      return true;
    }
    return false;
  }

  // One rewrite (the first found); false when none applies.
  bool push_once(Graph& g) {
    auto producers = build_producers(g);
    auto consumers = build_consumers(g);
    auto to_nchw_of = [&](const std::string& v) -> const Node* {
      auto p = producers.find(v);
      if (p == producers.end()) return nullptr;
      const Node& n = g.nodes[static_cast<size_t>(p->second)];
      return is_transpose(n, kToNchw) ? &n : nullptr;
    };
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      Node& n = g.nodes[i];
      if (n.op_type == "Transpose" && n.domain.empty() && n.has_output(0) && !is_graph_output(g, n.outputs[0]) &&
          consumers[n.outputs[0]].empty()) {
        erase_node(g, i);
        return true;
      }
      if (is_transpose(n, kToNhwc)) {
        const Node* t = to_nchw_of(n.inputs[0]);
        if (!t || is_graph_output(g, n.outputs[0]) || read_by_subgraph_of(g, consumers, n.outputs[0])) continue;
        replace_uses(g, n.outputs[0], t->inputs[0]);
        erase_node(g, i);
        return true;
      }
      if (!n.has_output(0) || n.outputs.size() != 1) continue;
      std::vector<std::string> in = n.inputs;
      if (pointwise_unary(g, n)) {
        const Node* t = to_nchw_of(n.inputs[0]);
        if (!t) continue;
        in[0] = t->inputs[0];
      } else if (n.op_type == "Add" && n.domain.empty() && n.inputs.size() == 2) {
        int moved = 0;
        bool ok = true;
        for (size_t k = 0; k < 2; ++k) {
          if (const Node* t = to_nchw_of(n.inputs[k])) {
            in[k] = t->inputs[0];
            ++moved;
          } else if (!scalar_constant(g, n.inputs[k])) {
            ok = false;
          }
        }
        if (!ok || moved == 0) continue;
      } else {
        continue;
      }
      const std::string orig = n.outputs[0];
      std::string y = fresh(g, orig + "_nhwc");
      g.nodes[i].inputs = in;
      g.nodes[i].outputs[0] = y;
      g.nodes.push_back(make_transpose(y, orig, kToNchw, "_t"));
      return true;
    }
    return false;
  }
};

}  // namespace

std::unique_ptr<Pass> make_fuse_qdq_layout() { return std::make_unique<FuseQdqLayout>(); }

}  // namespace ferry
