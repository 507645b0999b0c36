// onnx_export.cc — Model -> ModelProto (used by `ferry optimize` and `ferry quantize`).
#include <algorithm>
#include <fstream>

#include "ir/onnx_convert.h"
#include "ir/onnx_import.h"

namespace ferry {

namespace {

void graph_to_proto(const Graph& g, onnx::GraphProto* gp);

void type_to_proto(const ValueType& vt, onnx::TypeProto* tp) {
  auto* tt = tp->mutable_tensor_type();
  if (vt.dtype != DType::kUndefined) tt->set_elem_type(static_cast<int32_t>(vt.dtype));
  if (!vt.shape.rank_known) return;
  auto* shape = tt->mutable_shape();
  for (const Dim& d : vt.shape.dims) {
    auto* dp = shape->add_dim();
    if (d.known()) dp->set_dim_value(d.value);
    else if (!d.symbol.empty()) dp->set_dim_param(d.symbol);
  }
}

void value_info_to_proto(const Graph& g, const std::string& name, onnx::ValueInfoProto* vi) {
  vi->set_name(name);
  if (const ValueType* vt = g.type_of(name)) type_to_proto(*vt, vi->mutable_type());
}

void attr_to_proto(const std::string& name, const Attr& a, onnx::AttributeProto* ap) {
  using AP = onnx::AttributeProto;
  ap->set_name(name);
  switch (a.kind) {
    case Attr::Kind::kFloat: ap->set_type(AP::FLOAT); ap->set_f(a.f); break;
    case Attr::Kind::kInt: ap->set_type(AP::INT); ap->set_i(a.i); break;
    case Attr::Kind::kString: ap->set_type(AP::STRING); ap->set_s(a.s); break;
    case Attr::Kind::kTensor: ap->set_type(AP::TENSOR); tensor_to_proto(a.t, "", ap->mutable_t()); break;
    case Attr::Kind::kGraph: ap->set_type(AP::GRAPH); graph_to_proto(*a.g, ap->mutable_g()); break;
    case Attr::Kind::kFloats:
      ap->set_type(AP::FLOATS);
      for (float f : a.floats) ap->add_floats(f);
      break;
    case Attr::Kind::kInts:
      ap->set_type(AP::INTS);
      for (int64_t i : a.ints) ap->add_ints(i);
      break;
    case Attr::Kind::kStrings:
      ap->set_type(AP::STRINGS);
      for (const auto& s : a.strings) ap->add_strings(s);
      break;
    case Attr::Kind::kTensors:
      ap->set_type(AP::TENSORS);
      for (const auto& t : a.tensors) tensor_to_proto(t, "", ap->add_tensors());
      break;
    case Attr::Kind::kGraphs:
      ap->set_type(AP::GRAPHS);
      for (const auto& sg : a.graphs) graph_to_proto(*sg, ap->add_graphs());
      break;
    case Attr::Kind::kTypeProto: ap->set_type(AP::TYPE_PROTO); break;
  }
}

void graph_to_proto(const Graph& g, onnx::GraphProto* gp) {
  gp->set_name(g.name.empty() ? "graph" : g.name);
  for (const auto& in : g.inputs) value_info_to_proto(g, in, gp->add_input());
  for (const auto& out : g.outputs) value_info_to_proto(g, out, gp->add_output());
  // Deterministic initializer order: by name.
  std::vector<std::string> names;
  for (const auto& [name, t] : g.initializers) names.push_back(name);
  std::sort(names.begin(), names.end());
  for (const auto& name : names) tensor_to_proto(g.initializers.at(name), name, gp->add_initializer());
  for (const Node& n : g.nodes) {
    auto* np = gp->add_node();
    if (!n.name.empty()) np->set_name(n.name);
    np->set_op_type(n.op_type);
    if (!n.domain.empty()) np->set_domain(n.domain);
    for (const auto& in : n.inputs) np->add_input(in);
    for (const auto& out : n.outputs) np->add_output(out);
    for (const auto& [key, a] : n.attrs) attr_to_proto(key, a, np->add_attribute());
  }
}

}  // namespace

Status save_onnx_model(const Model& model, const std::string& path) {
  onnx::ModelProto mp;
  mp.set_ir_version(model.ir_version > 0 ? model.ir_version : 8);
  mp.set_producer_name(model.producer_name.empty() ? "ferry" : model.producer_name);
  if (!model.producer_version.empty()) mp.set_producer_version(model.producer_version);
  for (const auto& [domain, v] : model.opsets) {
    auto* os = mp.add_opset_import();
    os->set_domain(domain);
    os->set_version(v);
  }
  graph_to_proto(model.graph, mp.mutable_graph());
  std::ofstream f(path, std::ios::binary);
  if (!f) return not_found("cannot write model file '" + path + "'");
  if (!mp.SerializeToOstream(&f)) return internal_error("failed writing model file '" + path + "'");
  return Status::ok();
}

}  // namespace ferry
