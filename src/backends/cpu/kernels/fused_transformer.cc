// fused_transformer.cc — CPU kernels of the ferry-domain transformer ops (schemas in src/ops/fused_transformer.cc).
//
// ferry.FusedMatMul: the fast path is a oneDNN matmul primitive whose weights format is chosen by oneDNN
// ("any") and filled once (a reorder of the constant B) per distinct weights layout; bias, the activation and
// the residual run as the primitive's bias, eltwise post-op and binary-add post-op. Rows of A are split over
// the session's ThreadPool, one single-threaded primitive per block (no OpenMP team next to the pool). The
// kernel factory only sees the Node, not the initializer values, so the weights are packed on the first run
// and cached keyed by B's data pointer (constant storage is stable for a session's lifetime; a different
// pointer repacks). Primitives are cached per M (rows of A).
// The reference path (FERRY_DNNL=0, or a primitive oneDNN rejects) is sgemm + a plain epilogue; it is the
// oracle of the tests. LayerNorm (AVX-512 rows, layer_norm_avx512.h, where the CPU has it), Gelu and
// SdpAttention are float loops parallel over rows/heads.
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "backends/cpu/kernel.h"
#include "backends/cpu/kernels/attention_avx512.h"
#include "backends/cpu/kernels/dnnl_util.h"
#include "backends/cpu/kernels/gemm.h"
#include "backends/cpu/kernels/layer_norm_avx512.h"
#include "backends/cpu/kernels/vec_math.h"

namespace ferry {

namespace {

enum class Act { kNone, kRelu, kGelu };

inline float gelu_ref(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f)); }

void apply_epilogue(float* y, int64_t m, int64_t n, const float* bias, Act act, const float* residual,
                    ThreadPool& pool) {
  if (!bias && act == Act::kNone && !residual) return;
  pool.parallel_for(
      m,
      [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          float* row = y + r * n;
          if (bias)
            for (int64_t j = 0; j < n; ++j) row[j] += bias[j];
          if (act == Act::kRelu)
            for (int64_t j = 0; j < n; ++j) row[j] = row[j] > 0.f ? row[j] : 0.f;
          else if (act == Act::kGelu)
            for (int64_t j = 0; j < n; ++j) row[j] = gelu_ref(row[j]);
          if (residual)
            for (int64_t j = 0; j < n; ++j) row[j] += residual[r * n + j];
        }
      },
      std::max<int64_t>(1, 4096 / std::max<int64_t>(1, n)));
}

// ---- FusedMatMul ----
class FusedMatMulKernel : public CpuKernel {
 public:
  FusedMatMulKernel(Act act, bool trans_b, bool use_dnnl) : act_(act), trans_b_(trans_b), use_dnnl_(use_dnnl) {}

  Status run(KernelContext& ctx) override {
    const Tensor& a = *ctx.input(0);
    const Tensor& b = *ctx.input(1);
    const Tensor* bias = ctx.input(2);
    const Tensor* res = ctx.input(3);
    if (a.dtype() != DType::kFloat || b.dtype() != DType::kFloat || (bias && bias->dtype() != DType::kFloat) ||
        (res && res->dtype() != DType::kFloat))
      return ctx.unsupported_error("FusedMatMul supports float32 only");
    if (b.rank() != 2 || a.rank() < 1) return ctx.error("FusedMatMul needs A of rank >= 1 and a 2-D B");
    int64_t k = trans_b_ ? b.dim(1) : b.dim(0), n = trans_b_ ? b.dim(0) : b.dim(1);
    if (a.dim(a.rank() - 1) != k) return ctx.error("FusedMatMul inner dimensions differ");
    if (bias && bias->numel() != n) return ctx.error("FusedMatMul bias must have N elements");
    FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
    int64_t m = k > 0 ? a.numel() / k : 0;
    if (y->numel() != m * n) return ctx.error("FusedMatMul output size disagrees with inference");
    if (res && res->numel() != m * n)
      return ctx.error("FusedMatMul residual " + shape_to_string(res->shape()) + " must have the " +
                       std::to_string(m * n) + " elements of Y");
    if (y->numel() == 0) return Status::ok();
    const float* pbias = bias ? bias->data<float>() : nullptr;
    const float* pres = res ? res->data<float>() : nullptr;
    if (use_dnnl_ && k > 0 &&
        run_dnnl(ctx, a.data<float>(), b.data<float>(), pbias, pres, y->data<float>(), m, n, k))
      return Status::ok();
    sgemm(false, trans_b_, m, n, k, 1.f, a.data<float>(), k, b.data<float>(), trans_b_ ? k : n, 0.f,
          y->data<float>(), n, &ctx.pool());
    apply_epilogue(y->data<float>(), m, n, pbias, act_, pres, ctx.pool());
    return Status::ok();
  }

 private:
  struct Prim {
    dnnl::matmul prim;
    std::shared_ptr<dnnl::memory> weights;  // packed B in the primitive's layout (shared between equal layouts)
    dnnl::memory scratch;                   // this primitive's own scratchpad (blocks run concurrently)
    // Made once: the execute arguments (A, C, bias, residual re-pointed each run with set_data_handle) and the
    // stream (creating them per run cost about 1% of bert_tiny_enc at one thread).
    std::unordered_map<int, dnnl::memory> args;
    dnnl::stream stream;
  };

  // The primitive for row block `block` of `m` rows (created on first use; packs B once per distinct weights
  // layout). Each block gets its own primitive and user-mode scratchpad: with the library's default scratchpad
  // two threads executing one primitive at once share scratch memory and corrupt each other's results.
  Prim& prim_for(int64_t block, int64_t m, int64_t n, int64_t k, const float* b, bool has_bias, bool has_res) {
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    auto it = prims_.find({block, m});
    if (it != prims_.end()) return it->second;
    const dnnl::engine& eng = dnnl_cpu_engine();
    dnnl::memory::desc a_md({m, k}, dt::f32, tag::ab);
    dnnl::memory::desc b_md({k, n}, dt::f32, tag::any);
    dnnl::memory::desc c_md({m, n}, dt::f32, tag::ab);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::post_ops po;
    if (act_ != Act::kNone)
      po.append_eltwise(1.f, act_ == Act::kRelu ? dnnl::algorithm::eltwise_relu : dnnl::algorithm::eltwise_gelu_erf,
                        0.f, 0.f);
    if (has_res) po.append_binary(dnnl::algorithm::binary_add, c_md);  // after the activation: act(.) + residual
    if (po.len() > 0) attr.set_post_ops(po);
    dnnl::matmul::desc d = has_bias ? dnnl::matmul::desc(a_md, b_md, dnnl::memory::desc({1, n}, dt::f32, tag::ab), c_md)
                                    : dnnl::matmul::desc(a_md, b_md, c_md);
    dnnl::matmul::primitive_desc pd(d, attr, eng);
    Prim p{dnnl::matmul(pd), nullptr, dnnl::memory(pd.scratchpad_desc(), eng), {}, dnnl::stream(eng)};
    p.args = {{DNNL_ARG_SRC, dnnl::memory(a_md, eng, nullptr)},
              {DNNL_ARG_DST, dnnl::memory(c_md, eng, nullptr)},
              {DNNL_ARG_SCRATCHPAD, p.scratch}};
    if (has_bias) p.args[DNNL_ARG_BIAS] = dnnl::memory({{1, n}, dt::f32, tag::ab}, eng, nullptr);
    if (has_res) p.args[res_arg()] = dnnl::memory(c_md, eng, nullptr);
    for (auto& [mm, other] : prims_)
      if (other.weights->get_desc() == pd.weights_desc()) p.weights = other.weights;
    if (!p.weights) {
      dnnl::memory src({{k, n}, dt::f32, trans_b_ ? tag::ba : tag::ab}, eng, const_cast<float*>(b));
      p.weights = std::make_shared<dnnl::memory>(pd.weights_desc(), eng);
      dnnl::stream s(eng);
      dnnl::reorder(src, *p.weights).execute(s, src, *p.weights);
      s.wait();
    }
    return prims_.emplace(std::make_pair(block, m), std::move(p)).first->second;
  }

  // Runs rows [r0, r0 + rows) of A through the primitive for `rows` rows, single-threaded.
  int res_arg() const { return DNNL_ARG_ATTR_MULTIPLE_POST_OP(act_ != Act::kNone ? 1 : 0) | DNNL_ARG_SRC_1; }

  // Runs one row block (the primitive was made for exactly these rows) single-threaded.
  void exec_rows(Prim& p, const float* a, const float* bias, const float* res, float* y) {
    p.args[DNNL_ARG_WEIGHTS] = *p.weights;
    p.args.at(DNNL_ARG_SRC).set_data_handle(const_cast<float*>(a));
    p.args.at(DNNL_ARG_DST).set_data_handle(y);
    if (bias) p.args.at(DNNL_ARG_BIAS).set_data_handle(const_cast<float*>(bias));
    if (res) p.args.at(res_arg()).set_data_handle(const_cast<float*>(res));
    p.prim.execute(p.stream, p.args);
    p.stream.wait();
  }

  // Returns false when oneDNN cannot build the primitive (the caller falls back to the reference path).
  // Threading: rows are split over ferry's ThreadPool and each block runs a single-threaded primitive, so
  // only one threading runtime is active (an OpenMP team beside the pool oversubscribes loaded machines).
  bool run_dnnl(KernelContext& ctx, const float* a, const float* b, const float* bias, const float* res, float* y,
                int64_t m, int64_t n, int64_t k) {
    try {
      if (b != packed_from_) {  // new weights storage: drop every packed copy
        prims_.clear();
        packed_from_ = b;
      }
      int64_t blocks = std::min<int64_t>(ctx.pool().threads(), std::max<int64_t>(1, m / 16));
      std::vector<int64_t> row0(static_cast<size_t>(blocks + 1));
      for (int64_t i = 0; i <= blocks; ++i) row0[i] = m * i / blocks;
      std::vector<Prim*> prims(static_cast<size_t>(blocks));
      dnnl_set_threads(1);
      for (int64_t i = 0; i < blocks; ++i) prims[i] = &prim_for(i, row0[i + 1] - row0[i], n, k, b, bias != nullptr, res != nullptr);
      if (blocks == 1) {
        exec_rows(*prims[0], a, bias, res, y);
      } else {
        ctx.pool().parallel_for(blocks, [&](int64_t i0, int64_t i1) {
          dnnl_set_threads(1);
          for (int64_t i = i0; i < i1; ++i)
            exec_rows(*prims[i], a + row0[i] * k, bias, res ? res + row0[i] * n : nullptr, y + row0[i] * n);
        });
      }
      dnnl_set_threads(ctx.pool().threads());
      return true;
    } catch (const dnnl::error&) {
      dnnl_set_threads(ctx.pool().threads());
      use_dnnl_ = false;
      return false;
    }
  }

  Act act_;
  bool trans_b_;
  bool use_dnnl_;
  const float* packed_from_ = nullptr;
  std::map<std::pair<int64_t, int64_t>, Prim> prims_;  // (row block, rows) -> primitive
};

Expected<std::unique_ptr<CpuKernel>> make_fused_matmul(const Node& node) {
  std::string a = node.attr_string("activation", "none");
  Act act = a == "relu" ? Act::kRelu : a == "gelu" ? Act::kGelu : Act::kNone;
  if (a != "none" && act == Act::kNone)
    return invalid_argument("node " + node.display_name() + ": unknown activation '" + a + "'");
  return std::unique_ptr<CpuKernel>(
      new FusedMatMulKernel(act, node.attr_int("trans_b", 0) != 0, dnnl_enabled()));
}

// ---- LayerNorm ----
// 8 independent partial sums: vectorizable without -ffast-math.
inline float sq_dev_sum8(const float* p, int64_t n, float mean) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int q = 0; q < 8; ++q) {
      float d = p[j + q] - mean;
      acc[q] += d * d;
    }
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; j < n; ++j) s += (p[j] - mean) * (p[j] - mean);
  return s;
}

Status layer_norm_kernel(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  const Tensor& scale = *ctx.input(1);
  const Tensor* bias = ctx.input(2);
  if (x.dtype() != DType::kFloat || scale.dtype() != DType::kFloat || (bias && bias->dtype() != DType::kFloat))
    return ctx.unsupported_error("LayerNorm supports float32 only");
  if (x.rank() < 1) return ctx.error("LayerNorm X must have rank >= 1");
  int64_t c = x.dim(x.rank() - 1);
  if (scale.numel() != c || (bias && bias->numel() != c)) return ctx.error("LayerNorm scale/bias must have C elements");
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  if (x.numel() == 0) return Status::ok();
  float eps = ctx.node().attr_float("epsilon", 1e-5f);
  int64_t rows = x.numel() / c;
  const float* px = x.data<float>();
  const float* pg = scale.data<float>();
  const float* pb = bias ? bias->data<float>() : nullptr;
  float* py = y->data<float>();
  const bool fast = layer_norm_avx512_available();
  ctx.pool().parallel_for(
      rows,
      [&](int64_t r0, int64_t r1) {
        if (fast) {
          for (int64_t r = r0; r < r1; ++r) layer_norm_row_avx512(px + r * c, pg, pb, py + r * c, c, eps);
          return;
        }
        for (int64_t r = r0; r < r1; ++r) {
          const float* p = px + r * c;
          float* q = py + r * c;
          float mean = sum_f32(p, c) / static_cast<float>(c);
          float var = sq_dev_sum8(p, c, mean) / static_cast<float>(c);
          float rstd = 1.0f / std::sqrt(var + eps);
          if (pb) {
            for (int64_t j = 0; j < c; ++j) q[j] = (p[j] - mean) * rstd * pg[j] + pb[j];
          } else {
            for (int64_t j = 0; j < c; ++j) q[j] = (p[j] - mean) * rstd * pg[j];
          }
        }
      },
      // >= 64K elements per chunk: a row block is a few microseconds of AVX-512 work, less than waking a thread
      // (bert_tiny_enc's 128 x 256 stays on one thread, vit_b_16's 197 x 768 splits in two).
      std::max<int64_t>(1, (fast ? 65536 : 8192) / std::max<int64_t>(1, c)));
  return Status::ok();
}

// ---- Gelu ----
Status gelu_kernel(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  if (x.dtype() != DType::kFloat) return ctx.unsupported_error("Gelu supports float32 only");
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  const float* px = x.data<float>();
  float* py = y->data<float>();
  ctx.pool().parallel_for(
      x.numel(),
      [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) py[i] = gelu_ref(px[i]);
      },
      16384);
  return Status::ok();
}

// ---- SdpAttention ----
// Softmax of one row in place. Rows holding NaN/inf take the exact double path.
void softmax_row(float* p, int64_t n) {
  float m = p[0];
  for (int64_t j = 1; j < n; ++j) m = p[j] > m ? p[j] : m;
  if (!std::isfinite(m) || !std::isfinite(sum_f32(p, n))) {
    double md = -INFINITY;
    for (int64_t j = 0; j < n; ++j) md = std::max<double>(md, p[j]);
    if (std::isinf(md) && md < 0) md = 0;
    double s = 0;
    for (int64_t j = 0; j < n; ++j) s += std::exp(static_cast<double>(p[j]) - md);
    for (int64_t j = 0; j < n; ++j) p[j] = static_cast<float>(std::exp(static_cast<double>(p[j]) - md) / s);
    return;
  }
  for (int64_t j = 0; j < n; ++j) p[j] = exp_nonpos_f32(p[j] - m);
  float inv = 1.0f / sum_f32(p, n);
  for (int64_t j = 0; j < n; ++j) p[j] *= inv;
}

// One operand of attention per batch index b: rows of a matrix at base + (b / heads) * outer + (b % heads) * inner
// with row stride ld (heads = 1 unless the kernel splits the heads out of packed rows itself).
struct MatView {
  const float* base;
  int64_t outer;  // 0 when the operand's batch dim is 1 (broadcast)
  int64_t ld;
  int64_t heads = 1;
  int64_t inner = 0;
  const float* at(int64_t b) const { return base + (b / heads) * outer + (b % heads) * inner; }
};

// The output rows of batch index b, laid out like MatView (row stride ld).
struct OutView {
  float* base;
  int64_t outer;
  int64_t ld;
  int64_t heads = 1;
  int64_t inner = 0;
  float* at(int64_t b) const { return base + (b / heads) * outer + (b % heads) * inner; }
};

// Layouts (attr seq_major): 0: Q [N,S,d], KT [N,d,T], V [N,T,dv] -> Y [N,S,dv];
// 1: Q [S,N,d], K [T,N,d], V [T,N,dv] -> Y [S,N,dv] (the transposes around torch's attention absorbed).
// Split heads (seq_major = 1 and attr num_heads = H > 0): Q [S,N,Cq], K [T,N,Ck], V [T,N,Cv] are packed
// projections (one tensor may serve all three); head h of Q is columns offsets[0] + h*head_dim onwards (K, V
// likewise with offsets[1], offsets[2] and v_head_dim) and Y is [S,N,H*dv], the same memory as [S,N*H,dv]:
// the Slice copies and Reshapes between torch's in-projection and the attention are read strided instead.
// Batch-major split heads (seq_major = 0, num_heads = H > 0): Q [N,S,Cq], K [N,T,Ck], V [N,T,Cv] -> Y [N,S,H*dv].
// The fast path (AVX-512, attention_avx512.h) splits batch*heads (and rows when there are fewer heads than
// threads) into units that one part per thread takes dynamically, each part with its own scratch kept by the
// kernel (no steady-state allocation; a concurrent run of the same kernel takes temporary scratch). The sgemm path is the reference (FERRY_DNNL=0).
class SdpAttentionKernel : public CpuKernel {
 public:
  explicit SdpAttentionKernel(bool fast) : fast_(fast) {}

  Status run(KernelContext& ctx) override {
    const Tensor& q = *ctx.input(0);
    const Tensor& k = *ctx.input(1);
    const Tensor& v = *ctx.input(2);
    if (q.dtype() != DType::kFloat || k.dtype() != DType::kFloat || v.dtype() != DType::kFloat)
      return ctx.unsupported_error("SdpAttention supports float32 only");
    if (q.rank() != 3 || k.rank() != 3 || v.rank() != 3) return ctx.error("SdpAttention inputs must be 3-D");
    bool seq = ctx.node().attr_int("seq_major", 0) != 0;
    if (ctx.node().attr_int("num_heads", 0) > 0) return run_split_heads(ctx, q, k, v);
    int bq = seq ? 1 : 0;  // batch axis
    // The batch dim broadcasts as in MatMul (each of Q, K, V has N or 1).
    int64_t nq = q.dim(bq), nk = k.dim(bq), nv = v.dim(bq), nb = std::max({nq, nk, nv});
    int64_t s = seq ? q.dim(0) : q.dim(1), d = q.dim(2);
    int64_t t = seq ? k.dim(0) : k.dim(2), kd = seq ? k.dim(2) : k.dim(1);
    int64_t vt = seq ? v.dim(0) : v.dim(1), dv = v.dim(2);
    auto batch_ok = [&](int64_t x) { return x == nb || x == 1; };
    if (!batch_ok(nq) || !batch_ok(nk) || !batch_ok(nv) || kd != d || vt != t)
      return ctx.error("SdpAttention shapes disagree: Q " + shape_to_string(q.shape()) + ", K " +
                       shape_to_string(k.shape()) + ", V " + shape_to_string(v.shape()));
    FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
    if (y->numel() == 0) return Status::ok();
    float scale = ctx.node().attr_float("scale", 1.f);
    float* py = y->data<float>();
    if (t == 0) {
      std::memset(py, 0, y->nbytes());
      return Status::ok();
    }
    MatView vq, vk, vv;
    int64_t y_batch, y_ld;
    if (seq) {
      vq = {q.data<float>(), nq == 1 ? 0 : d, nq * d};
      vk = {k.data<float>(), nk == 1 ? 0 : d, nk * d};  // K rows: multiplied transposed
      vv = {v.data<float>(), nv == 1 ? 0 : dv, nv * dv};
      y_batch = dv;
      y_ld = nb * dv;
    } else {
      vq = {q.data<float>(), nq == 1 ? 0 : s * d, d};
      vk = {k.data<float>(), nk == 1 ? 0 : d * t, t};  // KT rows: multiplied as stored
      vv = {v.data<float>(), nv == 1 ? 0 : t * dv, dv};
      y_batch = s * dv;
      y_ld = dv;
    }
    compute(ctx.pool(), vq, vk, vv, OutView{py, y_batch, y_ld}, nb, s, t, d, dv, scale, seq);
    return Status::ok();
  }

 private:
  // Split-heads form (see the layout comment above the class).
  Status run_split_heads(KernelContext& ctx, const Tensor& q, const Tensor& k, const Tensor& v) {
    const Node& node = ctx.node();
    const bool seq = node.attr_int("seq_major", 0) != 0;
    const int bd = seq ? 1 : 0, sd = seq ? 0 : 1;  // batch and sequence axes
    const int64_t h = node.attr_int("num_heads", 0), d = node.attr_int("head_dim", 0);
    const int64_t dv = node.attr_int("v_head_dim", d);
    const std::vector<int64_t> off = node.attr_ints("offsets", {0, 0, 0});
    const int64_t nq = q.dim(bd), nk = k.dim(bd), nv = v.dim(bd), nb = std::max({nq, nk, nv});
    const int64_t s = q.dim(sd), t = k.dim(sd);
    auto batch_ok = [&](int64_t x) { return x == nb || x == 1; };
    auto fits = [&](int i, const Tensor& x, int64_t w) { return off[i] >= 0 && off[i] + h * w <= x.dim(2); };
    if (d <= 0 || dv <= 0 || off.size() != 3 || !batch_ok(nq) || !batch_ok(nk) || !batch_ok(nv) || v.dim(sd) != t ||
        !fits(0, q, d) || !fits(1, k, d) || !fits(2, v, dv))
      return ctx.error("SdpAttention split heads (num_heads " + std::to_string(h) + ", head_dim " +
                       std::to_string(d) + ", v_head_dim " + std::to_string(dv) + ") do not fit Q " +
                       shape_to_string(q.shape()) + ", K " + shape_to_string(k.shape()) + ", V " +
                       shape_to_string(v.shape()) + (seq ? " (seq_major)" : " (batch-major)"));
    FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
    if (y->numel() != s * nb * h * dv) return ctx.error("SdpAttention output size disagrees with inference");
    if (y->numel() == 0) return Status::ok();
    float* py = y->data<float>();
    if (t == 0) {
      std::memset(py, 0, y->nbytes());
      return Status::ok();
    }
    // Seq-major: batch n's rows start n * C into row 0 (row stride N * C); batch-major: n * S * C (row stride C).
    auto view = [&](const Tensor& x, int64_t n, int64_t o, int64_t w) {
      const int64_t c = x.dim(2), rows = x.dim(sd);
      return seq ? MatView{x.data<float>() + o, n == 1 ? 0 : c, n * c, h, w}
                 : MatView{x.data<float>() + o, n == 1 ? 0 : rows * c, c, h, w};
    };
    const OutView out = seq ? OutView{py, dv, nb * h * dv} : OutView{py, s * h * dv, h * dv, h, dv};
    compute(ctx.pool(), view(q, nq, off[0], d), view(k, nk, off[1], d), view(v, nv, off[2], dv), out, nb * h, s, t,
            d, dv, node.attr_float("scale", 1.f), true);
    return Status::ok();
  }

  void compute(ThreadPool& pool, const MatView& vq, const MatView& vk, const MatView& vv, const OutView& vy, int64_t nb,
               int64_t s, int64_t t, int64_t d, int64_t dv, float scale, bool seq) {
    if (fast_ && d > 0) {
      run_fast(pool, vq, vk, vv, vy, nb, s, t, d, dv, scale, !seq);
      return;
    }
    // Parallel over batch*heads; each chunk runs single-threaded GEMMs (no nested OpenMP teams).
    pool.parallel_for(nb, [&](int64_t b0, int64_t b1) {
      dnnl_set_threads(1);
      std::vector<float> scores(static_cast<size_t>(s * t));
      for (int64_t b = b0; b < b1; ++b) {
        sgemm(false, seq, s, t, d, scale, vq.at(b), vq.ld, vk.at(b), vk.ld, 0.f, scores.data(), t);
        for (int64_t i = 0; i < s; ++i) softmax_row(scores.data() + i * t, t);
        sgemm(false, false, s, dv, t, 1.f, scores.data(), t, vv.at(b), vv.ld, 0.f,
              vy.at(b), vy.ld);
      }
    });
    dnnl_set_threads(pool.threads());
  }

  void run_fast(ThreadPool& pool, const MatView& vq, const MatView& vk, const MatView& vv, const OutView& vy, int64_t nb, int64_t s, int64_t t, int64_t d, int64_t dv, float scale, bool k_transposed) {
    const int64_t threads = std::max(1, pool.threads());
    const int64_t per_head = nb >= threads ? 1 : std::min<int64_t>(s, (threads + nb - 1) / nb);  // row chunks
    const int64_t units = nb * per_head, parts = std::min(threads, units);
    const size_t need = sdp_avx512_scratch_floats(t, d, dv);
    std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);
    std::vector<std::vector<float>> temporary;
    std::vector<std::vector<float>>& bufs = lock.owns_lock() ? scratch_ : temporary;
    if (bufs.size() < static_cast<size_t>(parts)) bufs.resize(static_cast<size_t>(parts));
    for (int64_t i = 0; i < parts; ++i)
      if (bufs[i].size() < need) bufs[i].resize(need);
    // Units are taken dynamically: a thread that starts late (waking a pool worker takes microseconds, more on a
    // loaded machine) finds fewer units left instead of holding up the whole op with its static share.
    std::atomic<int64_t> next{0};
    auto part = [&](int64_t p) {
      for (int64_t u; (u = next.fetch_add(1, std::memory_order_relaxed)) < units;) {
        const int64_t b = u / per_head, c = u % per_head;
        SdpHead h{vq.at(b), vq.ld, vk.at(b), vk.ld, k_transposed, vv.at(b), vv.ld, vy.at(b), vy.ld,
                  s, t, d, dv, scale};
        sdp_head_avx512(h, s * c / per_head, s * (c + 1) / per_head, bufs[static_cast<size_t>(p)].data());
      }
    };
    if (parts == 1) {
      part(0);
      return;
    }
    pool.parallel_for(parts, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) part(p);
    });
  }

  bool fast_;
  std::mutex mu_;
  std::vector<std::vector<float>> scratch_;  // per part, grown to the largest shape seen
};

Expected<std::unique_ptr<CpuKernel>> make_sdp_attention(const Node&) {
  return std::unique_ptr<CpuKernel>(new SdpAttentionKernel(dnnl_enabled() && sdp_avx512_available()));
}

}  // namespace

void register_fused_transformer_kernels(KernelRegistry& r) {
  r.add("ferry", "FusedMatMul", make_fused_matmul);
  r.add_fn("ferry", "LayerNorm", layer_norm_kernel);
  r.add_fn("ferry", "Gelu", gelu_kernel);
  r.add("ferry", "SdpAttention", make_sdp_attention);
}

}  // namespace ferry
