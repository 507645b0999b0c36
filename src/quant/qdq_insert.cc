// qdq_insert.cc — rewrites a float model into standard QDQ ONNX: QuantizeLinear/DequantizeLinear pairs on the
// activations read by Conv/MatMul/Gemm, and their constant weights stored as int8 behind a DequantizeLinear.
#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "quant/quantize.h"

namespace ferry::quant {

namespace {

bool is_quantizable_op(const Node& n) {
  return n.domain.empty() && (n.op_type == "Conv" || n.op_type == "MatMul" || n.op_type == "Gemm");
}

bool is_float_value(const Graph& g, const std::string& v) {
  auto it = g.initializers.find(v);
  if (it != g.initializers.end()) return it->second.dtype() == DType::kFloat;
  const ValueType* vt = g.type_of(v);
  return !vt || vt->dtype == DType::kFloat || vt->dtype == DType::kUndefined;
}

// The weight input of a node and the output-channel axis of that weight.
bool weight_input(const Graph& g, const Node& n, std::string* name, int* axis) {
  if (!n.has_input(1)) return false;
  auto it = g.initializers.find(n.inputs[1]);
  if (it == g.initializers.end() || it->second.dtype() != DType::kFloat) return false;
  *name = n.inputs[1];
  const int rank = it->second.rank();
  if (n.op_type == "Conv") *axis = 0;
  else if (n.op_type == "Gemm") *axis = n.attr_int("transB", 0) ? 0 : 1;
  else *axis = rank - 1;
  return rank >= 1;
}

std::string fresh_name(const Graph& g, const std::unordered_set<std::string>& used, const std::string& base) {
  std::string name = base;
  for (int k = 1; used.count(name) || g.initializers.count(name); ++k) name = base + "_" + std::to_string(k);
  return name;
}

}  // namespace

std::vector<const Node*> quantizable_nodes(const Graph& g, const QuantOptions& opt) {
  std::vector<const Node*> out;
  for (const Node& n : g.nodes) {
    if (!is_quantizable_op(n) || opt.exclude.count(n.name)) continue;
    if (!n.has_input(0) || !is_float_value(g, n.inputs[0]) || !n.has_input(1) || !is_float_value(g, n.inputs[1]))
      continue;
    out.push_back(&n);
  }
  return out;
}

std::vector<std::string> activation_targets(const Graph& g, const std::vector<const Node*>& nodes) {
  std::vector<std::string> out;
  std::unordered_set<std::string> seen;
  for (const Node* n : nodes)
    for (size_t i = 0; i < 2; ++i) {
      if (i == 1 && n->op_type == "Conv") continue;
      const std::string& v = n->inputs[i];
      if (g.initializers.count(v) || !seen.insert(v).second) continue;
      out.push_back(v);
    }
  return out;
}

Expected<QdqReport> insert_qdq(Model& model, const std::map<std::string, Range>& ranges, const QuantOptions& opt,
                               const std::set<std::string>& only) {
  Graph& g = model.graph;
  QdqReport rep;
  int64_t opset = model.opsets.count("") ? model.opsets.at("") : 0;
  std::vector<size_t> picked;
  for (const Node* n : quantizable_nodes(g, opt))
    if (only.empty() || only.count(n->name)) picked.push_back(static_cast<size_t>(n - g.nodes.data()));
  if (picked.empty()) return rep;
  if (opset < 10) return unsupported("QuantizeLinear/DequantizeLinear need opset >= 10; the model has opset " +
                                     std::to_string(opset));
  if (opt.per_channel && opset < 13)
    return unsupported("per-channel weights need opset >= 13 (DequantizeLinear axis); the model has opset " +
                       std::to_string(opset) + " (use per-tensor weights)");
  std::unordered_set<std::string> used;
  for (const Node& n : g.nodes) {
    used.insert(n.name);
    for (const auto& o : n.outputs) used.insert(o);
  }
  for (const auto& i : g.inputs) used.insert(i);
  std::vector<Node> added;
  std::map<std::string, std::string> act_dq, weight_dq;  // float value -> its dequantized replacement
  auto make_node = [&](const char* op, std::vector<std::string> in, std::string out, const std::string& name) {
    Node q = Node::make(op, std::move(in), {out});
    q.name = fresh_name(g, used, name);
    q.opset = static_cast<int>(opset);
    used.insert(q.name);
    added.push_back(std::move(q));
  };
  auto quantize_activation = [&](const std::string& v) -> Expected<std::string> {
    if (auto it = act_dq.find(v); it != act_dq.end()) return it->second;
    auto r = ranges.find(v);
    if (r == ranges.end()) return internal_error("no calibrated range for activation '" + v + "'");
    float lo = std::min(0.0f, r->second.lo), hi = std::max(0.0f, r->second.hi);
    Tensor scale = Tensor::empty(DType::kFloat, {}), zp;
    if (opt.symmetric_activations) {
      float m = std::max(std::fabs(lo), std::fabs(hi));
      scale.data<float>()[0] = m > 0 ? m / 127.0f : 1.0f;
      zp = Tensor::zeros(DType::kInt8, {});
    } else {
      float s = hi - lo > 0 ? (hi - lo) / 255.0f : 1.0f;
      scale.data<float>()[0] = s;
      zp = Tensor::empty(DType::kUInt8, {});
      zp.data<uint8_t>()[0] = static_cast<uint8_t>(std::clamp(std::nearbyint(-lo / s), 0.0f, 255.0f));
    }
    std::string s_name = fresh_name(g, used, v + "_scale"), z_name = fresh_name(g, used, v + "_zero_point");
    used.insert(s_name);
    used.insert(z_name);
    g.initializers[s_name] = scale;
    g.initializers[z_name] = zp;
    std::string qv = fresh_name(g, used, v + "_quantized");
    used.insert(qv);
    std::string dqv = fresh_name(g, used, v + "_dequantized");
    used.insert(dqv);
    make_node("QuantizeLinear", {v, s_name, z_name}, qv, v + "_QuantizeLinear");
    make_node("DequantizeLinear", {qv, s_name, z_name}, dqv, v + "_DequantizeLinear");
    if (const ValueType* vt = g.type_of(v)) {
      g.value_info[qv] = {zp.dtype(), vt->shape};
      g.value_info[dqv] = {DType::kFloat, vt->shape};
    }
    act_dq[v] = dqv;
    ++rep.activations;
    return dqv;
  };
  auto quantize_weight_input = [&](const std::string& w, int axis) -> Expected<std::string> {
    if (auto it = weight_dq.find(w); it != weight_dq.end()) return it->second;
    auto q = quantize_weight(g.initializers.at(w), opt.per_channel, axis);
    if (!q) return q.status().with_context("weight '" + w + "'");
    std::string q_name = fresh_name(g, used, w + "_quantized");
    used.insert(q_name);
    std::string s_name = fresh_name(g, used, w + "_scale");
    used.insert(s_name);
    std::string z_name = fresh_name(g, used, w + "_zero_point");
    used.insert(z_name);
    std::string dq = fresh_name(g, used, w + "_dequantized");
    used.insert(dq);
    g.value_info[dq] = {DType::kFloat, SymShape::from_shape(g.initializers.at(w).shape())};
    g.initializers[q_name] = q->q;
    g.initializers[s_name] = q->scale;
    g.initializers[z_name] = q->zero_point;
    make_node("DequantizeLinear", {q_name, s_name, z_name}, dq, w + "_DequantizeLinear");
    if (opt.per_channel) added.back().attrs["axis"] = Attr{Attr::Kind::kInt, 0, axis};
    weight_dq[w] = dq;
    ++rep.weights;
    return dq;
  };
  for (size_t idx : picked) {
    Node& n = g.nodes[idx];
    std::string w;
    int axis = 0;
    bool has_weight = weight_input(g, n, &w, &axis);
    for (size_t i = 0; i < 2; ++i) {
      if (i == 1 && has_weight) {
        FERRY_ASSIGN_OR_RETURN(std::string dq, quantize_weight_input(w, axis));
        n.inputs[1] = dq;
      } else if (!g.initializers.count(n.inputs[i]) && !(i == 1 && n.op_type == "Conv")) {  // computed weights stay float
        FERRY_ASSIGN_OR_RETURN(std::string dq, quantize_activation(n.inputs[i]));
        n.inputs[i] = dq;
      }
    }
    rep.quantized_nodes.push_back(n.display_name());
  }
  // Drop float weights nobody reads any more.
  std::unordered_set<std::string> read;
  for (const Node& n : g.nodes)
    for (const auto& i : n.inputs) read.insert(i);
  for (const Node& n : added)
    for (const auto& i : n.inputs) read.insert(i);
  for (const auto& o : g.outputs) read.insert(o);
  for (const auto& [w, dq] : weight_dq)
    if (!read.count(w)) g.initializers.erase(w);
  for (auto& n : added) g.nodes.push_back(std::move(n));
  FERRY_RETURN_IF_ERROR(g.topo_sort());
  return rep;
}

}  // namespace ferry::quant
