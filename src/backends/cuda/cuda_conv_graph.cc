// cuda_conv_graph.cc — conv + bias + residual + Relu/Clip as one cuDNN backend-API operation graph (see the header).
#include "backends/cuda/cuda_conv_graph.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "backends/cuda/cuda_check.h"

namespace ferry::cuda {

namespace {

// Owns one backend descriptor.
class Desc {
 public:
  Desc() = default;
  ~Desc() { reset(); }
  Desc(Desc&& o) noexcept : d_(o.d_) { o.d_ = nullptr; }
  Desc& operator=(Desc&& o) noexcept {
    if (this != &o) {
      reset();
      d_ = o.d_;
      o.d_ = nullptr;
    }
    return *this;
  }
  Desc(const Desc&) = delete;
  Desc& operator=(const Desc&) = delete;
  cudnnBackendDescriptor_t get() const { return d_; }
  cudnnBackendDescriptor_t* addr() { return &d_; }
  void reset() {
    if (d_) cudnnBackendDestroyDescriptor(d_);
    d_ = nullptr;
  }
  Status create(cudnnBackendDescriptorType_t t, const std::string& where) {
    reset();
    return cudnn_status(cudnnBackendCreateDescriptor(t, &d_), where + ": create descriptor");
  }

 private:
  cudnnBackendDescriptor_t d_ = nullptr;
};

#define SET_ATTR(desc, attr, type, n, ptr) \
  FERRY_CUDNN_RETURN_IF_ERROR(cudnnBackendSetAttribute((desc).get(), attr, type, n, ptr), where + ": " #attr)
#define FINALIZE(desc, what) FERRY_CUDNN_RETURN_IF_ERROR(cudnnBackendFinalize((desc).get()), where + ": " what)

enum Uid : int64_t { kX = 1, kW, kB, kZ, kY, kHi, kConvOut = 101, kBiasOut, kAddOut, kReluOut };

// Strides of an NHWC-stored tensor described in NCHW dimension order (also OHWI filters and [1, K, 1, 1] biases).
void nhwc_strides(const int64_t* d, int64_t* s) {
  s[1] = 1;
  s[3] = d[1];
  s[2] = d[3] * d[1];
  s[0] = d[2] * d[3] * d[1];
}

Status make_tensor(Desc* t, int64_t uid, const int64_t* dims, cudnnDataType_t dt, bool is_virtual,
                   const std::string& where) {
  int64_t strides[4];
  nhwc_strides(dims, strides);
  const int64_t align = 16;
  const bool virt = is_virtual;
  FERRY_RETURN_IF_ERROR(t->create(CUDNN_BACKEND_TENSOR_DESCRIPTOR, where));
  SET_ATTR(*t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &dt);
  SET_ATTR(*t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims);
  SET_ATTR(*t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides);
  SET_ATTR(*t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
  SET_ATTR(*t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align);
  SET_ATTR(*t, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &virt);
  FINALIZE(*t, "tensor");
  return Status::ok();
}

// A pointwise op y = mode(x[, b]); clip_hi > 0 adds the Relu's upper clip.
Status make_pointwise(Desc* op, Desc* pw, cudnnPointwiseMode_t mode, const Desc& x, const Desc* b, const Desc& y,
                      double clip_hi, const std::string& where) {
  const cudnnDataType_t prec = CUDNN_DATA_FLOAT;
  FERRY_RETURN_IF_ERROR(pw->create(CUDNN_BACKEND_POINTWISE_DESCRIPTOR, where));
  SET_ATTR(*pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode);
  SET_ATTR(*pw, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &prec);
  if (mode == CUDNN_POINTWISE_RELU_FWD) {
    const double lo = 0.0;
    SET_ATTR(*pw, CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP, CUDNN_TYPE_DOUBLE, 1, &lo);
    if (clip_hi > 0) SET_ATTR(*pw, CUDNN_ATTR_POINTWISE_RELU_UPPER_CLIP, CUDNN_TYPE_DOUBLE, 1, &clip_hi);
  }
  FINALIZE(*pw, "pointwise descriptor");
  FERRY_RETURN_IF_ERROR(op->create(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, where));
  cudnnBackendDescriptor_t d = pw->get();
  SET_ATTR(*op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &d);
  d = x.get();
  SET_ATTR(*op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &d);
  if (b) {
    d = b->get();
    SET_ATTR(*op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &d);
  }
  d = y.get();
  SET_ATTR(*op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &d);
  FINALIZE(*op, "pointwise op");
  return Status::ok();
}

// A finalized execution plan, shared by the ops of one configuration key.
struct Plan {
  Desc plan;
  int64_t workspace = 0;
  int64_t engine = -1;
  int candidates = 0;
  float ms = 0;
};

// Global index of the engine behind an engine config (for logs; -1 when cuDNN does not say).
int64_t engine_index(const Desc& cfg) {
  Desc eng;
  if (!eng.create(CUDNN_BACKEND_ENGINE_DESCRIPTOR, "engine").is_ok()) return -1;
  int64_t n = 0;
  cudnnBackendDescriptor_t e = eng.get();
  if (cudnnBackendGetAttribute(cfg.get(), CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n, &e) !=
      CUDNN_STATUS_SUCCESS)
    return -1;
  int64_t idx = -1;
  if (cudnnBackendGetAttribute(e, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &n, &idx) !=
      CUDNN_STATUS_SUCCESS)
    return -1;
  return idx;
}

// Builds the operation graph of `d` and picks the fastest of the first few engine configs that finalize.
Status make_plan(BuildContext& ctx, const ConvGraphDesc& d, const ConvGraphPointers& p, const std::string& where,
                 Plan* out) {
  const cudnnDataType_t io = cudnn_dtype(d.dtype), acc = CUDNN_DATA_FLOAT;
  const int64_t bias_dims[4] = {1, d.y[1], 1, 1};
  Desc x, w, y, b, z, conv_out, bias_out, add_out;
  FERRY_RETURN_IF_ERROR(make_tensor(&x, kX, d.x, io, false, where));
  FERRY_RETURN_IF_ERROR(make_tensor(&w, kW, d.w, io, false, where));
  FERRY_RETURN_IF_ERROR(make_tensor(&y, kY, d.y, io, false, where));
  if (d.bias) FERRY_RETURN_IF_ERROR(make_tensor(&b, kB, bias_dims, io, false, where));
  if (d.residual) FERRY_RETURN_IF_ERROR(make_tensor(&z, kZ, d.y, io, false, where));
  const bool min_clip = d.act == ConvGraphDesc::Act::kClip && d.clip_as_min;
  Desc hi, relu_out;
  if (min_clip) FERRY_RETURN_IF_ERROR(make_tensor(&hi, kHi, bias_dims, io, false, where));
  // The chain conv -> [+b] -> [+z] -> [act]: every stage but the last writes a virtual FP32 tensor.
  const int stages = 1 + d.bias + d.residual + (d.act != ConvGraphDesc::Act::kNone) + min_clip;
  int stage = 0;
  auto next_out = [&](Desc* virt, int64_t uid) -> Expected<const Desc*> {
    if (++stage == stages) return &y;
    FERRY_RETURN_IF_ERROR(make_tensor(virt, uid, d.y, acc, true, where));
    return virt;
  };
  Desc conv_desc, conv_op;
  FERRY_RETURN_IF_ERROR(conv_desc.create(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, where));
  const int64_t spatial = 2;
  const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  const int64_t pads[2] = {d.pads[0], d.pads[1]}, strides[2] = {d.strides[0], d.strides[1]},
                dil[2] = {d.dilations[0], d.dilations[1]};
  SET_ATTR(conv_desc, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &spatial);
  SET_ATTR(conv_desc, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &acc);
  SET_ATTR(conv_desc, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode);
  SET_ATTR(conv_desc, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, pads);
  SET_ATTR(conv_desc, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, pads);
  SET_ATTR(conv_desc, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, dil);
  SET_ATTR(conv_desc, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, strides);
  FINALIZE(conv_desc, "convolution descriptor");
  FERRY_ASSIGN_OR_RETURN(const Desc* cur, next_out(&conv_out, kConvOut));
  {
    FERRY_RETURN_IF_ERROR(conv_op.create(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR, where));
    const float alpha = 1.0f, beta = 0.0f;
    cudnnBackendDescriptor_t v = x.get();
    SET_ATTR(conv_op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &v);
    v = w.get();
    SET_ATTR(conv_op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &v);
    v = cur->get();
    SET_ATTR(conv_op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &v);
    v = conv_desc.get();
    SET_ATTR(conv_op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &v);
    SET_ATTR(conv_op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, &alpha);
    SET_ATTR(conv_op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, &beta);
    FINALIZE(conv_op, "convolution op");
  }
  Desc bias_pw, bias_op, add_pw, add_op, act_pw, act_op, min_pw, min_op;
  std::vector<cudnnBackendDescriptor_t> ops{conv_op.get()};
  if (d.bias) {
    const Desc* in = cur;
    FERRY_ASSIGN_OR_RETURN(cur, next_out(&bias_out, kBiasOut));
    FERRY_RETURN_IF_ERROR(make_pointwise(&bias_op, &bias_pw, CUDNN_POINTWISE_ADD, *in, &b, *cur, 0, where));
    ops.push_back(bias_op.get());
  }
  if (d.residual) {
    const Desc* in = cur;
    FERRY_ASSIGN_OR_RETURN(cur, next_out(&add_out, kAddOut));
    FERRY_RETURN_IF_ERROR(make_pointwise(&add_op, &add_pw, CUDNN_POINTWISE_ADD, *in, &z, *cur, 0, where));
    ops.push_back(add_op.get());
  }
  if (d.act != ConvGraphDesc::Act::kNone) {
    const Desc* in = cur;
    FERRY_ASSIGN_OR_RETURN(cur, next_out(&relu_out, kReluOut));
    FERRY_RETURN_IF_ERROR(make_pointwise(&act_op, &act_pw, CUDNN_POINTWISE_RELU_FWD, *in, nullptr, *cur,
                                         d.act == ConvGraphDesc::Act::kClip && !min_clip ? d.clip_hi : 0.0, where));
    ops.push_back(act_op.get());
  }
  if (min_clip) {
    const Desc* in = cur;
    FERRY_ASSIGN_OR_RETURN(cur, next_out(nullptr, 0));
    FERRY_RETURN_IF_ERROR(make_pointwise(&min_op, &min_pw, CUDNN_POINTWISE_MIN, *in, &hi, *cur, 0, where));
    ops.push_back(min_op.get());
  }
  Desc graph;
  FERRY_RETURN_IF_ERROR(graph.create(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, where));
  cudnnHandle_t handle = ctx.cudnn();
  SET_ATTR(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, static_cast<int64_t>(ops.size()),
           ops.data());
  SET_ATTR(graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
  FINALIZE(graph, "operation graph");

  Desc heur;
  FERRY_RETURN_IF_ERROR(heur.create(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, where));
  cudnnBackendDescriptor_t gd = graph.get();
  const cudnnBackendHeurMode_t heur_mode = CUDNN_HEUR_MODE_A;
  SET_ATTR(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &gd);
  SET_ATTR(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &heur_mode);
  FINALIZE(heur, "heuristics");
  int64_t count = 0;
  FERRY_CUDNN_RETURN_IF_ERROR(
      cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count, nullptr),
      where + ": heuristics results");
  if (count <= 0) return unsupported(where + ": cuDNN heuristics offer no engine for this conv graph");
  std::vector<Desc> cfgs(static_cast<size_t>(count));
  std::vector<cudnnBackendDescriptor_t> raw;
  for (auto& c : cfgs) {
    FERRY_RETURN_IF_ERROR(c.create(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, where));
    raw.push_back(c.get());
  }
  int64_t got = 0;
  FERRY_CUDNN_RETURN_IF_ERROR(cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                                       CUDNN_TYPE_BACKEND_DESCRIPTOR, count, &got, raw.data()),
                              where + ": heuristics results");

  int max_candidates = 4;
  if (const char* e = std::getenv("FERRY_CUDNN_GRAPH_CANDIDATES")) max_candidates = std::max(1, std::atoi(e));
  cudaStream_t stream = nullptr;
  FERRY_CUDNN_RETURN_IF_ERROR(cudnnGetStream(handle, &stream), where);
  cudaEvent_t ev[2] = {};
  FERRY_CUDA_RETURN_IF_ERROR(cudaEventCreate(&ev[0]), where + ": event");
  FERRY_CUDA_RETURN_IF_ERROR(cudaEventCreate(&ev[1]), where + ": event");
  int64_t uids[6];
  void* ptrs[6];
  int64_t n_ptrs = 0;
  for (auto [uid, ptr] : {std::pair<int64_t, void*>{kX, p.x}, {kW, p.w}, {kY, p.y}, {kB, d.bias ? p.b : nullptr},
                          {kZ, d.residual ? p.z : nullptr},
                          {kHi, d.act == ConvGraphDesc::Act::kClip && d.clip_as_min ? p.hi : nullptr}}) {
    if (!ptr) continue;
    uids[n_ptrs] = uid;
    ptrs[n_ptrs++] = ptr;
  }
  void* workspace = ctx.workspace();
  Status last = unsupported(where + ": no cuDNN engine config finalizes for this conv graph");
  for (int64_t i = 0; i < got && out->candidates < max_candidates; ++i) {
    Desc plan;
    FERRY_RETURN_IF_ERROR(plan.create(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, where));
    cudnnBackendDescriptor_t cd = cfgs[static_cast<size_t>(i)].get();
    SET_ATTR(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
    SET_ATTR(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cd);
    if (cudnnBackendFinalize(plan.get()) != CUDNN_STATUS_SUCCESS) continue;
    int64_t ws = 0, n = 0;
    if (cudnnBackendGetAttribute(plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &n, &ws) !=
            CUDNN_STATUS_SUCCESS ||
        ws < 0 || static_cast<size_t>(ws) > ctx.workspace_bytes())
      continue;
    Desc pack;
    FERRY_RETURN_IF_ERROR(pack.create(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, where));
    SET_ATTR(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, n_ptrs, uids);
    SET_ATTR(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, n_ptrs, ptrs);
    SET_ATTR(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace);
    FINALIZE(pack, "variant pack");
    // One untimed run (lazy kernel loading), then the best of three.
    cudnnStatus_t st = cudnnBackendExecute(handle, plan.get(), pack.get());
    if (st != CUDNN_STATUS_SUCCESS || cudaStreamSynchronize(stream) != cudaSuccess) {
      last = cudnn_status(st == CUDNN_STATUS_SUCCESS ? CUDNN_STATUS_EXECUTION_FAILED : st, where + ": trial run");
      cudaGetLastError();
      continue;
    }
    float best = 1e30f;
    for (int rep = 0; rep < 3; ++rep) {
      cudaEventRecord(ev[0], stream);
      cudnnBackendExecute(handle, plan.get(), pack.get());
      cudaEventRecord(ev[1], stream);
      cudaEventSynchronize(ev[1]);
      float ms = 0;
      cudaEventElapsedTime(&ms, ev[0], ev[1]);
      best = std::min(best, ms);
    }
    ++out->candidates;
    if (out->plan.get() == nullptr || best < out->ms) {
      out->plan = std::move(plan);
      out->workspace = ws;
      out->ms = best;
      out->engine = engine_index(cfgs[static_cast<size_t>(i)]);
    }
  }
  cudaEventDestroy(ev[0]);
  cudaEventDestroy(ev[1]);
  FERRY_CUDA_RETURN_IF_ERROR(cudaGetLastError(), where + ": engine trials");
  if (!out->plan.get()) return last;
  return Status::ok();
}

class Exec final : public ConvGraphExec {
 public:
  Exec(std::shared_ptr<Plan> plan, Desc pack, std::string name)
      : plan_(std::move(plan)), pack_(std::move(pack)), name_(std::move(name)) {}
  Status execute(cudnnHandle_t handle) override {
    return cudnn_status(cudnnBackendExecute(handle, plan_->plan.get(), pack_.get()), name_);
  }
  std::string engine() const override {
    return "engine " + std::to_string(plan_->engine) + " of " + std::to_string(plan_->candidates) + " timed, " +
           std::to_string(plan_->ms) + " ms";
  }

 private:
  std::shared_ptr<Plan> plan_;
  Desc pack_;
  std::string name_;
};

}  // namespace

std::string ConvGraphDesc::key() const {
  std::string k = "convgraph:" + std::to_string(static_cast<int>(dtype));
  for (const int64_t* a : {x, w, y})
    for (int i = 0; i < 4; ++i) k += "," + std::to_string(a[i]);
  for (const int* a : {pads, strides, dilations}) k += "," + std::to_string(a[0]) + "," + std::to_string(a[1]);
  k += bias ? ",b" : ",-";
  k += residual ? "z" : "-";
  k += std::to_string(static_cast<int>(act)) + "," + std::to_string(clip_hi) + (clip_as_min ? "m" : "");
  return k;
}

bool conv_graph_enabled() {
  const char* e = std::getenv("FERRY_CUDNN_GRAPH");
  return !(e && std::strcmp(e, "0") == 0);
}

bool conv_graph_verbose() {
  const char* e = std::getenv("FERRY_CUDNN_GRAPH_VERBOSE");
  return e && std::strcmp(e, "0") != 0;
}

Expected<std::unique_ptr<ConvGraphExec>> build_conv_graph(BuildContext& ctx, const ConvGraphDesc& d,
                                                          const ConvGraphPointers& p, const std::string& name) {
  if (d.dtype != DType::kFloat16 && d.dtype != DType::kBFloat16)
    return unsupported(name + ": the cuDNN graph path runs FP16/BF16 only");
  const std::string where = name + " (cuDNN graph)";
  std::shared_ptr<void>& slot = ctx.cached(d.key());
  if (!slot) {
    auto plan = std::make_shared<Plan>();
    Status st = make_plan(ctx, d, p, where, plan.get());
    if (!st.is_ok()) {
      // Remember the failure (an empty plan) so equal convs fall back without searching again.
      slot = plan;
      return st;
    }
    slot = plan;
    if (conv_graph_verbose())
      std::fprintf(stderr, "[cudnn graph] %s: engine %lld (%d timed, %.4f ms)\n", d.key().c_str(),
                   static_cast<long long>(plan->engine), plan->candidates, plan->ms);
  }
  auto plan = std::static_pointer_cast<Plan>(slot);
  if (!plan->plan.get()) return unsupported(where + ": no cuDNN engine for this configuration (cached)");
  int64_t uids[6];
  void* ptrs[6];
  int64_t n = 0;
  for (auto [uid, ptr] : {std::pair<int64_t, void*>{kX, p.x}, {kW, p.w}, {kY, p.y}, {kB, d.bias ? p.b : nullptr},
                          {kZ, d.residual ? p.z : nullptr},
                          {kHi, d.act == ConvGraphDesc::Act::kClip && d.clip_as_min ? p.hi : nullptr}}) {
    if (!ptr) continue;
    uids[n] = uid;
    ptrs[n++] = ptr;
  }
  void* workspace = ctx.workspace();
  Desc pack;
  FERRY_RETURN_IF_ERROR(pack.create(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, where));
  SET_ATTR(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, n, uids);
  SET_ATTR(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, n, ptrs);
  SET_ATTR(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace);
  FINALIZE(pack, "variant pack");
  return std::unique_ptr<ConvGraphExec>(std::make_unique<Exec>(std::move(plan), std::move(pack), name));
}

}  // namespace ferry::cuda
