// onnx_import.cc — ModelProto -> Model (graphs, attributes, types, subgraphs, local functions) and back.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "ir/onnx_convert.h"
#include "ir/onnx_import.h"

namespace ferry {

namespace {

struct ImportContext {
  std::string base_dir;
  std::map<std::string, int64_t> opsets;
  // model-local functions by "domain::name"
  std::unordered_map<std::string, const onnx::FunctionProto*> functions;
  int depth = 0;
  int64_t inline_counter = 0;
  // Top-level initializers whose raw_data was lifted out of the model bytes (strip_initializer_data).
  const char* model_bytes = nullptr;
  const std::vector<RawSpan>* lifted = nullptr;
  std::shared_ptr<void> arena;  // weight arena the lifted bytes are copied into
  size_t arena_size = 0, arena_used = 0;
};

constexpr size_t kWeightAlign = 64;
size_t align_up(size_t n) { return (n + kWeightAlign - 1) / kWeightAlign * kWeightAlign; }

// Initializer `tp` whose raw_data lies at `span` of the model bytes: plain tensors are copied once, into the
// weight arena; anything else gets its bytes back and takes the ordinary path (which reports errors too).
Expected<Tensor> lifted_initializer(onnx::TensorProto& tp, const RawSpan& span, ImportContext& ctx,
                                    const std::string& what) {
  if (span.offset < 0) return take_tensor_from_proto(&tp, ctx.base_dir, what);
  const char* bytes = ctx.model_bytes + span.offset;
  const size_t size = static_cast<size_t>(span.size);
  DType dt;
  Shape shape;
  if (!raw_is_storage(tp, size, &dt, &shape)) {
    tp.set_raw_data(bytes, size);
    return take_tensor_from_proto(&tp, ctx.base_dir, what);
  }
  if (ctx.arena && ctx.arena_used + align_up(size) <= ctx.arena_size) {
    void* dst = static_cast<char*>(ctx.arena.get()) + ctx.arena_used;
    ctx.arena_used += align_up(size);
    if (size > 0) std::memcpy(dst, bytes, size);
    return Tensor::view(dt, std::move(shape), ctx.arena, dst);
  }
  Tensor t = Tensor::empty(dt, std::move(shape));
  if (size > 0) std::memcpy(t.raw_data(), bytes, size);
  return t;
}

Expected<std::shared_ptr<Graph>> convert_graph(onnx::GraphProto& gp, ImportContext& ctx);

Expected<ValueType> convert_type(const onnx::TypeProto& tp, const std::string& what) {
  ValueType vt;
  if (!tp.has_tensor_type()) {
    if (tp.has_sequence_type()) return unsupported(what + " is a sequence; only tensors are supported");
    if (tp.has_optional_type()) return unsupported(what + " is an optional; only tensors are supported");
    if (tp.has_map_type()) return unsupported(what + " is a map; only tensors are supported");
    return vt;  // type not given
  }
  const auto& tt = tp.tensor_type();
  if (tt.has_elem_type()) {
    if (!dtype_is_valid(tt.elem_type()))
      return invalid_argument(what + " has unknown element type " + std::to_string(tt.elem_type()));
    vt.dtype = static_cast<DType>(tt.elem_type());
  }
  if (tt.has_shape()) {
    vt.shape.rank_known = true;
    for (const auto& d : tt.shape().dim()) {
      if (d.has_dim_value()) {
        if (d.dim_value() < 0) return invalid_argument(what + " has negative dimension " + std::to_string(d.dim_value()));
        vt.shape.dims.emplace_back(d.dim_value());
      } else if (d.has_dim_param()) {
        vt.shape.dims.push_back(Dim::symbolic(d.dim_param()));
      } else {
        vt.shape.dims.emplace_back();
      }
    }
  }
  return vt;
}

Expected<Attr> convert_attr(onnx::AttributeProto& ap, ImportContext& ctx, const std::string& what) {
  Attr a;
  using AP = onnx::AttributeProto;
  AP::AttributeType type = ap.type();
  if (type == AP::UNDEFINED) {  // old files omit the type: deduce it from the field that is set
    if (ap.has_f()) type = AP::FLOAT;
    else if (ap.has_i()) type = AP::INT;
    else if (ap.has_s()) type = AP::STRING;
    else if (ap.has_t()) type = AP::TENSOR;
    else if (ap.has_g()) type = AP::GRAPH;
    else if (ap.floats_size()) type = AP::FLOATS;
    else if (ap.ints_size()) type = AP::INTS;
    else if (ap.strings_size()) type = AP::STRINGS;
    else if (ap.tensors_size()) type = AP::TENSORS;
    else if (ap.graphs_size()) type = AP::GRAPHS;
    else return invalid_argument(what + " has no value");
  }
  switch (type) {
    case AP::FLOAT: a.kind = Attr::Kind::kFloat; a.f = ap.f(); break;
    case AP::INT: a.kind = Attr::Kind::kInt; a.i = ap.i(); break;
    case AP::STRING: a.kind = Attr::Kind::kString; a.s = ap.s(); break;
    case AP::TENSOR: {
      a.kind = Attr::Kind::kTensor;
      auto t = take_tensor_from_proto(ap.mutable_t(), ctx.base_dir, what);
      if (!t) return t.status();
      a.t = std::move(t).value();
      break;
    }
    case AP::SPARSE_TENSOR: return unsupported(what + ": sparse tensors are not supported");
    case AP::GRAPH: {
      a.kind = Attr::Kind::kGraph;
      auto g = convert_graph(*ap.mutable_g(), ctx);
      if (!g) return g.status().with_context(what);
      a.g = std::move(g).value();
      break;
    }
    case AP::FLOATS: a.kind = Attr::Kind::kFloats; a.floats.assign(ap.floats().begin(), ap.floats().end()); break;
    case AP::INTS: a.kind = Attr::Kind::kInts; a.ints.assign(ap.ints().begin(), ap.ints().end()); break;
    case AP::STRINGS: a.kind = Attr::Kind::kStrings; a.strings.assign(ap.strings().begin(), ap.strings().end()); break;
    case AP::TENSORS:
      a.kind = Attr::Kind::kTensors;
      for (auto& tp : *ap.mutable_tensors()) {
        auto t = take_tensor_from_proto(&tp, ctx.base_dir, what);
        if (!t) return t.status();
        a.tensors.push_back(std::move(t).value());
      }
      break;
    case AP::GRAPHS:
      a.kind = Attr::Kind::kGraphs;
      for (auto& gp : *ap.mutable_graphs()) {
        auto g = convert_graph(gp, ctx);
        if (!g) return g.status().with_context(what);
        a.graphs.push_back(std::move(g).value());
      }
      break;
    case AP::TYPE_PROTO: case AP::TYPE_PROTOS: a.kind = Attr::Kind::kTypeProto; break;
    default: return invalid_argument(what + " has unknown attribute type " + std::to_string(static_cast<int>(type)));
  }
  return a;
}

std::string normalize_domain(const std::string& d) { return d == "ai.onnx" ? "" : d; }

Expected<Node> convert_node(onnx::NodeProto& np, ImportContext& ctx, int index) {
  Node n;
  n.name = np.name();
  n.op_type = np.op_type();
  n.domain = normalize_domain(np.domain());
  n.index = index;
  auto it = ctx.opsets.find(n.domain);
  n.opset = it == ctx.opsets.end() ? 0 : static_cast<int>(it->second);
  if (n.op_type.empty()) return invalid_argument("node #" + std::to_string(index) + " has no op_type");
  n.inputs.assign(np.input().begin(), np.input().end());
  n.outputs.assign(np.output().begin(), np.output().end());
  for (auto& ap : *np.mutable_attribute()) {
    std::string what = "attribute '" + ap.name() + "' of node " + n.display_name();
    if (n.attrs.count(ap.name())) return invalid_argument(what + " is given twice");
    auto a = convert_attr(ap, ctx, what);
    if (!a) return a.status();
    n.attrs[ap.name()] = std::move(a).value();
  }
  return n;
}

// Expands a call of a model-local function into its body, renaming internal values uniquely.
Status inline_function(const onnx::FunctionProto& fp, const Node& call, ImportContext& ctx, std::vector<Node>& out,
                       int depth) {
  if (depth > 16) return invalid_argument("function '" + fp.name() + "' nests too deeply (recursive?)");
  std::string prefix = "__fn" + std::to_string(ctx.inline_counter++) + "_" + fp.name() + "/";
  std::unordered_map<std::string, std::string> rename;
  for (int i = 0; i < fp.input_size(); ++i)
    rename[fp.input(i)] = i < static_cast<int>(call.inputs.size()) ? call.inputs[static_cast<size_t>(i)] : "";
  for (int i = 0; i < fp.output_size(); ++i)
    rename[fp.output(i)] = i < static_cast<int>(call.outputs.size()) ? call.outputs[static_cast<size_t>(i)] : prefix + fp.output(i);
  // Attribute values of the call site (onnx 1.12's schema has no attribute defaults in functions).
  std::map<std::string, Attr> attr_values;
  for (const auto& [k, v] : call.attrs) attr_values[k] = v;
  auto map_name = [&](const std::string& s) -> std::string {
    if (s.empty()) return s;
    auto r = rename.find(s);
    return r != rename.end() ? r->second : prefix + s;
  };
  for (int i = 0; i < fp.node_size(); ++i) {
    const auto& np = fp.node(i);
    onnx::NodeProto copy = np;
    copy.clear_attribute();
    for (const auto& ap : np.attribute()) {
      if (!ap.ref_attr_name().empty()) {
        auto v = attr_values.find(ap.ref_attr_name());
        if (v == attr_values.end()) continue;  // unset optional attribute: the op's default applies
        continue;                              // handled below after conversion
      }
      *copy.add_attribute() = ap;
    }
    auto n = convert_node(copy, ctx, -1);
    if (!n) return n.status().with_context("in function '" + fp.name() + "'");
    for (const auto& ap : np.attribute())
      if (!ap.ref_attr_name().empty()) {
        auto v = attr_values.find(ap.ref_attr_name());
        if (v != attr_values.end()) n->attrs[ap.name()] = v->second;
      }
    for (auto& s : n->inputs) s = map_name(s);
    for (auto& s : n->outputs) s = map_name(s);
    // Values read inside nested subgraphs keep their names (outer refs to renamed values are rare).
    auto fit = ctx.functions.find(n->domain + "::" + n->op_type);
    if (fit != ctx.functions.end()) {
      FERRY_RETURN_IF_ERROR(inline_function(*fit->second, *n, ctx, out, depth + 1));
    } else {
      if (!n->name.empty()) n->name = prefix + n->name;
      out.push_back(std::move(n).value());
    }
  }
  return Status::ok();
}

void collect_outer_refs(Graph& g) {
  std::unordered_set<std::string> defined(g.inputs.begin(), g.inputs.end());
  for (const auto& [name, t] : g.initializers) defined.insert(name);
  for (const Node& n : g.nodes)
    for (const auto& o : n.outputs) defined.insert(o);
  std::set<std::string> refs;
  for (const Node& n : g.nodes) {
    for (const auto& in : n.inputs)
      if (!in.empty() && !defined.count(in)) refs.insert(in);
    for (const auto& [k, a] : n.attrs) {
      std::vector<const Graph*> subs;
      if (a.g) subs.push_back(a.g.get());
      for (const auto& sg : a.graphs) subs.push_back(sg.get());
      for (const Graph* s : subs)
        for (const auto& r : s->outer_refs)
          if (!defined.count(r)) refs.insert(r);
    }
  }
  for (const auto& o : g.outputs)
    if (!defined.count(o)) refs.insert(o);
  g.outer_refs.assign(refs.begin(), refs.end());
}

Expected<std::shared_ptr<Graph>> convert_graph(onnx::GraphProto& gp, ImportContext& ctx) {
  if (++ctx.depth > 64) return invalid_argument("subgraphs nest more than 64 levels deep");
  auto g = std::make_shared<Graph>();
  g->name = gp.name();
  g->initializers.reserve(static_cast<size_t>(gp.initializer_size()));
  g->value_info.reserve(static_cast<size_t>(gp.initializer_size() + gp.value_info_size() + gp.input_size() +
                                            gp.output_size()));
  const std::vector<RawSpan>* lifted = ctx.depth == 1 ? ctx.lifted : nullptr;
  if (lifted && lifted->size() != static_cast<size_t>(gp.initializer_size()))
    return internal_error("model import: initializer data lost while splitting the model bytes");
  for (int k = 0; k < gp.initializer_size(); ++k) {
    onnx::TensorProto& tp = *gp.mutable_initializer(k);
    std::string what = "initializer '" + tp.name() + "'";
    if (tp.name().empty()) return invalid_argument("an initializer has no name");
    if (g->initializers.count(tp.name())) return invalid_argument(what + " is given twice");
    auto t = lifted ? lifted_initializer(tp, (*lifted)[static_cast<size_t>(k)], ctx, what)
                    : take_tensor_from_proto(&tp, ctx.base_dir, what);
    if (!t) return t.status();
    g->value_info[tp.name()] = {t->dtype(), SymShape::from_shape(t->shape())};
    g->initializers[tp.name()] = std::move(t).value();
  }
  if (gp.sparse_initializer_size() > 0) return unsupported("sparse initializers are not supported");
  auto add_type = [&](const onnx::ValueInfoProto& vi, const std::string& role) -> Status {
    if (vi.name().empty()) return invalid_argument("a graph " + role + " has no name");
    auto vt = convert_type(vi.type(), "graph " + role + " '" + vi.name() + "'");
    if (!vt) return vt.status();
    if (vt->dtype != DType::kUndefined || vt->shape.rank_known) g->value_info[vi.name()] = std::move(vt).value();
    return Status::ok();
  };
  for (const auto& vi : gp.input()) {
    if (g->initializers.count(vi.name())) continue;  // old-style: initializers listed as inputs
    FERRY_RETURN_IF_ERROR(add_type(vi, "input"));
    g->inputs.push_back(vi.name());
  }
  for (const auto& vi : gp.output()) {
    FERRY_RETURN_IF_ERROR(add_type(vi, "output"));
    g->outputs.push_back(vi.name());
  }
  for (const auto& vi : gp.value_info()) {
    auto vt = convert_type(vi.type(), "value '" + vi.name() + "'");
    if (vt && (vt->dtype != DType::kUndefined || vt->shape.rank_known)) g->value_info[vi.name()] = std::move(vt).value();
  }
  g->nodes.reserve(static_cast<size_t>(gp.node_size()));
  for (int i = 0; i < gp.node_size(); ++i) {
    auto n = convert_node(*gp.mutable_node(i), ctx, i);
    if (!n) return n.status();
    auto fit = ctx.functions.find(n->domain + "::" + n->op_type);
    if (fit != ctx.functions.end()) {
      FERRY_RETURN_IF_ERROR(inline_function(*fit->second, *n, ctx, g->nodes, 0));
    } else {
      g->nodes.push_back(std::move(n).value());
    }
  }
  for (size_t i = 0; i < g->nodes.size(); ++i) g->nodes[i].index = static_cast<int>(i);
  collect_outer_refs(*g);
  --ctx.depth;
  return g;
}

}  // namespace

Expected<Model> parse_onnx_model(const void* data, size_t size, const std::string& base_dir, ImportTimings* timings) {
  auto t0 = std::chrono::steady_clock::now();
  onnx::ModelProto mp;
  if (size > static_cast<size_t>(std::numeric_limits<int>::max()))
    return unsupported("model files larger than 2 GiB must keep weights as external data");
  // Protobuf parses the model without its weights; they are copied once, straight into the weight arena.
  std::optional<ModelSkeleton> skeleton = strip_initializer_data(data, size);
  if (!skeleton || !mp.ParseFromArray(skeleton->bytes.data(), static_cast<int>(skeleton->bytes.size()))) {
    skeleton.reset();
    mp.Clear();
    if (!mp.ParseFromArray(data, static_cast<int>(size)))
      return invalid_argument("not a valid ONNX model (protobuf parse failed on " + std::to_string(size) + " bytes)");
  }
  if (!mp.has_graph()) return invalid_argument("ONNX model has no graph");
  auto t1 = std::chrono::steady_clock::now();
  Model m;
  m.ir_version = mp.ir_version();
  m.producer_name = mp.producer_name();
  m.producer_version = mp.producer_version();
  m.doc_string = mp.doc_string();
  for (const auto& kv : mp.metadata_props()) m.metadata[kv.key()] = kv.value();
  for (const auto& os : mp.opset_import()) m.opsets[normalize_domain(os.domain())] = os.version();
  if (mp.opset_import_size() == 0) m.opsets[""] = 1;  // IR v<3 models have no opset_import
  ImportContext ctx;
  ctx.base_dir = base_dir;
  ctx.opsets = m.opsets;
  if (skeleton) {
    ctx.model_bytes = static_cast<const char*>(data);
    ctx.lifted = &skeleton->initializer_raw;
    for (const RawSpan& r : skeleton->initializer_raw)
      if (r.offset >= 0) ctx.arena_size += align_up(static_cast<size_t>(r.size));
    ctx.arena = allocate_weight_arena(ctx.arena_size);
  }
  for (const auto& fp : mp.functions()) ctx.functions[normalize_domain(fp.domain()) + "::" + fp.name()] = &fp;
  for (const auto& fp : mp.functions())  // opsets a function imports that the model lacks
    for (const auto& os : fp.opset_import())
      if (!ctx.opsets.count(normalize_domain(os.domain()))) ctx.opsets[normalize_domain(os.domain())] = os.version();
  // The graph is converted destructively: large raw_data strings move into the tensors instead of being copied.
  auto g = convert_graph(*mp.mutable_graph(), ctx);
  if (!g) return g.status();
  m.graph = std::move(*g.value());
  if (!m.graph.outer_refs.empty())
    return invalid_argument("node reads '" + m.graph.outer_refs.front() +
                            "', which is not a graph input, an initializer or any node's output");
  if (timings) {
    timings->parse_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
    timings->convert_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count();
  }
  return m;
}

namespace {
// A read-only private mapping of a whole file (no copy into a buffer; the pages come from the page cache).
struct MappedFile {
  void* data = MAP_FAILED;
  size_t size = 0;
  ~MappedFile() {
    if (data != MAP_FAILED) munmap(data, size);
  }
};
}  // namespace

Expected<Model> load_onnx_model(const std::string& path, ImportTimings* timings) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  auto t0 = std::chrono::steady_clock::now();
  MappedFile map;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
    map.size = static_cast<size_t>(st.st_size);
    map.data = mmap(nullptr, map.size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  }
  if (fd >= 0) close(fd);
  if (map.data != MAP_FAILED) {
    double read_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    auto m = parse_onnx_model(map.data, map.size, dir, timings);
    if (timings) timings->read_ms = read_ms;
    return m;
  }
  // Not mappable (empty, a pipe, ...): read it.
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found("cannot open model file '" + path + "'");
  std::string bytes;
  FERRY_RETURN_IF_ERROR(read_whole_file(f, path, &bytes));
  double read_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  auto m = parse_onnx_model(bytes.data(), bytes.size(), dir, timings);
  if (timings) timings->read_ms = read_ms;
  return m;
}

}  // namespace ferry
