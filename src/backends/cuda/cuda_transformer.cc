// cuda_transformer.cc — the ferry-domain transformer ops (src/ops/fused_transformer.cc) on the CUDA backend.
//
// The device executor runs the kAll transformer fusions (fuse_transformer.h) before partitioning, so vit/bert
// graphs reach the backend as a few fused nodes instead of hundreds of small standard ops:
//   ferry.FusedMatMul  -> one cuBLASLt matmul (A's batch folded into M) with the bias (+ Relu) epilogue; a
//                         residual joins as cuBLASLt's C (beta = 1) when there is no activation. GELU: in
//                         FP16/BF16 cuBLASLt's GELU epilogue (the tanh form, |tanh - erf| < 5e-4, under FP16's
//                         rounding of the activations; FERRY_CUDA_GELU_EPILOGUE=0 turns it off); in FP32 the erf
//                         form as one elementwise kernel on the result, in place (with a residual after it).
//   ferry.LayerNorm    -> kernels::layer_norm over the last axis.
//   ferry.SdpAttention -> kernels::attention with strides, seq_major=1 (torch's MultiheadAttention layout) or split
//                         heads batch-major (attention_batch_major.cc),
//                         packed QKV (num_heads > 0, offsets) read in place: no Transposes, no copies.
// Anything else in the ferry domain is not supported (the executor then runs without these fusions).
#include <cstdlib>
#include <cstring>
#include <functional>

#include "backends/cuda/cuda_check.h"
#include "backends/cuda/cuda_ops.h"
#include "backends/cuda/kernels/launch.h"

namespace ferry::cuda {

namespace k = kernels;

namespace {

template <typename F>
auto with_type(DType t, F&& f) {
  if (t == DType::kFloat16) return f(__half{});
  if (t == DType::kBFloat16) return f(__nv_bfloat16{});
  return f(float{});
}

// ---------------------------------------------------------------- FusedMatMul
class FusedMatMulOp : public CudaOp {
 public:
  Status build(BuildContext& ctx, const Node& n);
  Status enqueue(const RunContext& rc) override {
    FERRY_CUBLAS_RETURN_IF_ERROR(mm_.run(rc), name_);
    if (post_) FERRY_CUDA_RETURN_IF_ERROR(post_(rc.stream), name_ + " (epilogue)");
    return Status::ok();
  }

 private:
  std::string name_;
  LtMatmul mm_;
  std::function<cudaError_t(cudaStream_t)> post_;  // GELU (+ residual) after the matmul, in place
};

Status FusedMatMulOp::build(BuildContext& ctx, const Node& n) {
  name_ = "node " + n.display_name();
  FERRY_ASSIGN_OR_RETURN(DevTensor a, ctx.value(n.inputs[0]));
  FERRY_ASSIGN_OR_RETURN(DevTensor b, ctx.value(n.inputs[1]));
  FERRY_ASSIGN_OR_RETURN(DevTensor d, ctx.value(n.outputs[0]));
  const bool tb = n.attr_int("trans_b", 0) != 0;
  const std::string act = n.attr_string("activation", "none");
  const int64_t k = a.shape.back();
  const int64_t nn = tb ? b.shape[0] : b.shape[1];
  const int64_t m = shape_numel(a.shape) / std::max<int64_t>(k, 1);
  const DType dt = d.dtype;
  const cudaDataType_t ct = lt_data_type(dt);
  FERRY_RETURN_IF_ERROR(mm_.init_row_major(ct, m, k, nn, /*trans_a=*/false, tb, name_));

  const bool has_bias = n.has_input(2);
  const bool has_res = n.inputs.size() > 3 && n.has_input(3);
  static const bool gelu_epilogue = [] {
    const char* e = std::getenv("FERRY_CUDA_GELU_EPILOGUE");
    return !(e && std::strcmp(e, "0") == 0);
  }();
  const bool lt_gelu = act == "gelu" && gelu_epilogue && dt != DType::kFloat;
  cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_DEFAULT;
  if (act == "relu") epi = has_bias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU;
  else if (lt_gelu) epi = has_bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
  else if (has_bias) epi = CUBLASLT_EPILOGUE_BIAS;
  const void* bias_ptr = nullptr;
  if (has_bias) {
    FERRY_ASSIGN_OR_RETURN(DevTensor bias, ctx.value(n.inputs[2]));
    bias_ptr = bias.ptr;
  }
  FERRY_RETURN_IF_ERROR(mm_.set_epilogue(epi, bias_ptr, name_));
  const void* res_ptr = nullptr;
  if (has_res) {
    FERRY_ASSIGN_OR_RETURN(DevTensor r, ctx.value(n.inputs[3]));
    if (shape_numel(r.shape) != m * nn) return unsupported(name_ + ": residual shape differs from the output's");
    res_ptr = r.ptr;
  }
  if (has_res && act == "none") {  // D = A B + bias + 1 * C
    FERRY_RETURN_IF_ERROR(mm_.set_addend(ct, m, nn, res_ptr, 1.0f, name_));
  }
  const bool erf_gelu = act == "gelu" && !lt_gelu;
  const bool res_after = has_res && act != "none";
  if (erf_gelu || res_after) {
    k::ChainDesc cd;
    const int64_t shape[1] = {m * nn};
    const int64_t* shapes[2] = {shape, shape};
    const int ranks[2] = {1, 1};
    if (!k::make_chain_layout(shapes, ranks, res_after ? 2 : 1, &cd)) return internal_error(name_ + ": chain layout");
    if (erf_gelu) {
      cd.steps[cd.num_steps].kind = k::ChainStep::kUnary;
      cd.steps[cd.num_steps++].op = static_cast<uint8_t>(k::UnaryOp::GeluErf);
    }
    if (res_after) {
      cd.steps[cd.num_steps].kind = k::ChainStep::kBinaryTensor;
      cd.steps[cd.num_steps].op = static_cast<uint8_t>(k::BinaryOp::Add);
      cd.steps[cd.num_steps++].input = 1;
    }
    void* y = d.ptr;
    post_ = with_type(dt, [&](auto t) -> std::function<cudaError_t(cudaStream_t)> {
      using T = decltype(t);
      T* py = static_cast<T*>(y);
      const T* pr = static_cast<const T*>(res_ptr);
      return [=](cudaStream_t s) {
        const T* ins[2] = {py, pr};
        return k::elementwise_chain<T>(ins, py, cd, s);
      };
    });
  }
  mm_.ops.a = b.ptr;
  mm_.ops.b = a.ptr;
  mm_.ops.d = d.ptr;
  FERRY_RETURN_IF_ERROR(mm_.pick_algo(ctx, name_));
  return Status::ok();
}

bool fused_matmul_supports(const Graph& g, const Node& n) {
  if (n.inputs.size() < 2 || n.outputs.size() != 1) return false;
  const std::string act = n.attr_string("activation", "none");
  if (act != "none" && act != "relu" && act != "gelu") return false;
  Shape a, b, y;
  if (!static_shape(g, n.inputs[0], &a) || !static_shape(g, n.inputs[1], &b) || !static_shape(g, n.outputs[0], &y))
    return false;
  if (a.empty() || b.size() != 2) return false;
  const bool tb = n.attr_int("trans_b", 0) != 0;
  const int64_t k = tb ? b[1] : b[0], nn = tb ? b[0] : b[1];
  if (a.back() != k || y.empty() || y.back() != nn) return false;
  if (n.has_input(2)) {
    Shape bias;
    if (!static_shape(g, n.inputs[2], &bias) || shape_numel(bias) != nn) return false;
  }
  if (n.inputs.size() > 3 && n.has_input(3)) {
    Shape r;
    if (!static_shape(g, n.inputs[3], &r) || r != y) return false;
  }
  return n.inputs.size() <= 4;
}

// ---------------------------------------------------------------- LayerNorm
bool layer_norm_supports(const Graph& g, const Node& n) {
  if (n.inputs.size() < 2 || n.outputs.size() != 1) return false;
  Shape x, s;
  if (!static_shape(g, n.inputs[0], &x) || !static_shape(g, n.inputs[1], &s) || x.empty()) return false;
  if (shape_numel(s) != x.back()) return false;
  if (n.has_input(2)) {
    Shape b;
    if (!static_shape(g, n.inputs[2], &b) || shape_numel(b) != x.back()) return false;
  }
  return true;
}

Expected<std::unique_ptr<CudaOp>> build_layer_norm(BuildContext& ctx, const Node& n) {
  const std::string name = "node " + n.display_name();
  FERRY_ASSIGN_OR_RETURN(DevTensor x, ctx.value(n.inputs[0]));
  FERRY_ASSIGN_OR_RETURN(DevTensor gamma, ctx.value(n.inputs[1]));
  FERRY_ASSIGN_OR_RETURN(DevTensor y, ctx.value(n.outputs[0]));
  void* pbeta = nullptr;
  if (n.has_input(2)) {
    FERRY_ASSIGN_OR_RETURN(DevTensor bt, ctx.value(n.inputs[2]));
    pbeta = bt.ptr;
  }
  const int64_t cols = x.shape.back(), rows = shape_numel(x.shape) / std::max<int64_t>(cols, 1);
  const float eps = n.attr_float("epsilon", 1e-5f);
  auto fn = with_type(y.dtype, [&](auto t) -> std::function<cudaError_t(cudaStream_t)> {
    using T = decltype(t);
    auto* px = static_cast<const T*>(x.ptr);
    auto* pg = static_cast<const T*>(gamma.ptr);
    auto* pb = static_cast<const T*>(pbeta);
    auto* py = static_cast<T*>(y.ptr);
    return [=](cudaStream_t s) { return k::layer_norm<T>(px, nullptr, pg, pb, py, nullptr, rows, cols, eps, s); };
  });
  return make_launch_op(name, std::move(fn));
}

// ---------------------------------------------------------------- SdpAttention
struct AttnGeometry {
  k::AttentionDesc d;
  int64_t offsets[3] = {0, 0, 0};
};

// Q[S, N, Cq], K[T, N, Ck], V[T, N, Cv] -> Y[S, N, H * dv] (seq_major = 1); heads split from the columns when
// num_heads > 0, which may also be batch-major (seq_major = 0): Q[N, S, Cq], K[N, T, Ck], V[N, T, Cv] -> Y[N, S, H*dv].
bool attention_geometry(const Graph& g, const Node& n, AttnGeometry* out) {
  const bool seq = n.attr_int("seq_major", 0) == 1;
  if (n.inputs.size() != 3 || n.outputs.size() != 1 || (!seq && n.attr_int("num_heads", 0) <= 0)) return false;
  Shape q, kk, v, y;
  if (!static_shape(g, n.inputs[0], &q) || !static_shape(g, n.inputs[1], &kk) || !static_shape(g, n.inputs[2], &v) ||
      !static_shape(g, n.outputs[0], &y))
    return false;
  if (q.size() != 3 || kk.size() != 3 || v.size() != 3 || y.size() != 3) return false;
  const size_t bd = seq ? 1 : 0, sd = seq ? 0 : 1;  // batch and sequence axes
  if (q[bd] != kk[bd] || q[bd] != v[bd] || kk[sd] != v[sd] || y[sd] != q[sd] || y[bd] != q[bd]) return false;
  const int64_t heads = n.attr_int("num_heads", 0);
  int64_t hd, vhd, h;
  std::vector<int64_t> off = {0, 0, 0};
  if (heads > 0) {
    h = heads;
    hd = n.attr_int("head_dim", 0);
    vhd = n.attr_int("v_head_dim", hd);
    off = n.attr_ints("offsets", {0, 0, 0});
    if (off.size() != 3 || hd <= 0 || vhd <= 0) return false;
    if (off[0] < 0 || off[0] + h * hd > q[2] || off[1] < 0 || off[1] + h * hd > kk[2] || off[2] < 0 ||
        off[2] + h * vhd > v[2])
      return false;
  } else {
    h = 1;
    hd = q[2];
    vhd = v[2];
    if (kk[2] != hd) return false;
  }
  if (hd != vhd || (hd != 32 && hd != 64 && hd != 128) || y[2] != h * vhd) return false;
  const int64_t seq_k = kk[sd];
  // The CUDA-core kernel (FP32) keeps K and V of one head in shared memory: stay within sm_80's 163 KB.
  if (seq_k * hd * 2 * 4 + 4 * 4 * (hd + seq_k) > 160 * 1024) return false;
  if (q[bd] > 65535 || h > 65535 || q[sd] > (1 << 30)) return false;
  k::AttentionDesc& d = out->d;
  d.batch = static_cast<int>(q[bd]);
  d.heads = static_cast<int>(h);
  d.seq_q = static_cast<int>(q[sd]);
  d.seq_k = static_cast<int>(seq_k);
  d.head_dim = static_cast<int>(hd);
  d.scale = n.attr_float("scale", 1.0f);
  // Strides {batch, head, row}: seq-major rows are N * C apart and batches C; batch-major rows C and batches S * C.
  auto strides = [&](int64_t* st, const Shape& x, int64_t w) {
    st[0] = seq ? x[2] : x[1] * x[2];
    st[1] = w;
    st[2] = seq ? x[1] * x[2] : x[2];
  };
  strides(d.q_strides, q, hd);
  strides(d.k_strides, kk, hd);
  strides(d.v_strides, v, vhd);
  strides(d.o_strides, y, vhd);
  for (int i = 0; i < 3; ++i) out->offsets[i] = off[static_cast<size_t>(i)];
  return true;
}

Expected<std::unique_ptr<CudaOp>> build_attention(BuildContext& ctx, const Node& n) {
  const std::string name = "node " + n.display_name();
  AttnGeometry geo;
  if (!attention_geometry(ctx.graph(), n, &geo)) return unsupported(name + ": attention form not supported on CUDA");
  FERRY_ASSIGN_OR_RETURN(DevTensor q, ctx.value(n.inputs[0]));
  FERRY_ASSIGN_OR_RETURN(DevTensor kk, ctx.value(n.inputs[1]));
  FERRY_ASSIGN_OR_RETURN(DevTensor v, ctx.value(n.inputs[2]));
  FERRY_ASSIGN_OR_RETURN(DevTensor y, ctx.value(n.outputs[0]));
  const k::AttentionDesc d = geo.d;
  auto fn = with_type(y.dtype, [&](auto t) -> std::function<cudaError_t(cudaStream_t)> {
    using T = decltype(t);
    const T* pq = static_cast<const T*>(q.ptr) + geo.offsets[0];
    const T* pk = static_cast<const T*>(kk.ptr) + geo.offsets[1];
    const T* pv = static_cast<const T*>(v.ptr) + geo.offsets[2];
    T* py = static_cast<T*>(y.ptr);
    return [=](cudaStream_t s) { return k::attention<T>(pq, pk, pv, nullptr, py, d, s); };
  });
  return make_launch_op(name, std::move(fn));
}

}  // namespace

bool transformer_supports(const Graph& g, const Node& n) {
  if (n.domain != "ferry") return false;
  if (n.op_type == "FusedMatMul") return fused_matmul_supports(g, n);
  if (n.op_type == "LayerNorm") return layer_norm_supports(g, n);
  if (n.op_type == "SdpAttention") {
    AttnGeometry geo;
    return attention_geometry(g, n, &geo);
  }
  return false;
}

Expected<std::unique_ptr<CudaOp>> build_transformer_op(BuildContext& ctx, const OpGroup& group) {
  const Node& n = *group.nodes.front();
  if (group.nodes.size() != 1) return internal_error("node " + n.display_name() + ": ferry ops do not fuse further");
  if (n.op_type == "FusedMatMul") {
    auto op = std::make_unique<FusedMatMulOp>();
    FERRY_RETURN_IF_ERROR(op->build(ctx, n));
    return std::unique_ptr<CudaOp>(std::move(op));
  }
  if (n.op_type == "LayerNorm") return build_layer_norm(ctx, n);
  if (n.op_type == "SdpAttention") return build_attention(ctx, n);
  return unsupported("node " + n.display_name() + ": ferry." + n.op_type + " is not supported by the CUDA backend");
}

}  // namespace ferry::cuda
