#include "runtime/model_stats.h"

#include "runtime/shape_inference.h"

namespace ferry {

namespace {

int64_t numel_or_zero(const SymShape& s) {
  if (!s.is_concrete()) return 0;
  return shape_numel(s.to_shape());
}

// MACs of one node from its input/output shapes; 0 when unknown.
int64_t node_macs(const Graph& g, const Node& n) {
  auto shape_of = [&](size_t i, bool output) -> SymShape {
    const auto& names = output ? n.outputs : n.inputs;
    if (i >= names.size() || names[i].empty()) return {};
    const ValueType* vt = g.type_of(names[i]);
    return vt ? vt->shape : SymShape{};
  };
  const std::string& op = n.op_type;
  if (op == "Conv" || op == "ConvInteger" || op == "QLinearConv") {
    SymShape w = shape_of(op == "QLinearConv" ? 3 : 1, false), y = shape_of(0, true);
    if (!w.is_concrete() || !y.is_concrete() || w.rank() < 2) return 0;
    int64_t per_out = 1;
    for (int k = 1; k < w.rank(); ++k) per_out *= w.dims[static_cast<size_t>(k)].value;  // Cin/g * kernel
    return numel_or_zero(y) * per_out;
  }
  if (op == "ConvTranspose") {
    SymShape x = shape_of(0, false), w = shape_of(1, false);
    if (!x.is_concrete() || !w.is_concrete() || w.rank() < 2) return 0;
    int64_t per_in = 1;
    for (int k = 1; k < w.rank(); ++k) per_in *= w.dims[static_cast<size_t>(k)].value;  // Cout/g * kernel
    return numel_or_zero(x) * per_in;
  }
  if (op == "MatMul" || op == "Gemm" || op == "MatMulInteger" || op == "QLinearMatMul") {
    SymShape a = shape_of(0, false), y = shape_of(0, true);
    if (!a.is_concrete() || !y.is_concrete() || a.rank() == 0) return 0;
    int64_t k = a.dims.back().value;
    if (op == "Gemm" && n.attr_int("transA", 0)) k = a.dims.front().value;
    return numel_or_zero(y) * k;
  }
  return 0;
}

}  // namespace

Expected<ModelStats> compute_model_stats(Graph& graph, const std::unordered_map<std::string, Shape>& input_shapes) {
  ModelStats st;
  std::unordered_map<std::string, Shape> shapes = input_shapes;
  for (const auto& in : graph.inputs) {
    if (shapes.count(in)) continue;
    const ValueType* vt = graph.type_of(in);
    if (!vt || !vt->shape.rank_known) continue;
    Shape s;
    for (const Dim& d : vt->shape.dims) s.push_back(d.known() ? d.value : 1);
    shapes[in] = s;
  }
  auto report = infer_graph_types(graph, shapes);
  if (!report) return report.status();
  st.warnings = report->warnings;
  st.node_count = static_cast<int64_t>(graph.nodes.size());
  for (const Node& n : graph.nodes) {
    st.op_histogram[(n.domain.empty() ? "" : n.domain + ".") + n.op_type]++;
    int64_t macs = node_macs(graph, n);
    if (macs > 0) {
      const ValueType* vt = n.outputs.empty() ? nullptr : graph.type_of(n.outputs[0]);
      st.layers.push_back({n.display_name(), n.op_type, macs, vt ? vt->shape.to_string() : "?"});
      st.total_macs += macs;
    }
  }
  for (const auto& [name, t] : graph.initializers) {
    ParamStats& p = st.params_by_dtype[dtype_name(t.dtype())];
    p.count += t.numel();
    p.bytes += static_cast<int64_t>(t.nbytes());
    st.total_params += t.numel();
    st.total_param_bytes += static_cast<int64_t>(t.nbytes());
  }
  return st;
}

}  // namespace ferry
