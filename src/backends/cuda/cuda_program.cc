// cuda_program.cc — CudaBackend and the compiled CudaProgram: fusion grouping, arena planning, weight upload,
// staging, and the per-segment run loop (optionally replayed from a CUDA graph).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <unordered_map>
#include <unordered_set>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/conv_layout.h"
#include "backends/cuda/cuda_ops.h"
#include "backends/cuda/kernels/launch.h"
#include "core/float_convert.h"
#include "runtime/memory_plan.h"

namespace ferry::cuda {

namespace {

constexpr size_t kAlign = 256;
constexpr size_t kWorkspaceBytes = size_t{256} << 20;

size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

const char* precision_name(DType t) {
  return t == DType::kFloat16 ? "fp16" : t == DType::kBFloat16 ? "bf16" : "fp32";
}

struct Val {
  DType dtype = DType::kUndefined;
  Shape shape;
  int item = -1;
  void* ptr = nullptr;
  bool nhwc = false;
  int64_t stored_c = 0;  // > shape[1]: NHWC with zero channels up to stored_c (conv inputs, conv_layout.h)
  int64_t s2d_pad = -1;  // >= 0: stored space-to-depth for stride-2 stem convs (conv_layout.h)
};

// A 4-D value whose bytes depend on the layout (H*W > 1).
bool layout_bearing(const Val& v) { return v.shape.size() == 4 && v.shape[2] * v.shape[3] > 1; }

struct Transfer {
  Val* val = nullptr;
  size_t pinned_offset = 0;
  size_t count = 0;  // elements (FP32 on the host)
};

struct Segment {
  std::vector<std::unique_ptr<CudaOp>> ops;
  std::vector<std::string> op_names, op_types;  // for FERRY_CUDA_PROFILE
  std::vector<cudaEvent_t> marks;               // ops + 1 events when profiling
  std::vector<Transfer> up, down;
  cudaGraphExec_t exec = nullptr;
};

class CudaProgram final : public DeviceProgram, public BuildContext {
 public:
  CudaProgram(const Graph& g, const DeviceOptions& o) : graph_(g), opt_(o) {}
  ~CudaProgram() override;
  Status init(const std::vector<DeviceSegmentSpec>& specs);

  Status run_segment(size_t k, const std::vector<const Tensor*>& inputs, std::vector<Tensor>* outputs) override;
  DeviceTimings timings() const override { return timings_; }
  void reset_timings() override { timings_ = {}; }
  std::string summary() const override;

  const Graph& graph() const override { return graph_; }
  DType precision() const override { return opt_.precision; }
  cudnnHandle_t cudnn() const override { return cudnn_; }
  cublasLtHandle_t lt() const override { return lt_; }
  size_t workspace_bytes() const override { return kWorkspaceBytes; }
  void* workspace() const override { return workspace_; }
  Expected<DevTensor> value(const std::string& name) override;
  Expected<void*> upload_constant(const Tensor& host, DType dtype) override;
  std::shared_ptr<void>& cached(const std::string& key) override { return cache_[key]; }

 private:
  std::string where() const { return "cuda:" + std::to_string(opt_.device); }
  Status create_resources();
  Status plan(const std::vector<DeviceSegmentSpec>& specs, std::vector<std::vector<OpGroup>>* groups);
  void assign_layouts(const std::vector<std::vector<OpGroup>>& groups);
  void pad_conv_inputs(const std::vector<DeviceSegmentSpec>& specs, std::vector<PlanItem>* items);
  Status upload(const Transfer& t, cudaStream_t s);
  Status download(const Transfer& t, cudaStream_t s);
  Status enqueue_ops(Segment& seg);

  const Graph& graph_;
  DeviceOptions opt_;
  cudaStream_t stream_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  cublasLtHandle_t lt_ = nullptr;
  cudaEvent_t ev_[4] = {};
  void* arena_ = nullptr;
  size_t arena_bytes_ = 0, intermediate_bytes_ = 0;
  char* weights_ = nullptr;
  size_t weights_used_ = 0, weights_cap_ = 0;
  std::vector<void*> extra_weights_;  // constants past the estimated weight buffer (own allocations, at compile)
  size_t extra_weight_bytes_ = 0;
  void* workspace_ = nullptr;
  float* scratch_ = nullptr;  // FP32 staging on the device for precision conversion at the edges
  char* pinned_ = nullptr;
  std::unordered_map<std::string, Val> vals_;
  std::unordered_map<std::string, void*> consts_;
  std::unordered_map<std::string, std::shared_ptr<void>> cache_;  // ops' shared build products (cuDNN plans)
  std::vector<Segment> segs_;
  int fused_nodes_ = 0, ops_ = 0;
  DeviceTimings timings_;
  // FERRY_CUDA_PROFILE=1: per-op device time (events around every op, CUDA graphs off), printed at destruction.
  bool profile_ = false;
  std::unordered_map<std::string, double> op_ms_, type_ms_;
  int profiled_runs_ = 0;
  void print_profile() const;
};

CudaProgram::~CudaProgram() {
  cudaSetDevice(opt_.device);
  if (stream_) cudaStreamSynchronize(stream_);
  if (profile_) print_profile();
  for (auto& s : segs_) {
    s.ops.clear();
    if (s.exec) cudaGraphExecDestroy(s.exec);
    for (auto e : s.marks) cudaEventDestroy(e);
  }
  cache_.clear();  // cuDNN execution plans, before their handle
  for (auto e : ev_)
    if (e) cudaEventDestroy(e);
  if (cudnn_) cudnnDestroy(cudnn_);
  if (lt_) cublasLtDestroy(lt_);
  if (stream_) cudaStreamDestroy(stream_);
  for (void* p : extra_weights_) cudaFree(p);
  for (void* p : {arena_, static_cast<void*>(weights_), workspace_, static_cast<void*>(scratch_)})
    if (p) cudaFree(p);
  if (pinned_) cudaFreeHost(pinned_);
}

Status CudaProgram::create_resources() {
  FERRY_CUDA_RETURN_IF_ERROR(cudaSetDevice(opt_.device), where());
  FERRY_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), where() + ": stream");
  FERRY_CUDNN_RETURN_IF_ERROR(cudnnCreate(&cudnn_), where() + ": cuDNN handle");
  FERRY_CUDNN_RETURN_IF_ERROR(cudnnSetStream(cudnn_, stream_), where());
  FERRY_CUBLAS_RETURN_IF_ERROR(cublasLtCreate(&lt_), where() + ": cuBLASLt handle");
  for (auto& e : ev_) FERRY_CUDA_RETURN_IF_ERROR(cudaEventCreate(&e), where() + ": event");
  FERRY_CUDA_RETURN_IF_ERROR(cudaMalloc(&workspace_, kWorkspaceBytes),
                             where() + ": workspace of " + std::to_string(kWorkspaceBytes >> 20) + " MiB");
  size_t weight_bytes = size_t{1} << 20;
  std::unordered_set<std::string> seen;
  for (const Node& n : graph_.nodes)
    for (const auto& in : n.inputs)
      if (auto it = graph_.initializers.find(in); it != graph_.initializers.end() && seen.insert(in).second)
        weight_bytes += 2 * align_up(it->second.nbytes()) + 2 * kAlign;  // + derived constants (biases, 1/c)
  for (const Node& n : graph_.nodes)
    if (n.op_type == "Conv" && n.inputs.size() > 1)
      if (auto it = graph_.initializers.find(n.inputs[1]); it != graph_.initializers.end())
        weight_bytes += align_up(static_cast<size_t>(it->second.dim(0)) * 4);
  FERRY_CUDA_RETURN_IF_ERROR(cudaMalloc(reinterpret_cast<void**>(&weights_), weight_bytes),
                             where() + ": weights (" + std::to_string(weight_bytes >> 20) + " MiB)");
  weights_cap_ = weight_bytes;
  return Status::ok();
}

Expected<void*> CudaProgram::upload_constant(const Tensor& host, DType dtype) {
  Tensor conv = host;
  if (host.dtype() == DType::kFloat && dtype != DType::kFloat) {
    conv = Tensor::empty(dtype, host.shape());
    const float* src = host.data<float>();
    auto* dst = conv.data<uint16_t>();
    for (int64_t i = 0; i < host.numel(); ++i)
      dst[i] = dtype == DType::kFloat16 ? float_to_half(src[i]) : float_to_bf16(src[i]);
  }
  size_t bytes = align_up(conv.nbytes());
  void* p = nullptr;
  if (weights_used_ + bytes > weights_cap_) {  // the estimate was short: a buffer of its own (compile time only)
    FERRY_CUDA_RETURN_IF_ERROR(cudaMalloc(&p, std::max<size_t>(bytes, kAlign)),
                               where() + ": constant of " + std::to_string(bytes) + " bytes");
    extra_weights_.push_back(p);
    extra_weight_bytes_ += bytes;
  } else {
    p = weights_ + weights_used_;
    weights_used_ += bytes;
  }
  FERRY_CUDA_RETURN_IF_ERROR(cudaMemcpy(p, conv.raw_data(), conv.nbytes(), cudaMemcpyHostToDevice),
                             where() + ": weight upload");
  return p;
}

Expected<DevTensor> CudaProgram::value(const std::string& name) {
  if (auto it = vals_.find(name); it != vals_.end())
    return DevTensor{it->second.ptr, it->second.dtype, it->second.shape, it->second.nhwc, it->second.stored_c,
                     it->second.s2d_pad};
  auto it = graph_.initializers.find(name);
  if (it == graph_.initializers.end()) return internal_error(where() + ": value '" + name + "' has no device storage");
  DType dt = device_dtype(it->second.dtype(), opt_.precision);
  auto c = consts_.find(name);
  if (c == consts_.end()) {
    FERRY_ASSIGN_OR_RETURN(void* p, upload_constant(it->second, dt));
    c = consts_.emplace(name, p).first;
  }
  return DevTensor{c->second, dt, it->second.shape()};
}

// Groups fusable nodes, assigns every device value a plan item and places them in the arena.
Status CudaProgram::plan(const std::vector<DeviceSegmentSpec>& specs, std::vector<std::vector<OpGroup>>* groups) {
  std::unordered_map<std::string, std::vector<int>> readers;
  for (const Node& n : graph_.nodes)
    for (const auto& in : n.inputs)
      if (!in.empty()) readers[in].push_back(n.index);
  std::vector<PlanItem> items;
  auto new_item = [&](const std::string& name, int def) -> Status {
    Shape s;
    DType t;
    if (!static_shape(graph_, name, &s, &t)) return internal_error(where() + ": value '" + name + "' has no static shape");
    Val v{device_dtype(t, opt_.precision), s, static_cast<int>(items.size()), nullptr};
    PlanItem it;
    it.bytes = static_cast<size_t>(shape_numel(s)) * dtype_size(v.dtype);
    it.def = it.last = def;
    it.arena_ok = true;
    items.push_back(it);
    vals_[name] = v;
    return Status::ok();
  };
  int step = 0;
  for (const auto& spec : specs) {
    std::unordered_map<int, int> pos;
    for (size_t i = 0; i < spec.nodes.size(); ++i) pos[spec.nodes[i]] = static_cast<int>(i);
    std::unordered_set<int> claimed;
    std::vector<std::pair<int, OpGroup>> placed;
    for (int idx : spec.nodes) {
      if (claimed.count(idx)) continue;
      OpGroup grp{{&graph_.nodes[static_cast<size_t>(idx)]}};
      claimed.insert(idx);
      while (!is_alias_op(*grp.nodes.front())) {
        const Node& last = *grp.nodes.back();
        if (last.outputs.size() != 1) break;
        auto r = readers.find(last.outputs[0]);
        if (r == readers.end() || r->second.size() != 1 || !pos.count(r->second[0]) || claimed.count(r->second[0])) break;
        const Node& next = graph_.nodes[static_cast<size_t>(r->second[0])];
        if (!can_fuse(graph_, grp, next)) break;
        grp.nodes.push_back(&next);
        claimed.insert(next.index);
      }
      fused_nodes_ += static_cast<int>(grp.nodes.size()) - 1;
      placed.emplace_back(pos[grp.nodes.back()->index], std::move(grp));
    }
    std::sort(placed.begin(), placed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    const int first = step;
    for (const auto& name : spec.uploads) FERRY_RETURN_IF_ERROR(new_item(name, first));
    std::vector<OpGroup> seg_groups;
    for (auto& [p, grp] : placed) {
      std::unordered_set<std::string> inside;
      for (const Node* n : grp.nodes) {
        for (const auto& in : n->inputs) {
          if (in.empty() || inside.count(in) || graph_.initializers.count(in)) continue;
          auto v = vals_.find(in);
          if (v == vals_.end()) return internal_error(where() + ": input '" + in + "' of " + n->display_name() +
                                                      " is neither produced on the device nor uploaded");
          items[static_cast<size_t>(v->second.item)].last = step;
        }
        for (const auto& o : n->outputs) inside.insert(o);
      }
      const Node& last = *grp.nodes.back();
      for (const auto& o : last.outputs) {
        if (o.empty()) continue;
        FERRY_RETURN_IF_ERROR(new_item(o, step));
        if (is_alias_op(last)) items.back().alias_of = vals_[last.inputs[0]].item;
      }
      seg_groups.push_back(std::move(grp));
      ++step;
    }
    const int end = std::max(first, step - 1);
    for (const auto& name : spec.downloads) {
      auto v = vals_.find(name);
      if (v == vals_.end()) return internal_error(where() + ": download '" + name + "' is not on the device");
      items[static_cast<size_t>(v->second.item)].last = std::max(items[static_cast<size_t>(v->second.item)].last, end);
    }
    step = std::max(step, first + 1);  // an empty segment still takes a step (its uploads/downloads)
    groups->push_back(std::move(seg_groups));
  }
  assign_layouts(*groups);
  pad_conv_inputs(specs, &items);
  MemoryPlan mp = plan_memory(items);
  arena_bytes_ = std::max<size_t>(mp.arena_bytes, kAlign);
  intermediate_bytes_ = mp.planned_bytes;
  FERRY_CUDA_RETURN_IF_ERROR(cudaMalloc(&arena_, arena_bytes_),
                             where() + ": activation arena of " + std::to_string(arena_bytes_ >> 20) + " MiB");
  for (auto& [name, v] : vals_) {
    int root = mp.root[static_cast<size_t>(v.item)];
    size_t off = mp.offset[static_cast<size_t>(root)];
    if (off == MemoryPlan::kNone && items[static_cast<size_t>(root)].bytes == 0) off = 0;  // empty tensor: any pointer
    if (off == MemoryPlan::kNone) return internal_error(where() + ": value '" + name + "' was not placed in the arena");
    v.ptr = static_cast<char*>(arena_) + off;
  }
  return Status::ok();
}

// NHWC for every 4-D value whose producer and readers all run NHWC (conv chains): union the layout-bearing
// tensors each op touches into classes; a class touched by any other op (Reshape, MatMul, Softmax, ...) stays
// NCHW. Transfers convert at the edges, so graph inputs and outputs keep the API's NCHW.
void CudaProgram::assign_layouts(const std::vector<std::vector<OpGroup>>& groups) {
  std::unordered_map<std::string, std::string> parent;
  std::function<std::string(const std::string&)> find = [&](const std::string& v) -> std::string {
    auto it = parent.find(v);
    if (it == parent.end() || it->second == v) return v;
    return it->second = find(it->second);
  };
  std::unordered_set<std::string> bad;
  for (const auto& seg : groups)
    for (const OpGroup& grp : seg) {
      std::vector<std::string> touched;
      std::unordered_set<std::string> inside;
      bool capable = true;
      for (const Node* n : grp.nodes) {
        capable = capable && nhwc_capable(graph_, *n);
        for (const auto& in : n->inputs) {
          if (in.empty() || inside.count(in)) continue;
          auto v = vals_.find(in);
          if (v != vals_.end()) {
            if (layout_bearing(v->second)) touched.push_back(in);
            continue;
          }
          // A constant operand of an elementwise op must read the same in both layouts.
          Shape cs;
          if (static_shape(graph_, in, &cs) && n->op_type != "Conv" && n->op_type != "Clip") {
            while (cs.size() < 4) cs.insert(cs.begin(), 1);
            if (cs.size() != 4 || cs[2] * cs[3] > 1) capable = false;
          }
        }
        for (const auto& o : n->outputs) inside.insert(o);
      }
      for (const auto& o : grp.nodes.back()->outputs)
        if (auto v = vals_.find(o); v != vals_.end() && layout_bearing(v->second)) touched.push_back(o);
      for (const auto& t : touched) {
        if (!parent.count(t)) parent[t] = t;
        if (!capable) bad.insert(t);
      }
      for (size_t i = 1; i < touched.size(); ++i) parent[find(touched[i])] = find(touched[0]);
    }
  std::unordered_set<std::string> bad_roots;
  for (const auto& b : bad) bad_roots.insert(find(b));
  for (auto& [name, v] : vals_) v.nhwc = layout_bearing(v) && parent.count(name) && !bad_roots.count(find(name));
}

// Uploaded NHWC FP16/BF16 values with C < 8 whose every reader is an ungrouped Conv (the image input of a vision
// model) are stored with C padded to 8 zero-filled channels, so cuDNN runs the stem conv on tensor cores; when every
// reader is a stride-2 stem conv that fits space-to-depth (conv_layout.h), as 16 space-to-depth channels instead.
void CudaProgram::pad_conv_inputs(const std::vector<DeviceSegmentSpec>& specs, std::vector<PlanItem>* items) {
  if (const char* e = std::getenv("FERRY_CUDA_PAD_CHANNELS"); e && std::strcmp(e, "0") == 0) return;
  std::unordered_set<std::string> downloads;
  for (const auto& spec : specs) downloads.insert(spec.downloads.begin(), spec.downloads.end());
  for (const auto& spec : specs)
    for (const auto& name : spec.uploads) {
      Val& v = vals_[name];
      if (!v.nhwc || downloads.count(name)) continue;
      int64_t cs = 0;
      bool ok = true;
      for (const Node& n : graph_.nodes)
        for (size_t i = 0; i < n.inputs.size() && ok; ++i) {
          if (n.inputs[i] != name) continue;
          int64_t c = padded_conv_channels(v.shape[1], v.dtype, n.op_type == "Conv" ? n.attr_int("group", 1) : 0);
          ok = n.domain.empty() && n.op_type == "Conv" && i == 0 && c > v.shape[1] && cuda_supports(graph_, n);
          cs = c;
        }
      for (const auto& o : graph_.outputs) ok = ok && o != name;
      if (!ok || cs <= v.shape[1]) continue;
      int64_t s2d_pad = -1;  // every reader must take the same space-to-depth image
      for (const Node& n : graph_.nodes)
        for (size_t i = 0; i < n.inputs.size(); ++i) {
          if (n.inputs[i] != name) continue;
          int64_t p = -1;
          const bool fits = conv_reads_s2d(graph_, n, v.shape, v.dtype, &p);
          s2d_pad = fits && (s2d_pad == -1 || s2d_pad == p) ? p : -2;
        }
      if (s2d_pad >= 0) {
        v.stored_c = kS2dChannels;
        v.s2d_pad = s2d_pad;
        const int64_t hs = (v.shape[2] + 2 * s2d_pad + 1) / 2, ws = (v.shape[3] + 2 * s2d_pad + 1) / 2;
        (*items)[static_cast<size_t>(v.item)].bytes =
            static_cast<size_t>(v.shape[0] * hs * ws * kS2dChannels) * dtype_size(v.dtype);
        continue;
      }
      v.stored_c = cs;
      (*items)[static_cast<size_t>(v.item)].bytes = static_cast<size_t>(shape_numel(v.shape) / v.shape[1] * cs) *
                                                    dtype_size(v.dtype);
    }
}

Status CudaProgram::init(const std::vector<DeviceSegmentSpec>& specs) {
  FERRY_RETURN_IF_ERROR(create_resources());
  std::vector<std::vector<OpGroup>> groups;
  FERRY_RETURN_IF_ERROR(plan(specs, &groups));
  size_t pinned_bytes = 0, scratch_elems = 0;
  segs_.resize(specs.size());
  for (size_t k = 0; k < specs.size(); ++k) {
    for (auto [names, list] : {std::pair{&specs[k].uploads, &segs_[k].up}, {&specs[k].downloads, &segs_[k].down}})
      for (const auto& name : *names) {
        Val& v = vals_[name];
        Transfer t{&v, pinned_bytes, static_cast<size_t>(shape_numel(v.shape))};
        if (v.dtype != opt_.precision && v.dtype != DType::kFloat)
          return unsupported(where() + ": value '" + name + "' of type " + dtype_name(v.dtype) + " cannot cross to the host");
        pinned_bytes += align_up(t.count * sizeof(float));
        scratch_elems = std::max(scratch_elems, t.count);
        list->push_back(t);
      }
  }
  if (pinned_bytes)
    FERRY_CUDA_RETURN_IF_ERROR(cudaMallocHost(reinterpret_cast<void**>(&pinned_), pinned_bytes),
                               where() + ": pinned staging of " + std::to_string(pinned_bytes >> 20) + " MiB");
  if (scratch_elems)
    FERRY_CUDA_RETURN_IF_ERROR(cudaMalloc(reinterpret_cast<void**>(&scratch_), scratch_elems * sizeof(float)),
                               where() + ": conversion scratch");
  for (size_t k = 0; k < groups.size(); ++k)
    for (const OpGroup& grp : groups[k]) {
      if (is_alias_op(*grp.nodes.front())) continue;
      FERRY_ASSIGN_OR_RETURN(auto op, build_cuda_op(*this, grp));
      segs_[k].ops.push_back(std::move(op));
      segs_[k].op_names.push_back(grp.name());
      std::string type = grp.nodes.front()->op_type;
      for (size_t i = 1; i < grp.nodes.size(); ++i) type += "+" + grp.nodes[i]->op_type;
      segs_[k].op_types.push_back(type);
      ++ops_;
    }
  profile_ = std::getenv("FERRY_CUDA_PROFILE") != nullptr;
  if (profile_) {
    opt_.cuda_graph = false;
    for (auto& seg : segs_) {
      seg.marks.resize(seg.ops.size() + 1);
      for (auto& e : seg.marks) FERRY_CUDA_RETURN_IF_ERROR(cudaEventCreate(&e), where() + ": profile event");
    }
  }
  FERRY_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize(), where() + ": compile");
  return Status::ok();
}

// Host FP32 NCHW bytes (already in pinned memory) -> the value's storage type and layout.
Status CudaProgram::upload(const Transfer& t, cudaStream_t s) {
  Val& v = *t.val;
  const bool direct = v.dtype == DType::kFloat && !v.nhwc;
  const char* pinned = pinned_ + t.pinned_offset;
  FERRY_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(direct ? v.ptr : scratch_, pinned, t.count * sizeof(float), cudaMemcpyHostToDevice, s),
      where() + ": upload");
  if (direct) return Status::ok();
  cudaError_t e;
  if (v.s2d_pad >= 0) {
    e = nchw_to_space_to_depth(scratch_, v.ptr, v.dtype, v.shape[0], v.shape[1], v.shape[2], v.shape[3], v.s2d_pad,
                               v.stored_c, s);
  } else if (v.stored_c > 0) {
    e = nchw_to_nhwc_padded(scratch_, v.ptr, v.dtype, v.shape[0], v.shape[1], v.shape[2] * v.shape[3], v.stored_c, s);
  } else if (v.nhwc) {
    const int64_t n = v.shape[0], c = v.shape[1], hw = v.shape[2] * v.shape[3];
    if (v.dtype == DType::kFloat16) e = kernels::nchw_to_nhwc<float, __half>(scratch_, static_cast<__half*>(v.ptr), n, c, hw, s);
    else if (v.dtype == DType::kBFloat16)
      e = kernels::nchw_to_nhwc<float, __nv_bfloat16>(scratch_, static_cast<__nv_bfloat16*>(v.ptr), n, c, hw, s);
    else e = kernels::nchw_to_nhwc<float, float>(scratch_, static_cast<float*>(v.ptr), n, c, hw, s);
  } else {
    e = convert_from_f32(scratch_, v.ptr, v.dtype, t.count, s);
  }
  return cuda_status(e, where() + ": input conversion");
}

// The value's storage -> FP32 NCHW in pinned memory.
Status CudaProgram::download(const Transfer& t, cudaStream_t s) {
  Val& v = *t.val;
  const bool direct = v.dtype == DType::kFloat && !v.nhwc;
  if (!direct) {
    cudaError_t e;
    if (v.nhwc) {
      const int64_t n = v.shape[0], c = v.shape[1], hw = v.shape[2] * v.shape[3];
      if (v.dtype == DType::kFloat16)
        e = kernels::nhwc_to_nchw<__half, float>(static_cast<const __half*>(v.ptr), scratch_, n, c, hw, s);
      else if (v.dtype == DType::kBFloat16)
        e = kernels::nhwc_to_nchw<__nv_bfloat16, float>(static_cast<const __nv_bfloat16*>(v.ptr), scratch_, n, c, hw, s);
      else e = kernels::nhwc_to_nchw<float, float>(static_cast<const float*>(v.ptr), scratch_, n, c, hw, s);
    } else {
      e = convert_to_f32(v.ptr, v.dtype, scratch_, t.count, s);
    }
    FERRY_CUDA_RETURN_IF_ERROR(e, where() + ": output conversion");
  }
  FERRY_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(pinned_ + t.pinned_offset, direct ? v.ptr : scratch_,
                                             t.count * sizeof(float), cudaMemcpyDeviceToHost, s),
                             where() + ": download");
  return Status::ok();
}

Status CudaProgram::enqueue_ops(Segment& seg) {
  RunContext rc{stream_, cudnn_, lt_, workspace_, kWorkspaceBytes};
  if (!opt_.cuda_graph) {
    for (size_t i = 0; i < seg.ops.size(); ++i) {
      if (profile_) cudaEventRecord(seg.marks[i], stream_);
      FERRY_RETURN_IF_ERROR(seg.ops[i]->enqueue(rc));
    }
    if (profile_ && !seg.ops.empty()) cudaEventRecord(seg.marks.back(), stream_);
    return Status::ok();
  }
  if (!seg.exec) {
    FERRY_CUDA_RETURN_IF_ERROR(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), where() + ": capture");
    Status st = Status::ok();
    for (auto& op : seg.ops) {
      st = op->enqueue(rc);
      if (!st.is_ok()) break;
    }
    cudaGraph_t graph = nullptr;
    cudaError_t e = cudaStreamEndCapture(stream_, &graph);
    FERRY_RETURN_IF_ERROR(st);
    FERRY_CUDA_RETURN_IF_ERROR(e, where() + ": end capture");
    e = cudaGraphInstantiate(&seg.exec, graph, 0);
    cudaGraphDestroy(graph);
    FERRY_CUDA_RETURN_IF_ERROR(e, where() + ": graph instantiate");
  }
  FERRY_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(seg.exec, stream_), where() + ": graph launch");
  return Status::ok();
}

Status CudaProgram::run_segment(size_t k, const std::vector<const Tensor*>& inputs, std::vector<Tensor>* outputs) {
  if (k >= segs_.size()) return internal_error(where() + ": no segment " + std::to_string(k));
  Segment& seg = segs_[k];
  auto t0 = std::chrono::steady_clock::now();
  FERRY_CUDA_RETURN_IF_ERROR(cudaSetDevice(opt_.device), where());
  const bool io = opt_.transfers;
  if (io && inputs.size() != seg.up.size()) return internal_error(where() + ": wrong number of segment inputs");
  FERRY_CUDA_RETURN_IF_ERROR(cudaEventRecord(ev_[0], stream_), where());
  for (size_t i = 0; io && i < seg.up.size(); ++i) {
    const Transfer& t = seg.up[i];
    const Tensor& h = *inputs[i];
    if (h.dtype() != DType::kFloat || static_cast<size_t>(h.numel()) != t.count)
      return invalid_argument(where() + ": host value for upload " + std::to_string(i) + " has type " +
                              dtype_name(h.dtype()) + " " + shape_to_string(h.shape()) + ", expected float " +
                              shape_to_string(t.val->shape));
    std::memcpy(pinned_ + t.pinned_offset, h.raw_data(), t.count * sizeof(float));
    FERRY_RETURN_IF_ERROR(upload(t, stream_));
  }
  FERRY_CUDA_RETURN_IF_ERROR(cudaEventRecord(ev_[1], stream_), where());
  FERRY_RETURN_IF_ERROR(enqueue_ops(seg));
  FERRY_CUDA_RETURN_IF_ERROR(cudaEventRecord(ev_[2], stream_), where());
  for (size_t i = 0; io && i < seg.down.size(); ++i) {
    FERRY_RETURN_IF_ERROR(download(seg.down[i], stream_));
  }
  FERRY_CUDA_RETURN_IF_ERROR(cudaEventRecord(ev_[3], stream_), where());
  auto t1 = std::chrono::steady_clock::now();
  FERRY_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_), where() + ": run");
  outputs->clear();
  for (size_t i = 0; io && i < seg.down.size(); ++i) {
    const Transfer& t = seg.down[i];
    Tensor out = Tensor::empty(DType::kFloat, t.val->shape);
    std::memcpy(out.raw_data(), pinned_ + t.pinned_offset, t.count * sizeof(float));
    outputs->push_back(std::move(out));
  }
  float ms[3] = {};
  for (int i = 0; i < 3; ++i) cudaEventElapsedTime(&ms[i], ev_[i], ev_[i + 1]);
  if (profile_) {
    for (size_t i = 0; i < seg.ops.size(); ++i) {
      float op_ms = 0;
      cudaEventElapsedTime(&op_ms, seg.marks[i], seg.marks[i + 1]);
      op_ms_[seg.op_types[i] + " " + seg.op_names[i]] += op_ms;
      type_ms_[seg.op_types[i]] += op_ms;
    }
    if (k == 0) ++profiled_runs_;
  }
  timings_.enqueue_ms += std::chrono::duration<double, std::milli>(t1 - t0).count();
  timings_.h2d_ms += ms[0];
  timings_.compute_ms += ms[1];
  timings_.d2h_ms += ms[2];
  return Status::ok();
}

void CudaProgram::print_profile() const {
  if (profiled_runs_ == 0) return;
  auto top = [&](const std::unordered_map<std::string, double>& m, const char* title, size_t n) {
    std::vector<std::pair<double, std::string>> v;
    double total = 0;
    for (const auto& [k, ms] : m) {
      v.emplace_back(ms / profiled_runs_, k);
      total += ms / profiled_runs_;
    }
    std::sort(v.rbegin(), v.rend());
    std::fprintf(stderr, "[cuda profile] %s, %d runs, %.3f ms of op time per run\n", title, profiled_runs_, total);
    for (size_t i = 0; i < std::min(n, v.size()); ++i)
      std::fprintf(stderr, "[cuda profile] %9.4f ms %5.1f%%  %s\n", v[i].first, 100 * v[i].first / total,
                   v[i].second.c_str());
  };
  top(type_ms_, "by op type", 12);
  top(op_ms_, "top ops", 12);
}

std::string CudaProgram::summary() const {
  int nhwc = 0;
  for (const auto& [name, v] : vals_) nhwc += v.nhwc;
  return where() + " " + precision_name(opt_.precision) + ": " + std::to_string(ops_) + " device ops (" +
         std::to_string(fused_nodes_) + " nodes fused), " + std::to_string(segs_.size()) + " segments, arena " +
         std::to_string(arena_bytes_ >> 20) + " MiB for " + std::to_string(intermediate_bytes_ >> 20) +
         " MiB of values, weights " + std::to_string(weights_used_ >> 20) + " of " + std::to_string(weights_cap_ >> 20) +
         " MiB" + (extra_weights_.empty() ? "" : " + " + std::to_string(extra_weights_.size()) + " extra (" +
                                                   std::to_string(extra_weight_bytes_ >> 10) + " KiB)") +
         ", " + std::to_string(nhwc) + " NHWC values" + (opt_.cuda_graph ? ", CUDA graphs" : "");
}

class CudaBackend final : public DeviceBackend {
 public:
  CudaBackend(const DeviceOptions& o, std::string device_name) : opt_(o), name_(std::move(device_name)) {}
  std::string name() const override { return name_; }
  bool supports(const Graph& graph, const Node& node) const override { return cuda_supports(graph, node); }
  Expected<std::unique_ptr<DeviceProgram>> compile(const Graph& graph,
                                                   const std::vector<DeviceSegmentSpec>& segments) override {
    auto p = std::make_unique<CudaProgram>(graph, opt_);
    FERRY_RETURN_IF_ERROR(p->init(segments));
    return std::unique_ptr<DeviceProgram>(std::move(p));
  }

 private:
  DeviceOptions opt_;
  std::string name_;
};

}  // namespace

Expected<std::unique_ptr<DeviceBackend>> make_cuda_backend(const DeviceOptions& options) {
  const std::string dev = "cuda:" + std::to_string(options.device);
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess)
    return not_found(dev + ": no usable CUDA device (" + cudaGetErrorName(e) + ": " + cudaGetErrorString(e) + ")");
  if (count == 0) return not_found(dev + ": no CUDA device found");
  if (options.device < 0 || options.device >= count)
    return not_found(dev + ": no such device (this machine has " + std::to_string(count) + " CUDA device" +
                     (count == 1 ? ")" : "s)"));
  cudaDeviceProp prop{};
  FERRY_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&prop, options.device), dev);
  if (options.precision == DType::kBFloat16 && prop.major < 8)
    return unsupported(dev + ": bf16 needs compute capability 8.0 or newer");
  return std::unique_ptr<DeviceBackend>(std::make_unique<CudaBackend>(options, dev + " (" + prop.name + ")"));
}

}  // namespace ferry::cuda
