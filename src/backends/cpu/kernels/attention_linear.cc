// attention_linear.cc — CPU reference kernels for LinearAttention, CausalConvWithState (opset 27) and
// ai.onnx.preview FlexAttention. Registered from register_attention_kernels(). Computation is in double,
// rounded to the element type at the end (the ONNX function bodies compute in float32).
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "backends/cpu/kernel.h"
#include "core/dtype_dispatch.h"

namespace ferry {
namespace {

// ---- LinearAttention ----
// Per batch b and kv head g the state S[Dk][Dv] evolves over t:
//   gated*: S *= exp(decay_t) (per key row, or one value per head);  delta*: S += k (beta (v - S^T k))^T;
//   otherwise S += k v^T.  Query head h (kv head h / group) reads o_t = scale * q_t^T S.
Status linear_attention_kernel(KernelContext& ctx) {
  const Node& node = ctx.node();
  const Tensor& q = *ctx.input(0);
  const Tensor& k = *ctx.input(1);
  const Tensor& v = *ctx.input(2);
  const Tensor* past = ctx.input(3);
  const Tensor* decay = ctx.input(4);
  const Tensor* beta = ctx.input(5);
  std::string rule = node.attr_string("update_rule", "gated_delta");
  bool gated = rule == "gated" || rule == "gated_delta";
  bool delta = rule == "delta" || rule == "gated_delta";
  if (!gated && !delta && rule != "linear") return ctx.error("unknown update_rule '" + rule + "'");
  int64_t hq = node.attr_int("q_num_heads", 0), hkv = node.attr_int("kv_num_heads", 0);
  if (hq <= 0 || hkv <= 0 || hq % hkv) return ctx.error("q_num_heads must be a positive multiple of kv_num_heads");
  if (q.rank() != 3 || k.rank() != 3 || v.rank() != 3) return ctx.error("query/key/value must be 3-D");
  int64_t b = q.dim(0), t = q.dim(1);
  if (k.dim(0) != b || v.dim(0) != b || k.dim(1) != t || v.dim(1) != t) return ctx.error("query/key/value batch or length differ");
  if (k.dim(2) % hkv || v.dim(2) % hkv) return ctx.error("key/value hidden sizes not divisible by kv_num_heads");
  int64_t dk = k.dim(2) / hkv, dv = v.dim(2) / hkv;
  if (q.dim(2) != hq * dk) return ctx.error("query hidden size must be q_num_heads * key head size");
  double scale = node.attr("scale") ? node.attr_float("scale", 0.f) : 1.0 / std::sqrt(static_cast<double>(dk));
  if (past && (past->rank() != 4 || past->dim(0) != b || past->dim(1) != hkv || past->dim(2) != dk || past->dim(3) != dv))
    return ctx.error("past_state must be [B, kv_heads, Dk, Dv]");
  // decay: [B,T,Hkv*Dk] (per key dim) or [B,T,Hkv] (per head); beta: [B,T,Hkv] or [B,T,1].
  int64_t decay_per = 0, beta_heads = 0;
  if (decay) {
    if (decay->rank() != 3 || decay->dim(0) != b || decay->dim(1) != t || (decay->dim(2) != hkv * dk && decay->dim(2) != hkv))
      return ctx.error("decay must be [B, T, kv_heads*Dk] or [B, T, kv_heads]");
    decay_per = decay->dim(2) / hkv;
  }
  if (beta) {
    if (beta->rank() != 3 || beta->dim(0) != b || beta->dim(1) != t || (beta->dim(2) != hkv && beta->dim(2) != 1))
      return ctx.error("beta must be [B, T, kv_heads] or [B, T, 1]");
    beta_heads = beta->dim(2);
  }
  std::vector<double> qv = to_double_vector(q), kv = to_double_vector(k), vv = to_double_vector(v);
  std::vector<double> dec = decay ? to_double_vector(*decay) : std::vector<double>();
  std::vector<double> bet = beta ? to_double_vector(*beta) : std::vector<double>();
  std::vector<double> state = past ? to_double_vector(*past) : std::vector<double>(static_cast<size_t>(b * hkv * dk * dv), 0.0);
  FERRY_ASSIGN_OR_RETURN(Tensor * out, ctx.output(0));
  if (out->numel() != b * t * hq * dv) return ctx.error("output size disagrees with inference");
  int64_t group = hq / hkv;
  std::vector<double> outv(static_cast<size_t>(out->numel()), 0.0);
  std::vector<double> retrieved(static_cast<size_t>(dv));
  for (int64_t ib = 0; ib < b; ++ib)
    for (int64_t g = 0; g < hkv; ++g) {
      double* s = &state[static_cast<size_t>((ib * hkv + g) * dk * dv)];
      for (int64_t it = 0; it < t; ++it) {
        int64_t row = ib * t + it;
        const double* kt = &kv[static_cast<size_t>(row * hkv * dk + g * dk)];
        const double* vt = &vv[static_cast<size_t>(row * hkv * dv + g * dv)];
        if (gated && decay) {
          for (int64_t i = 0; i < dk; ++i) {
            double f = std::exp(dec[static_cast<size_t>(row * hkv * decay_per + g * decay_per + (decay_per == 1 ? 0 : i))]);
            for (int64_t j = 0; j < dv; ++j) s[i * dv + j] *= f;
          }
        }
        if (delta) {
          double bt = beta ? bet[static_cast<size_t>(row * beta_heads + (beta_heads == 1 ? 0 : g))] : 1.0;
          for (int64_t j = 0; j < dv; ++j) {
            double acc = 0;
            for (int64_t i = 0; i < dk; ++i) acc += s[i * dv + j] * kt[i];
            retrieved[j] = bt * (vt[j] - acc);
          }
          for (int64_t i = 0; i < dk; ++i)
            for (int64_t j = 0; j < dv; ++j) s[i * dv + j] += kt[i] * retrieved[j];
        } else {
          for (int64_t i = 0; i < dk; ++i)
            for (int64_t j = 0; j < dv; ++j) s[i * dv + j] += kt[i] * vt[j];
        }
        for (int64_t h = g * group; h < (g + 1) * group; ++h) {
          const double* qt = &qv[static_cast<size_t>(row * hq * dk + h * dk)];
          for (int64_t j = 0; j < dv; ++j) {
            double acc = 0;
            for (int64_t i = 0; i < dk; ++i) acc += qt[i] * s[i * dv + j];
            outv[static_cast<size_t>(row * hq * dv + h * dv + j)] = scale * acc;
          }
        }
      }
    }
  for (size_t i = 0; i < outv.size(); ++i) store_double(*out, static_cast<int64_t>(i), outv[i]);
  if (ctx.has_output(1)) {
    FERRY_ASSIGN_OR_RETURN(Tensor * present, ctx.output(1));
    if (present->numel() != static_cast<int64_t>(state.size())) return ctx.error("present_state size disagrees");
    for (size_t i = 0; i < state.size(); ++i) store_double(*present, static_cast<int64_t>(i), state[i]);
  }
  return Status::ok();
}

// ---- CausalConvWithState ----
// Depthwise causal conv over concat(past_state or zeros, input) along L; present_state = its last K-1 steps.
Status causal_conv_kernel(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  const Tensor& w = *ctx.input(1);
  const Tensor* bias = ctx.input(2);
  const Tensor* past = ctx.input(3);
  std::string act = ctx.node().attr_string("activation", "none");
  bool silu = act == "silu" || act == "swish";
  if (!silu && act != "none") return ctx.error("unknown activation '" + act + "'");
  if (x.rank() != 3 || w.rank() != 3) return ctx.error("input must be [B, C, L] and weight [C, 1, K]");
  int64_t b = x.dim(0), c = x.dim(1), l = x.dim(2), kk = w.dim(2);
  if (w.dim(0) != c || w.dim(1) != 1 || kk < 1) return ctx.error("weight must be [C, 1, K] with K >= 1");
  if (bias && bias->numel() != c) return ctx.error("bias must have C elements");
  int64_t km1 = kk - 1;
  if (past && (past->rank() != 3 || past->dim(0) != b || past->dim(1) != c || past->dim(2) != km1))
    return ctx.error("past_state must be [B, C, K-1]");
  std::vector<double> xv = to_double_vector(x), wv = to_double_vector(w);
  std::vector<double> bv = bias ? to_double_vector(*bias) : std::vector<double>();
  std::vector<double> pv = past ? to_double_vector(*past) : std::vector<double>();
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  Tensor* present = nullptr;
  if (ctx.has_output(1)) { FERRY_ASSIGN_OR_RETURN(present, ctx.output(1)); }
  std::vector<double> padded(static_cast<size_t>(km1 + l));
  for (int64_t ib = 0; ib < b; ++ib)
    for (int64_t ic = 0; ic < c; ++ic) {
      for (int64_t i = 0; i < km1; ++i) padded[i] = past ? pv[static_cast<size_t>((ib * c + ic) * km1 + i)] : 0.0;
      for (int64_t i = 0; i < l; ++i) padded[km1 + i] = xv[static_cast<size_t>((ib * c + ic) * l + i)];
      for (int64_t i = 0; i < l; ++i) {
        double acc = bias ? bv[ic] : 0.0;
        for (int64_t j = 0; j < kk; ++j) acc += wv[ic * kk + j] * padded[i + j];
        if (silu) acc = acc / (1.0 + std::exp(-acc));
        store_double(*y, (ib * c + ic) * l + i, acc);
      }
      if (present)
        for (int64_t i = 0; i < km1; ++i) store_double(*present, (ib * c + ic) * km1 + i, padded[l + i]);
    }
  return Status::ok();
}

// ---- FlexAttention (ai.onnx.preview) ----
// scores = (Q*sqrt(s)) (K*sqrt(s))^T in float (double for double inputs), score_mod(scores) on the whole
// [B,H,L,S] tensor, softmax over S, prob_mod(probs), Y = probs V (kv heads repeated for GQA).
Expected<Tensor> run_mod(KernelContext& ctx, const Graph* g, Tensor in, const char* what) {
  if (!g) return in;
  if (!ctx.subgraphs()) return ctx.unsupported_error("no subgraph runner available");
  auto outs = ctx.subgraphs()->run(*g, {in});
  if (!outs.has_value()) return outs.status().with_context(std::string("node ") + ctx.node().display_name() + " " + what);
  if (outs->size() != 1 || (*outs)[0].shape() != in.shape())
    return ctx.error(std::string(what) + " must return one tensor shaped like its input");
  return (*outs)[0];
}

Status flex_attention_kernel(KernelContext& ctx) {
  const Tensor& q = *ctx.input(0);
  const Tensor& k = *ctx.input(1);
  const Tensor& v = *ctx.input(2);
  if (q.rank() != 4 || k.rank() != 4 || v.rank() != 4) return ctx.error("Q, K, V must be 4-D");
  int64_t b = q.dim(0), hq = q.dim(1), l = q.dim(2), e = q.dim(3);
  int64_t hkv = k.dim(1), s = k.dim(2), ev = v.dim(3);
  if (k.dim(0) != b || v.dim(0) != b || k.dim(3) != e || v.dim(1) != hkv || v.dim(2) != s)
    return ctx.error("Q, K, V shapes are inconsistent");
  if (hkv <= 0 || hq % hkv) return ctx.error("Q heads must be a multiple of K/V heads");
  const Node& node = ctx.node();
  double scale = node.attr("scale") ? node.attr_float("scale", 0.f) : 1.0 / std::sqrt(static_cast<double>(e));
  double sq = std::sqrt(scale);
  DType st = q.dtype() == DType::kDouble ? DType::kDouble : DType::kFloat;
  std::vector<double> qv = to_double_vector(q), kv = to_double_vector(k), vv = to_double_vector(v);
  int64_t group = hq / hkv;
  std::vector<double> sc(static_cast<size_t>(b * hq * l * s));
  for (int64_t ib = 0; ib < b; ++ib)
    for (int64_t h = 0; h < hq; ++h)
      for (int64_t i = 0; i < l; ++i)
        for (int64_t j = 0; j < s; ++j) {
          double acc = 0;
          const double* qr = &qv[static_cast<size_t>(((ib * hq + h) * l + i) * e)];
          const double* kr = &kv[static_cast<size_t>(((ib * hkv + h / group) * s + j) * e)];
          for (int64_t x = 0; x < e; ++x) acc += (qr[x] * sq) * (kr[x] * sq);
          sc[static_cast<size_t>(((ib * hq + h) * l + i) * s + j)] = acc;
        }
  Shape score_shape = {b, hq, l, s};
  FERRY_ASSIGN_OR_RETURN(Tensor scores, run_mod(ctx, node.attr_graph("score_mod"), from_double_vector(st, score_shape, sc), "score_mod"));
  std::vector<double> sm = to_double_vector(scores);
  for (int64_t r = 0; r < b * hq * l; ++r) {
    double* row = &sm[static_cast<size_t>(r * s)];
    double mx = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < s; ++j) mx = std::max(mx, row[j]);
    double sum = 0;
    for (int64_t j = 0; j < s; ++j) sum += (row[j] = std::exp(row[j] - mx));
    for (int64_t j = 0; j < s; ++j) row[j] /= sum;
  }
  FERRY_ASSIGN_OR_RETURN(Tensor probs, run_mod(ctx, node.attr_graph("prob_mod"), from_double_vector(st, score_shape, sm), "prob_mod"));
  std::vector<double> pv = to_double_vector(probs);
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  if (y->numel() != b * hq * l * ev) return ctx.error("output size disagrees with inference");
  for (int64_t ib = 0; ib < b; ++ib)
    for (int64_t h = 0; h < hq; ++h)
      for (int64_t i = 0; i < l; ++i)
        for (int64_t x = 0; x < ev; ++x) {
          double acc = 0;
          for (int64_t j = 0; j < s; ++j)
            acc += pv[static_cast<size_t>(((ib * hq + h) * l + i) * s + j)] *
                   vv[static_cast<size_t>(((ib * hkv + h / group) * s + j) * ev + x)];
          store_double(*y, ((ib * hq + h) * l + i) * ev + x, acc);
        }
  return Status::ok();
}

}  // namespace

void register_attention_linear_kernels(KernelRegistry& r) {
  r.add_fn("", "LinearAttention", linear_attention_kernel);
  r.add_fn("", "CausalConvWithState", causal_conv_kernel);
  r.add_fn("ai.onnx.preview", "FlexAttention", flex_attention_kernel);
}

}  // namespace ferry
