// cuda_program.cc — CudaBackend and the compiled CudaProgram: fusion grouping, arena planning, weight upload,
// staging, and the per-segment run loop (optionally replayed from a CUDA graph). Layout choices and the transfers
// at the segment edges live in cuda_program_layout.cc; the class itself in cuda_program.h.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <unordered_map>
#include <thread>
#include <unordered_set>

#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/conv_layout.h"
#include "backends/cuda/cuda_ops.h"
#include "backends/cuda/cuda_program.h"
#include "backends/cuda/kernels/launch.h"
#include "core/float_convert.h"
#include "runtime/memory_plan.h"

namespace ferry::cuda {

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
  for (Slot& sl : slots_) {
    if (sl.copy) {
      cudaStreamSynchronize(sl.copy);
      cudaStreamDestroy(sl.copy);
    }
    for (cudaEvent_t e : {sl.up_start, sl.up_done, sl.compute_start, sl.compute_done, sl.down_done})
      if (e) cudaEventDestroy(e);
    if (sl.stage) cudaFree(sl.stage);
    if (sl.pinned) cudaFreeHost(sl.pinned);
  }
  if (cudnn_) cudnnDestroy(cudnn_);
  if (lt_) cublasLtDestroy(lt_);
  if (stream_) cudaStreamDestroy(stream_);
  for (void* p : extra_weights_) cudaFree(p);
  for (void* p : {arena_, static_cast<void*>(weights_), workspace_})
    if (p) cudaFree(p);
}

Status CudaProgram::create_resources() {
  FERRY_CUDA_RETURN_IF_ERROR(cudaSetDevice(opt_.device), where());
  FERRY_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), where() + ": stream");
  FERRY_CUDNN_RETURN_IF_ERROR(cudnnCreate(&cudnn_), where() + ": cuDNN handle");
  FERRY_CUDNN_RETURN_IF_ERROR(cudnnSetStream(cudnn_, stream_), where());
  FERRY_CUBLAS_RETURN_IF_ERROR(cublasLtCreate(&lt_), where() + ": cuBLASLt handle");
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

Status CudaProgram::init(const std::vector<DeviceSegmentSpec>& specs) {
  FERRY_RETURN_IF_ERROR(create_resources());
  std::vector<std::vector<OpGroup>> groups;
  FERRY_RETURN_IF_ERROR(plan(specs, &groups));
  size_t pinned_bytes = 0;
  segs_.resize(specs.size());
  for (size_t k = 0; k < specs.size(); ++k) {
    for (auto [names, list] : {std::pair{&specs[k].uploads, &segs_[k].up}, {&specs[k].downloads, &segs_[k].down}})
      for (const auto& name : *names) {
        Val& v = vals_[name];
        Transfer t{&v, pinned_bytes, static_cast<size_t>(shape_numel(v.shape))};
        if (v.dtype != opt_.precision && v.dtype != DType::kFloat)
          return unsupported(where() + ": value '" + name + "' of type " + dtype_name(v.dtype) + " cannot cross to the host");
        pinned_bytes += align_up(t.count * sizeof(float));
        list->push_back(t);
      }
  }
  if (pinned_bytes >= kParallelCopyBytes) {  // large inputs: parallel host copies (cuda_program_layout.cc)
    const char* e = std::getenv("FERRY_CUDA_COPY_THREADS");
    const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
    const int threads = e ? std::atoi(e) : static_cast<int>(std::min(8u, std::max(1u, hw / 2)));
    if (threads > 1) copy_pool_ = std::make_unique<ThreadPool>(threads);
  }
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
  if (const char* e = std::getenv("FERRY_CUDA_FENCE")) {
    const std::string v = e;
    if (v == "none" || v == "0") fence_ = Fence::kNone;
    else if (v == "graph") fence_ = Fence::kGraph;
    else if (v == "all") fence_ = Fence::kAll;
    else if (v != "residual") return invalid_argument("FERRY_CUDA_FENCE=" + v + ": expected residual, graph, all or none");
  }
  if (const char* e = std::getenv("FERRY_CUDA_STAGE_F32"); e && std::strcmp(e, "1") == 0) stage_narrow_ = false;
  // Diagnostics: FERRY_CUDA_SYNC_OPS=1 waits on the host for every op before enqueuing the next (no CUDA graphs).
  if (const char* e = std::getenv("FERRY_CUDA_SYNC_OPS"); e && std::strcmp(e, "1") == 0) {
    sync_ops_ = true;
    opt_.cuda_graph = false;
  }
  return create_slots(opt_.transfers ? pinned_bytes : 0);
}

// FERRY_CUDA_INFLIGHT slots (default 2, 1..8; 1 when profiling, whose per-op events are shared), each with
// `staging_bytes` of pinned and of device staging.
Status CudaProgram::create_slots(size_t staging_bytes) {
  int n = 2;
  if (const char* e = std::getenv("FERRY_CUDA_INFLIGHT")) n = std::clamp(std::atoi(e), 1, 8);
  if (profile_ || sync_ops_) n = 1;
  slots_.resize(static_cast<size_t>(n));
  for (Slot& sl : slots_) {
    FERRY_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&sl.copy, cudaStreamNonBlocking), where() + ": copy stream");
    for (cudaEvent_t* e : {&sl.up_start, &sl.up_done, &sl.compute_start, &sl.compute_done, &sl.down_done})
      FERRY_CUDA_RETURN_IF_ERROR(cudaEventCreate(e), where() + ": event");
    if (staging_bytes == 0) continue;
    FERRY_CUDA_RETURN_IF_ERROR(cudaMallocHost(reinterpret_cast<void**>(&sl.pinned), staging_bytes),
                               where() + ": pinned staging of " + std::to_string(staging_bytes >> 20) + " MiB");
    FERRY_CUDA_RETURN_IF_ERROR(cudaMalloc(reinterpret_cast<void**>(&sl.stage), staging_bytes),
                               where() + ": device staging of " + std::to_string(staging_bytes >> 20) + " MiB");
  }
  return Status::ok();
}

Slot& CudaProgram::acquire_slot() {
  std::unique_lock<std::mutex> lock(slot_mu_);
  for (;;) {
    for (Slot& sl : slots_)
      if (!sl.busy) {
        sl.busy = true;
        return sl;
      }
    slot_freed_.wait(lock);
  }
}

void CudaProgram::release_slot(Slot& sl) {
  {
    std::lock_guard<std::mutex> lock(slot_mu_);
    sl.busy = false;
  }
  slot_freed_.notify_one();
}

// cuDNN 9's Hopper conv kernels overlap their predecessor (programmatic dependent launch, inferred from the A/B in
// gpu.md, not traced); on the H100 a graph-API conv whose fused residual operand came from an earlier op then read
// it too early in most runs at batch 16-32
// (resnet50 FP16: the first 3-6 images wrong, runs of one process differing; docs/gpu.md "FP16 race"). An empty
// kernel before each such conv is a full ordering point, in streams and in captured graphs. FERRY_CUDA_FENCE:
// residual (default), graph (before every graph-API conv), all (before every op), none.
Status CudaProgram::enqueue_fenced(Segment& seg, size_t i, const RunContext& rc) {
  CudaOp& op = *seg.ops[i];
  const bool fence = fence_ == Fence::kAll || (fence_ == Fence::kGraph && op.cudnn_graph()) ||
                     (fence_ == Fence::kResidual && op.cudnn_graph_residual());
  if (fence) FERRY_CUDA_RETURN_IF_ERROR(stream_fence(stream_), where() + ": fence before " + seg.op_names[i]);
  return op.enqueue(rc);
}

Status CudaProgram::enqueue_ops(Segment& seg) {
  RunContext rc{stream_, cudnn_, lt_, workspace_, kWorkspaceBytes};
  if (!opt_.cuda_graph) {
    for (size_t i = 0; i < seg.ops.size(); ++i) {
      if (profile_) cudaEventRecord(seg.marks[i], stream_);
      FERRY_RETURN_IF_ERROR(enqueue_fenced(seg, i, rc));
      if (sync_ops_) FERRY_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_), where() + ": " + seg.op_names[i]);
    }
    if (profile_ && !seg.ops.empty()) cudaEventRecord(seg.marks.back(), stream_);
    return Status::ok();
  }
  if (!seg.exec) {
    FERRY_CUDA_RETURN_IF_ERROR(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), where() + ": capture");
    Status st = Status::ok();
    for (size_t i = 0; i < seg.ops.size() && st.is_ok(); ++i) st = enqueue_fenced(seg, i, rc);
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

Status CudaProgram::run_segment(size_t k, const std::vector<const Tensor*>& inputs, std::vector<Tensor>* outputs,
                                DeviceTimings* timings) {
  if (k >= segs_.size()) return internal_error(where() + ": no segment " + std::to_string(k));
  Segment& seg = segs_[k];
  if (opt_.transfers) {
    if (inputs.size() != seg.up.size()) return internal_error(where() + ": wrong number of segment inputs");
    for (size_t i = 0; i < seg.up.size(); ++i) {
      const Transfer& t = seg.up[i];
      const Tensor& h = *inputs[i];
      if (h.dtype() != DType::kFloat || static_cast<size_t>(h.numel()) != t.count)
        return invalid_argument(where() + ": host value for upload " + std::to_string(i) + " has type " +
                                dtype_name(h.dtype()) + " " + shape_to_string(h.shape()) + ", expected float " +
                                shape_to_string(t.val->shape));
    }
  }
  FERRY_CUDA_RETURN_IF_ERROR(cudaSetDevice(opt_.device), where());
  Slot& sl = acquire_slot();
  Status st = run_on_slot(seg, inputs, outputs, timings, sl);
  if (!st.is_ok()) {  // leave nothing of this call running on its slot's buffers
    cudaStreamSynchronize(sl.copy);
    cudaStreamSynchronize(stream_);
  }
  release_slot(sl);
  return st;
}

// One call on its slot: stage and upload on the slot's copy stream; convert, run and convert back on the compute
// stream once the upload is done; download on the copy stream once the compute is done. Another call's upload
// overlaps this call's compute, and this call's download the next call's compute.
Status CudaProgram::run_on_slot(Segment& seg, const std::vector<const Tensor*>& inputs, std::vector<Tensor>* outputs,
                                DeviceTimings* timings, Slot& sl) {
  const bool io = opt_.transfers;
  auto t0 = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(stage_mu_);
    FERRY_CUDA_RETURN_IF_ERROR(cudaEventRecord(sl.up_start, sl.copy), where());
    for (size_t i = 0; io && i < seg.up.size(); ++i)
      FERRY_RETURN_IF_ERROR(stage_upload(seg.up[i], inputs[i]->raw_data(), sl));
    FERRY_CUDA_RETURN_IF_ERROR(cudaEventRecord(sl.up_done, sl.copy), where());
  }
  {
    std::lock_guard<std::mutex> lock(compute_mu_);
    FERRY_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(stream_, sl.up_done, 0), where());
    FERRY_CUDA_RETURN_IF_ERROR(cudaEventRecord(sl.compute_start, stream_), where());
    for (size_t i = 0; io && i < seg.up.size(); ++i) FERRY_RETURN_IF_ERROR(convert_upload(seg.up[i], sl));
    FERRY_RETURN_IF_ERROR(enqueue_ops(seg));
    for (size_t i = 0; io && i < seg.down.size(); ++i) FERRY_RETURN_IF_ERROR(convert_download(seg.down[i], sl));
    FERRY_CUDA_RETURN_IF_ERROR(cudaEventRecord(sl.compute_done, stream_), where());
  }
  FERRY_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(sl.copy, sl.compute_done, 0), where());
  for (size_t i = 0; io && i < seg.down.size(); ++i) {
    const Transfer& t = seg.down[i];
    FERRY_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(sl.pinned + t.pinned_offset, sl.stage + t.pinned_offset,
                                               staged_bytes(t), cudaMemcpyDeviceToHost, sl.copy),
                               where() + ": download");
  }
  FERRY_CUDA_RETURN_IF_ERROR(cudaEventRecord(sl.down_done, sl.copy), where());
  auto t1 = std::chrono::steady_clock::now();
  FERRY_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(sl.down_done), where() + ": run");
  outputs->clear();
  if (io) {
    std::lock_guard<std::mutex> lock(stage_mu_);
    for (const Transfer& t : seg.down) {
      Tensor out = Tensor::empty(DType::kFloat, t.val->shape);
      finish_download(t, sl, out.data<float>());
      outputs->push_back(std::move(out));
    }
  }
  float ms[3] = {};
  cudaEventElapsedTime(&ms[0], sl.up_start, sl.up_done);
  cudaEventElapsedTime(&ms[1], sl.compute_start, sl.compute_done);
  cudaEventElapsedTime(&ms[2], sl.compute_done, sl.down_done);
  if (profile_) {  // one slot when profiling: the marks belong to this call
    for (size_t i = 0; i < seg.ops.size(); ++i) {
      float op_ms = 0;
      cudaEventElapsedTime(&op_ms, seg.marks[i], seg.marks[i + 1]);
      op_ms_[seg.op_types[i] + " " + seg.op_names[i]] += op_ms;
      type_ms_[seg.op_types[i]] += op_ms;
    }
    if (&seg == &segs_.front()) ++profiled_runs_;
  }
  if (timings) {
    timings->enqueue_ms += std::chrono::duration<double, std::milli>(t1 - t0).count();
    timings->h2d_ms += ms[0];
    timings->compute_ms += ms[1];
    timings->d2h_ms += ms[2];
  }
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

namespace {

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
