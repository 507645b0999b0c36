// cuda_conv.cc — Conv (+ residual Add + Relu / Clip(0, hi) fused) through cuDNN, and the pooling ops.
//
// NHWC FP16/BF16 convs first try cuDNN's graph API (cuda_conv_graph.h): conv + bias + residual + activation as
// one engine picked by heuristics and timing. Otherwise (FP32, NCHW, no engine) the legacy API:
// cudnnConvolutionBiasActivationForward, y = relu(conv(x, w) + alpha2 * z + bias), the fused group
// Conv -> Add(z) -> Relu in one launch; the algorithm is chosen once at build time by timing the candidates
// on the planned buffers (cudnnFindConvolutionForwardAlgorithmEx), within the program's workspace; a fused Clip
// runs after it as cudnnActivationForward (CLIPPED_RELU). FP32 runs without TF32 (CUDNN_FMA_MATH) so results
// track the CPU backend to 1e-4; FP16/BF16 use tensor cores with FP32 accumulation. Inputs stored with padded
// channels (DevTensor::stored_c, conv_layout.h) get a filter with zero extra channels.
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>

#include "backends/cuda/conv_layout.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/cuda_conv_graph.h"
#include "backends/cuda/cuda_ops.h"
#include "backends/cuda/kernels/launch.h"

namespace ferry::cuda {

namespace {

struct ConvGeometry {
  std::array<int, 2> pads{}, strides{1, 1}, dilations{1, 1};
  int group = 1;
};

bool conv_geometry(const Node& n, ConvGeometry* geo) {
  std::string auto_pad = n.attr_string("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "VALID") return false;
  auto pads = n.attr_ints("pads", {0, 0, 0, 0});
  auto strides = n.attr_ints("strides", {1, 1});
  auto dil = n.attr_ints("dilations", {1, 1});
  if (pads.size() != 4 || strides.size() != 2 || dil.size() != 2) return false;
  if (pads[0] != pads[2] || pads[1] != pads[3]) return false;  // cuDNN pads symmetrically
  if (auto_pad == "VALID") pads = {0, 0, 0, 0};
  for (int i = 0; i < 2; ++i) {
    geo->pads[i] = static_cast<int>(pads[i]);
    geo->strides[i] = static_cast<int>(strides[i]);
    geo->dilations[i] = static_cast<int>(dil[i]);
  }
  geo->group = static_cast<int>(n.attr_int("group", 1));
  return geo->group >= 1;
}

}  // namespace

bool conv_reads_s2d(const Graph& g, const Node& n, const Shape& x, DType precision, int64_t* pad) {
  static const bool enabled = [] {
    const char* e = std::getenv("FERRY_CUDA_S2D");
    return !(e && std::strcmp(e, "0") == 0);
  }();
  if (!enabled || n.op_type != "Conv" || !n.domain.empty() || n.inputs.size() < 2) return false;
  ConvGeometry geo;
  auto wit = g.initializers.find(n.inputs[1]);
  if (!conv_geometry(n, &geo) || wit == g.initializers.end() || wit->second.rank() != 4) return false;
  const Shape& ws = wit->second.shape();
  if (x.size() != 4 || ws[1] != x[1]) return false;
  const int64_t strides[2] = {geo.strides[0], geo.strides[1]}, dil[2] = {geo.dilations[0], geo.dilations[1]};
  const int64_t pads[4] = {geo.pads[0], geo.pads[1], geo.pads[0], geo.pads[1]};
  return s2d_stem_fits(x, ws[2], ws[3], strides, pads, dil, geo.group, precision, pad);
}

namespace {

class ConvOp : public CudaOp {
 public:
  ~ConvOp() override {
    if (x_desc_) cudnnDestroyTensorDescriptor(x_desc_);
    if (y_desc_) cudnnDestroyTensorDescriptor(y_desc_);
    if (b_desc_) cudnnDestroyTensorDescriptor(b_desc_);
    if (w_desc_) cudnnDestroyFilterDescriptor(w_desc_);
    if (conv_) cudnnDestroyConvolutionDescriptor(conv_);
    if (act_) cudnnDestroyActivationDescriptor(act_);
    if (clip_) cudnnDestroyActivationDescriptor(clip_);
  }
  Status build(BuildContext& ctx, const OpGroup& group);
  bool cudnn_graph() const override { return graph_ != nullptr; }
  bool cudnn_graph_residual() const override { return graph_ != nullptr && z_ != nullptr; }
  Status enqueue(const RunContext& rc) override {
    if (gemm_) return cublas_status(gemm_->run(rc), name_);
    if (graph_) return graph_->execute(rc.cudnn);
    if (dw_) return cuda_status(depthwise_conv_nhwc(dtype_, x_, w_, b_, z_, y_, dwp_, rc.stream), name_);
    FERRY_RETURN_IF_ERROR(enqueue_legacy(rc));
    if (!clip_) return Status::ok();
    const float one = 1.0f, zero = 0.0f;
    return cudnn_status(cudnnActivationForward(rc.cudnn, clip_, &one, y_desc_, y_, &zero, y_desc_, y_), name_ + ": clip");
  }

 private:
  Status enqueue_legacy(const RunContext& rc) {
    const float one = 1.0f, zero = 0.0f;
    if (fused_) {  // y = relu(conv + z + bias) in one call
      const float alpha2 = z_ ? 1.0f : 0.0f;
      return cudnn_status(cudnnConvolutionBiasActivationForward(rc.cudnn, &one, x_desc_, x_, w_desc_, w_, conv_, algo_,
                                                                rc.workspace, workspace_, &alpha2, y_desc_,
                                                                z_ ? z_ : y_, b_desc_, b_, act_, y_desc_, y_),
                          name_);
    }
    // No activation: the fused call allows only one (slow) algorithm, so convolve, then add bias and residual.
    FERRY_CUDNN_RETURN_IF_ERROR(cudnnConvolutionForward(rc.cudnn, &one, x_desc_, x_, w_desc_, w_, conv_, algo_,
                                                        rc.workspace, workspace_, &zero, y_desc_, y_),
                                name_);
    FERRY_CUDNN_RETURN_IF_ERROR(cudnnAddTensor(rc.cudnn, &one, b_desc_, b_, &one, y_desc_, y_), name_ + ": bias");
    if (z_) FERRY_CUDNN_RETURN_IF_ERROR(cudnnAddTensor(rc.cudnn, &one, y_desc_, z_, &one, y_desc_, y_), name_);
    return Status::ok();
  }

  std::string name_;
  std::unique_ptr<ConvGraphExec> graph_;  // the cuDNN graph-API plan, when an engine took this conv
  std::unique_ptr<LtMatmul> gemm_;          // a 1x1 conv as one cuBLASLt GEMM (cuda_conv_gemm.cc)
  bool dw_ = false;                        // the own depthwise kernel (off with FERRY_CUDA_DW_KERNEL=0)
  DepthwiseParams dwp_;
  DType dtype_ = DType::kFloat;
  cudnnActivationDescriptor_t clip_ = nullptr;  // legacy path: a fused Clip(0, hi) after the conv
  cudnnTensorDescriptor_t x_desc_ = nullptr, y_desc_ = nullptr, b_desc_ = nullptr;
  cudnnFilterDescriptor_t w_desc_ = nullptr;
  cudnnConvolutionDescriptor_t conv_ = nullptr;
  cudnnActivationDescriptor_t act_ = nullptr;
  cudnnConvolutionFwdAlgo_t algo_ = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
  size_t workspace_ = 0;
  bool fused_ = false;
  void *x_ = nullptr, *w_ = nullptr, *b_ = nullptr, *z_ = nullptr, *y_ = nullptr;
};

// A 4-D descriptor in NCHW or NHWC storage.
Expected<cudnnTensorDescriptor_t> desc4(DType dt, const Shape& s, bool nhwc) {
  cudnnTensorDescriptor_t d = nullptr;
  FERRY_CUDNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&d), "tensor descriptor");
  Status st = cudnn_status(cudnnSetTensor4dDescriptor(d, nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW, cudnn_dtype(dt),
                                                      static_cast<int>(s[0]), static_cast<int>(s[1]),
                                                      static_cast<int>(s[2]), static_cast<int>(s[3])),
                           "tensor descriptor " + shape_to_string(s));
  if (!st.is_ok()) {
    cudnnDestroyTensorDescriptor(d);
    return st;
  }
  return d;
}

Status ConvOp::build(BuildContext& ctx, const OpGroup& group) {
  const Node& n = *group.nodes.front();
  name_ = "node " + group.name();
  const Graph& g = ctx.graph();
  ConvGeometry geo;
  if (!conv_geometry(n, &geo)) return unsupported(name_ + ": conv attributes not supported on CUDA");
  bool relu = false;
  float clip_lo = 0, clip_hi = 0;
  std::string residual;
  std::string conv_out = n.outputs[0];
  for (size_t i = 1; i < group.nodes.size(); ++i) {
    const Node& f = *group.nodes[i];
    if (f.op_type == "Relu") relu = true;
    if (f.op_type == "Clip" && !conv_clip_bounds(g, f, &clip_lo, &clip_hi))
      return unsupported(name_ + ": fused Clip bounds are not Relu6-like constants");
    if (f.op_type == "Add") residual = f.inputs[0] == conv_out ? f.inputs[1] : f.inputs[0];
    conv_out = f.outputs[0];
  }
  FERRY_ASSIGN_OR_RETURN(DevTensor x, ctx.value(n.inputs[0]));
  FERRY_ASSIGN_OR_RETURN(DevTensor y, ctx.value(group.nodes.back()->outputs[0]));
  const Tensor* w_host = nullptr;
  if (auto it = g.initializers.find(n.inputs[1]); it != g.initializers.end()) w_host = &it->second;
  if (!w_host) return unsupported(name_ + ": the weight is not a constant");
  const DType dt = x.dtype;
  const bool nhwc = x.nhwc || y.nhwc;
  const int64_t c_stored = nhwc && x.stored_c > x.shape[1] ? x.stored_c : x.shape[1];
  if (c_stored != x.shape[1] && geo.group != 1) return internal_error(name_ + ": padded channels on a grouped conv");
  // Depthwise convs (multiplier 1, C % 8 == 0) in FP16/BF16 NHWC run the own kernel (FERRY_CUDA_DW_KERNEL=0: cuDNN;
  // mobilenet_v2 b256 7.60 -> 4.96 ms on the H100, gpu.md): its filter is [R, S, C].
  const char* dw_env = std::getenv("FERRY_CUDA_DW_KERNEL");
  const Shape& w_shape = w_host->shape();
  dw_ = !(dw_env && std::strcmp(dw_env, "0") == 0) && nhwc && dt != DType::kFloat && c_stored == x.shape[1] &&
        geo.group == x.shape[1] && w_shape[0] == x.shape[1] && w_shape[1] == 1 && x.shape[1] % 8 == 0 &&
        y.shape[1] == x.shape[1];
  for (int i = 0; i < 2 && dw_; ++i) {  // the graph's output size must be the conv's
    const int64_t in = x.shape[static_cast<size_t>(2 + i)], kk = w_shape[static_cast<size_t>(2 + i)];
    dw_ = y.shape[static_cast<size_t>(2 + i)] ==
          (in + 2 * geo.pads[i] - geo.dilations[i] * (kk - 1) - 1) / geo.strides[i] + 1;
  }
  // Pad the filter's input channels only for a padded input (never for grouped convs, whose filter has C / group).
  int64_t filter_c = c_stored == x.shape[1] ? 0 : c_stored;
  // A space-to-depth input (the stride-2 stem, conv_layout.h): a stride-1 unpadded conv on the s2d image.
  const bool s2d = x.s2d_pad >= 0;
  Tensor w_s2d;
  Shape x_dims = x.shape;
  if (s2d) {
    int64_t pad = -1;
    if (!nhwc || !conv_reads_s2d(g, n, x.shape, dt, &pad) || pad != x.s2d_pad)
      return internal_error(name_ + ": a space-to-depth input this conv cannot read");
    w_s2d = filter_to_s2d(*w_host, c_stored);
    w_host = &w_s2d;
    x_dims = {x.shape[0], c_stored, (x.shape[2] + 2 * pad + 1) / 2, (x.shape[3] + 2 * pad + 1) / 2};
    geo.pads = {0, 0};
    geo.strides = {1, 1};
    filter_c = 0;
  }
  FERRY_ASSIGN_OR_RETURN(w_, ctx.upload_constant(dw_     ? filter_to_rsc(*w_host)
                                                 : nhwc ? filter_to_ohwi(*w_host, filter_c)
                                                        : *w_host,
                                                 dt));
  const int64_t k = w_host->dim(0);
  Tensor bias = Tensor::zeros(DType::kFloat, {k});
  if (n.has_input(2)) {
    auto it = g.initializers.find(n.inputs[2]);
    if (it == g.initializers.end() || it->second.numel() != k) return unsupported(name_ + ": the bias is not a constant");
    bias = it->second;
  }
  FERRY_ASSIGN_OR_RETURN(b_, ctx.upload_constant(bias, dt));
  if (!residual.empty()) {
    FERRY_ASSIGN_OR_RETURN(DevTensor z, ctx.value(residual));
    z_ = z.ptr;
  }
  x_ = x.ptr;
  y_ = y.ptr;
  dtype_ = dt;
  if (dw_) {
    auto i32 = [](int64_t v) { return static_cast<int>(v); };
    dwp_ = DepthwiseParams{i32(x.shape[0]), i32(x.shape[2]), i32(x.shape[3]), i32(x.shape[1]), i32(y.shape[2]),
                           i32(y.shape[3]), i32(w_shape[2]), i32(w_shape[3]), geo.strides[0], geo.strides[1],
                           geo.pads[0], geo.pads[1], geo.dilations[0], geo.dilations[1],
                           clip_hi > 0 ? 2 : relu ? 1 : 0, clip_hi};
    return Status::ok();
  }
  const bool pointwise = w_shape[2] == 1 && w_shape[3] == 1 && geo.strides[0] == 1 && geo.strides[1] == 1 &&
                         geo.pads[0] == 0 && geo.pads[1] == 0 && geo.group == 1;
  if (pointwise && nhwc && !s2d && c_stored == x.shape[1] && clip_hi == 0 && dt != DType::kFloat &&
      conv1x1_gemm_enabled()) {
    const int64_t m = y.shape[0] * y.shape[2] * y.shape[3];
    auto mm = build_conv1x1_gemm(ctx, name_, dt, m, x.shape[1], k, x_, w_, b_, z_, y_, relu);
    if (mm) {
      gemm_ = std::move(*mm);
      return Status::ok();
    }
    if (conv_graph_verbose()) std::fprintf(stderr, "[1x1 gemm] fallback: %s\n", mm.status().to_string().c_str());
  }
  const Shape xs{x_dims[0], c_stored, x_dims[2], x_dims[3]};
  const Shape& ws = w_host->shape();
  const Shape wsp{ws[0], c_stored == x.shape[1] || s2d ? ws[1] : c_stored, ws[2], ws[3]};
  const char* grouped_env = std::getenv("FERRY_CUDNN_GRAPH_GROUPED");
  const bool grouped_ok = geo.group == 1 || (grouped_env && std::strcmp(grouped_env, "1") == 0);
  if (nhwc && dt != DType::kFloat && conv_graph_enabled() && grouped_ok) {
    ConvGraphDesc d;
    d.dtype = dt;
    for (int i = 0; i < 4; ++i) {
      d.x[i] = xs[static_cast<size_t>(i)];
      d.w[i] = wsp[static_cast<size_t>(i)];
      d.y[i] = y.shape[static_cast<size_t>(i)];
    }
    for (int i = 0; i < 2; ++i) {
      d.pads[i] = geo.pads[i];
      d.strides[i] = geo.strides[i];
      d.dilations[i] = geo.dilations[i];
    }
    d.bias = n.has_input(2);
    d.residual = z_ != nullptr;
    d.act = clip_hi > 0 ? ConvGraphDesc::Act::kClip : relu ? ConvGraphDesc::Act::kRelu : ConvGraphDesc::Act::kNone;
    d.clip_hi = clip_hi;
    auto exec = build_conv_graph(ctx, d, {x_, w_, b_, z_, y_}, name_);
    if (!exec && d.act == ConvGraphDesc::Act::kClip) {  // retry the clip as Relu + MIN(hi)
      if (conv_graph_verbose()) std::fprintf(stderr, "[cudnn graph] retry as min: %s\n", exec.status().to_string().c_str());
      Tensor hi = Tensor::empty(DType::kFloat, {k});
      for (int64_t i = 0; i < k; ++i) hi.data<float>()[i] = clip_hi;
      FERRY_ASSIGN_OR_RETURN(void* hi_ptr, ctx.upload_constant(hi, dt));
      d.clip_as_min = true;
      ConvGraphPointers p{x_, w_, b_, z_, y_, hi_ptr};
      exec = build_conv_graph(ctx, d, p, name_);
    }
    if (exec) {
      graph_ = std::move(*exec);
      return Status::ok();
    }
    if (conv_graph_verbose()) std::fprintf(stderr, "[cudnn graph] fallback: %s\n", exec.status().to_string().c_str());
  }
  FERRY_ASSIGN_OR_RETURN(x_desc_, desc4(dt, xs, nhwc));
  FERRY_ASSIGN_OR_RETURN(y_desc_, desc4(dt, y.shape, nhwc));
  FERRY_ASSIGN_OR_RETURN(b_desc_, make_tensor_desc(dt, {1, k, 1, 1}));
  FERRY_CUDNN_RETURN_IF_ERROR(cudnnCreateFilterDescriptor(&w_desc_), name_);
  FERRY_CUDNN_RETURN_IF_ERROR(
      cudnnSetFilter4dDescriptor(w_desc_, cudnn_dtype(dt), nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW, static_cast<int>(wsp[0]),
                                 static_cast<int>(wsp[1]), static_cast<int>(wsp[2]), static_cast<int>(wsp[3])),
      name_);
  FERRY_CUDNN_RETURN_IF_ERROR(cudnnCreateConvolutionDescriptor(&conv_), name_);
  FERRY_CUDNN_RETURN_IF_ERROR(
      cudnnSetConvolution2dDescriptor(conv_, geo.pads[0], geo.pads[1], geo.strides[0], geo.strides[1],
                                      geo.dilations[0], geo.dilations[1], CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
      name_);
  FERRY_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionGroupCount(conv_, geo.group), name_);
  FERRY_CUDNN_RETURN_IF_ERROR(
      cudnnSetConvolutionMathType(conv_, dt == DType::kFloat ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH), name_);
  FERRY_CUDNN_RETURN_IF_ERROR(cudnnCreateActivationDescriptor(&act_), name_);
  FERRY_CUDNN_RETURN_IF_ERROR(cudnnSetActivationDescriptor(act_, relu ? CUDNN_ACTIVATION_RELU : CUDNN_ACTIVATION_IDENTITY,
                                                           CUDNN_PROPAGATE_NAN, 0.0),
                              name_);
  // Output shape check: cuDNN's idea of the output must match the graph's.
  int dims[4];
  FERRY_CUDNN_RETURN_IF_ERROR(cudnnGetConvolutionNdForwardOutputDim(conv_, x_desc_, w_desc_, 4, dims), name_);
  for (int i = 0; i < 4; ++i)
    if (dims[i] != y.shape[static_cast<size_t>(i)])
      return unsupported(name_ + ": cuDNN output shape differs from the graph's " + shape_to_string(y.shape));
  fused_ = relu;
  if (clip_hi > 0) {
    FERRY_CUDNN_RETURN_IF_ERROR(cudnnCreateActivationDescriptor(&clip_), name_);
    FERRY_CUDNN_RETURN_IF_ERROR(
        cudnnSetActivationDescriptor(clip_, CUDNN_ACTIVATION_CLIPPED_RELU, CUDNN_PROPAGATE_NAN, clip_hi), name_);
  }
  // Time the candidates on the real buffers (y doubles as scratch output; nothing has run yet).
  cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
  int found = 0;
  FERRY_CUDNN_RETURN_IF_ERROR(
      cudnnFindConvolutionForwardAlgorithmEx(ctx.cudnn(), x_desc_, x_, w_desc_, w_, conv_, y_desc_, y_,
                                             CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &found, perf, ctx.workspace(),
                                             ctx.workspace_bytes()),
      name_ + ": algorithm search");
  for (int i = 0; i < found; ++i) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > ctx.workspace_bytes()) continue;
    if (dt == DType::kFloat && perf[i].mathType != CUDNN_FMA_MATH && perf[i].mathType != CUDNN_DEFAULT_MATH) continue;
    algo_ = perf[i].algo;
    workspace_ = perf[i].memory;
    // Run the algorithm with the math type it was timed with: an FP16/BF16 algorithm found under DEFAULT_MATH
    // (tensor ops refused for the shape) failed with CUDNN_STATUS_BAD_PARAM on a TENSOR_OP_MATH descriptor, now and
    // then, as the timed choice changed (efficientnet_b0's squeeze-excitation 1x1 convs, vit_b_16's patchify conv).
    // FP32 keeps FMA math (no TF32).
    if (dt != DType::kFloat)
      FERRY_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionMathType(conv_, perf[i].mathType), name_ + ": math type");
    return Status::ok();
  }
  return unsupported(name_ + ": no cuDNN algorithm fits the workspace");
}

// ---- pooling: MaxPool / AveragePool / GlobalAveragePool / GlobalMaxPool through cudnnPoolingForward, except
// windowed FP16/BF16 pooling in NHWC, which runs the own kernel (kernels/pool.cu: 16-byte channel packs; resnet50
// b256 on the H100 7.44 -> 7.38 ms against cuDNN's NHWC MaxPool; FERRY_CUDA_POOL_KERNEL=0: cuDNN).

// The own kernel for a windowed NHWC FP16/BF16 pool, or nullptr (then cuDNN).
std::unique_ptr<CudaOp> own_pool_op(const Node& n, const DevTensor& x, const DevTensor& y, const std::string& name) {
  static const bool enabled = [] {
    const char* e = std::getenv("FERRY_CUDA_POOL_KERNEL");
    return !(e && std::strcmp(e, "0") == 0);
  }();
  const bool max = n.op_type == "MaxPool";
  if (!enabled || (!max && n.op_type != "AveragePool") || !x.nhwc || x.stored_c > x.shape[1] || x.s2d_pad >= 0 ||
      (x.dtype != DType::kFloat16 && x.dtype != DType::kBFloat16) || y.dtype != x.dtype)
    return nullptr;
  auto k = n.attr_ints("kernel_shape");
  auto p = n.attr_ints("pads", {0, 0, 0, 0});
  auto st = n.attr_ints("strides", {1, 1});
  kernels::PoolDesc d;
  d.n = x.shape[0], d.c = x.shape[1], d.h = x.shape[2], d.w = x.shape[3], d.out_h = y.shape[2], d.out_w = y.shape[3];
  d.kernel_h = static_cast<int>(k[0]), d.kernel_w = static_cast<int>(k[1]);
  d.stride_h = static_cast<int>(st[0]), d.stride_w = static_cast<int>(st[1]);
  d.pad_top = static_cast<int>(p[0]), d.pad_left = static_cast<int>(p[1]);
  d.count_include_pad = n.attr_int("count_include_pad", 0) != 0;
  d.nhwc = true;
  const void* xp = x.ptr;
  void* yp = y.ptr;
  std::function<cudaError_t(cudaStream_t)> fn;
  if (x.dtype == DType::kFloat16) {
    fn = [=](cudaStream_t s) {
      auto* xi = static_cast<const __half*>(xp);
      auto* yo = static_cast<__half*>(yp);
      return max ? kernels::max_pool(xi, yo, d, s) : kernels::avg_pool(xi, yo, d, s);
    };
  } else {
    fn = [=](cudaStream_t s) {
      auto* xi = static_cast<const __nv_bfloat16*>(xp);
      auto* yo = static_cast<__nv_bfloat16*>(yp);
      return max ? kernels::max_pool(xi, yo, d, s) : kernels::avg_pool(xi, yo, d, s);
    };
  }
  return make_launch_op(name, std::move(fn));
}

class PoolOp : public CudaOp {
 public:
  ~PoolOp() override {
    if (x_desc_) cudnnDestroyTensorDescriptor(x_desc_);
    if (y_desc_) cudnnDestroyTensorDescriptor(y_desc_);
    if (pool_) cudnnDestroyPoolingDescriptor(pool_);
  }
  Status build(BuildContext& ctx, const OpGroup& group);
  Status enqueue(const RunContext& rc) override {
    const float one = 1.0f, zero = 0.0f;
    return cudnn_status(cudnnPoolingForward(rc.cudnn, pool_, &one, x_desc_, x_, &zero, y_desc_, y_), name_);
  }

 private:
  std::string name_;
  cudnnTensorDescriptor_t x_desc_ = nullptr, y_desc_ = nullptr;
  cudnnPoolingDescriptor_t pool_ = nullptr;
  void *x_ = nullptr, *y_ = nullptr;
};

Status PoolOp::build(BuildContext& ctx, const OpGroup& group) {
  const Node& n = *group.nodes.front();
  name_ = "node " + group.name();
  FERRY_ASSIGN_OR_RETURN(DevTensor x, ctx.value(n.inputs[0]));
  FERRY_ASSIGN_OR_RETURN(DevTensor y, ctx.value(n.outputs[0]));
  x_ = x.ptr;
  y_ = y.ptr;
  FERRY_ASSIGN_OR_RETURN(x_desc_, desc4(x.dtype, x.shape, x.nhwc));
  FERRY_ASSIGN_OR_RETURN(y_desc_, desc4(y.dtype, y.shape, x.nhwc));
  FERRY_CUDNN_RETURN_IF_ERROR(cudnnCreatePoolingDescriptor(&pool_), name_);
  const bool global = n.op_type.rfind("Global", 0) == 0;
  const bool max = n.op_type.find("Max") != std::string::npos;
  int win[2], pad[2] = {0, 0}, stride[2] = {1, 1};
  if (global) {
    win[0] = static_cast<int>(x.shape[2]);
    win[1] = static_cast<int>(x.shape[3]);
  } else {
    auto k = n.attr_ints("kernel_shape");
    auto p = n.attr_ints("pads", {0, 0, 0, 0});
    auto s = n.attr_ints("strides", {1, 1});
    for (int i = 0; i < 2; ++i) {
      win[i] = static_cast<int>(k[i]);
      pad[i] = static_cast<int>(p[i]);
      stride[i] = static_cast<int>(s[i]);
    }
  }
  cudnnPoolingMode_t mode = max ? CUDNN_POOLING_MAX_DETERMINISTIC
                                : (n.attr_int("count_include_pad", 0) ? CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING
                                                                      : CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING);
  FERRY_CUDNN_RETURN_IF_ERROR(
      cudnnSetPooling2dDescriptor(pool_, mode, CUDNN_PROPAGATE_NAN, win[0], win[1], pad[0], pad[1], stride[0], stride[1]),
      name_);
  int dims[4];
  FERRY_CUDNN_RETURN_IF_ERROR(cudnnGetPoolingNdForwardOutputDim(pool_, x_desc_, 4, dims), name_);
  for (int i = 0; i < 4; ++i)
    if (dims[i] != y.shape[static_cast<size_t>(i)])
      return unsupported(name_ + ": cuDNN pooling output differs from the graph's " + shape_to_string(y.shape));
  return Status::ok();
}

}  // namespace

bool conv_clip_bounds(const Graph& g, const Node& n, float* lo, float* hi) {
  if (n.op_type != "Clip" || !n.domain.empty()) return false;
  *lo = -INFINITY;
  *hi = INFINITY;
  if (n.opset >= 11) {
    for (size_t i = 1; i < 3 && i < n.inputs.size(); ++i) {
      if (n.inputs[i].empty()) continue;
      auto it = g.initializers.find(n.inputs[i]);
      if (it == g.initializers.end() || it->second.numel() != 1 || it->second.dtype() != DType::kFloat) return false;
      (i == 1 ? *lo : *hi) = it->second.data<float>()[0];
    }
  } else {
    *lo = n.attr_float("min", -INFINITY);
    *hi = n.attr_float("max", INFINITY);
  }
  return *lo == 0.0f && std::isfinite(*hi) && *hi > 0.0f;
}

bool conv_supports(const Graph& g, const Node& n) {
  if (n.op_type != "Conv" || n.inputs.size() < 2 || !g.initializers.count(n.inputs[1])) return false;
  if (n.has_input(2) && !g.initializers.count(n.inputs[2])) return false;
  Shape x, w;
  if (!static_shape(g, n.inputs[0], &x) || !static_shape(g, n.inputs[1], &w) || x.size() != 4 || w.size() != 4)
    return false;
  if (g.initializers.at(n.inputs[1]).dtype() != DType::kFloat) return false;
  ConvGeometry geo;
  return conv_geometry(n, &geo);
}

Expected<std::unique_ptr<CudaOp>> build_conv(BuildContext& ctx, const OpGroup& group) {
  auto patchify = build_patchify_conv(ctx, group);
  if (patchify || patchify.status().code() != StatusCode::kUnsupported) return patchify;
  auto op = std::make_unique<ConvOp>();
  FERRY_RETURN_IF_ERROR(op->build(ctx, group));
  return std::unique_ptr<CudaOp>(std::move(op));
}

bool pool_supports(const Graph& g, const Node& n) {
  const std::string& op = n.op_type;
  if (op != "MaxPool" && op != "AveragePool" && op != "GlobalAveragePool" && op != "GlobalMaxPool") return false;
  if (n.outputs.size() != 1) return false;  // MaxPool's Indices output is not supported
  Shape x;
  if (!static_shape(g, n.inputs[0], &x) || x.size() != 4) return false;
  if (op.rfind("Global", 0) == 0) return true;
  if (n.attr_string("auto_pad", "NOTSET") != "NOTSET" || n.attr_int("ceil_mode", 0) != 0) return false;
  auto k = n.attr_ints("kernel_shape");
  auto p = n.attr_ints("pads", {0, 0, 0, 0});
  auto s = n.attr_ints("strides", {1, 1});
  auto d = n.attr_ints("dilations", {1, 1});
  if (k.size() != 2 || p.size() != 4 || s.size() != 2 || d != std::vector<int64_t>{1, 1}) return false;
  if (n.attr_int("storage_order", 0) != 0) return false;
  return p[0] == p[2] && p[1] == p[3];
}

Expected<std::unique_ptr<CudaOp>> build_pool(BuildContext& ctx, const OpGroup& group) {
  const Node& n = *group.nodes.front();
  FERRY_ASSIGN_OR_RETURN(DevTensor x, ctx.value(n.inputs[0]));
  FERRY_ASSIGN_OR_RETURN(DevTensor y, ctx.value(n.outputs[0]));
  if (auto own = own_pool_op(n, x, y, "node " + group.name())) return own;
  auto op = std::make_unique<PoolOp>();
  FERRY_RETURN_IF_ERROR(op->build(ctx, group));
  return std::unique_ptr<CudaOp>(std::move(op));
}

}  // namespace ferry::cuda
