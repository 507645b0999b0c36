// attention.cc — CPU reference kernels of the attention family: Attention (opset 23/24) and RotaryEmbedding.
//
// Attention follows the ONNX function body: scores = (Q*sqrt(s)) (K*sqrt(s))^T, softcap, + bias (mask padded
// with -inf to the total length, causal frontier, nonpad_kv_seqlen padding), softmax, rows whose bias is all
// -inf give zero probabilities, Y = P V. Everything is computed in double and rounded to T at the end.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "backends/cpu/kernel.h"
#include "core/dtype_dispatch.h"

namespace ferry {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

struct AttnDims {
  int64_t b = 0, qh = 0, kvh = 0, s = 0, l = 0, p = 0, t = 0, d = 0, dv = 0;
  bool three_d = false;
};

// Reads a 3-D [B, S, H*D] or 4-D [B, H, S, D] tensor into a canonical [B, H, S, D] double buffer.
std::vector<double> to_bhsd(const Tensor& x, int64_t heads, bool three_d) {
  std::vector<double> v = to_double_vector(x);
  if (!three_d) return v;
  int64_t b = x.dim(0), s = x.dim(1), d = x.dim(2) / heads;
  std::vector<double> out(v.size());
  for (int64_t ib = 0; ib < b; ++ib)
    for (int64_t is = 0; is < s; ++is)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t id = 0; id < d; ++id)
          out[((ib * heads + h) * s + is) * d + id] = v[(ib * s + is) * heads * d + h * d + id];
  return out;
}

// Bias source: the attention mask broadcast to [B, qH, S, T] (last dim padded with -inf).
struct MaskView {
  const Tensor* mask = nullptr;
  std::vector<double> values;
  std::vector<int64_t> stride;  // per canonical dim (b, h, i, j), 0 when broadcast
  int64_t last = 0;             // mask length along j before padding
  bool is_bool = false;
  double at(int64_t b, int64_t h, int64_t i, int64_t j) const {
    if (!mask) return 0;
    if (j >= last) return kNegInf;
    double v = values[static_cast<size_t>(b * stride[0] + h * stride[1] + i * stride[2] + j * stride[3])];
    return is_bool ? (v != 0 ? 0.0 : kNegInf) : v;
  }
};

Status make_mask_view(KernelContext& ctx, const Tensor* m, const AttnDims& dd, MaskView* mv) {
  if (!m) return Status::ok();
  if (m->rank() < 1 || m->rank() > 4) return ctx.error("attn_mask must have rank 1..4, got " + shape_to_string(m->shape()));
  mv->mask = m;
  mv->is_bool = m->dtype() == DType::kBool;
  mv->values = to_double_vector(*m);
  Shape s = m->shape();
  while (s.size() < 4) s.insert(s.begin(), 1);
  const int64_t target[4] = {dd.b, dd.qh, dd.s, dd.t};
  mv->stride.assign(4, 0);
  int64_t acc = 1;
  for (int k = 3; k >= 0; --k) {
    if (k == 3) {
      if (s[3] > dd.t) return ctx.error("attn_mask last dim " + std::to_string(s[3]) + " exceeds total sequence length " + std::to_string(dd.t));
      // A shorter last dim (even 1) is padded with -inf, never broadcast (ONNX reference semantics).
      mv->stride[3] = 1;
      mv->last = s[3];
    } else {
      if (s[k] != 1 && s[k] != target[k])
        return ctx.error("attn_mask of shape " + shape_to_string(m->shape()) + " cannot be broadcast to [B, q_heads, S, T]");
      mv->stride[k] = s[k] == 1 ? 0 : acc;
    }
    acc *= s[k];
  }
  return Status::ok();
}

Status attention_kernel(KernelContext& ctx) {
  const Node& node = ctx.node();
  const Tensor& q = *ctx.input(0);
  const Tensor& k = *ctx.input(1);
  const Tensor& v = *ctx.input(2);
  const Tensor* mask = ctx.input(3);
  const Tensor* past_k = ctx.input(4);
  const Tensor* past_v = ctx.input(5);
  const Tensor* nonpad = ctx.input(6);
  DType t = q.dtype();
  if (k.dtype() != t || v.dtype() != t) return ctx.error("Q, K, V element types differ");
  if (!dtype_is_float(t)) return ctx.error(std::string("unsupported element type ") + dtype_name(t));
  AttnDims dd;
  int r = q.rank();
  if ((r != 3 && r != 4) || k.rank() != r || v.rank() != r) return ctx.error("Q, K, V must all be 3-D or all 4-D");
  dd.three_d = r == 3;
  dd.b = q.dim(0);
  if (k.dim(0) != dd.b || v.dim(0) != dd.b) return ctx.error("Q, K, V batch sizes differ");
  if (r == 4) {
    dd.qh = q.dim(1), dd.s = q.dim(2), dd.d = q.dim(3);
    dd.kvh = k.dim(1), dd.l = k.dim(2), dd.dv = v.dim(3);
    if (k.dim(3) != dd.d) return ctx.error("Q and K head sizes differ");
    if (v.dim(1) != dd.kvh || v.dim(2) != dd.l) return ctx.error("K and V shapes disagree");
  } else {
    dd.qh = node.attr_int("q_num_heads", 0), dd.kvh = node.attr_int("kv_num_heads", 0);
    if (dd.qh <= 0 || dd.kvh <= 0) return ctx.error("3-D inputs need q_num_heads and kv_num_heads");
    if (q.dim(2) % dd.qh || k.dim(2) % dd.kvh || v.dim(2) % dd.kvh) return ctx.error("hidden sizes not divisible by head counts");
    dd.s = q.dim(1), dd.d = q.dim(2) / dd.qh, dd.l = k.dim(1), dd.dv = v.dim(2) / dd.kvh;
    if (k.dim(2) / dd.kvh != dd.d) return ctx.error("Q and K head sizes differ");
    if (v.dim(1) != dd.l) return ctx.error("K and V sequence lengths differ");
  }
  if (dd.kvh <= 0 || dd.qh % dd.kvh) return ctx.error("q_num_heads must be a multiple of kv_num_heads");
  if ((past_k == nullptr) != (past_v == nullptr)) return ctx.error("past_key and past_value must be given together");
  if (past_k) {
    if (past_k->rank() != 4 || past_v->rank() != 4 || past_k->dim(0) != dd.b || past_k->dim(1) != dd.kvh ||
        past_k->dim(3) != dd.d || past_v->dim(0) != dd.b || past_v->dim(1) != dd.kvh || past_v->dim(2) != past_k->dim(2) ||
        past_v->dim(3) != dd.dv)
      return ctx.error("past_key/past_value shapes " + shape_to_string(past_k->shape()) + " " +
                       shape_to_string(past_v->shape()) + " do not match K/V");
    if (past_k->dtype() != t || past_v->dtype() != t) return ctx.error("past_key/past_value element types differ from Q");
    dd.p = past_k->dim(2);
  }
  dd.t = dd.p + dd.l;
  std::vector<int64_t> nonpad_len;
  if (nonpad) {
    if (!dtype_is_integer(nonpad->dtype()) || nonpad->numel() != dd.b)
      return ctx.error("nonpad_kv_seqlen must be an integer tensor with one value per batch");
    nonpad_len = to_int64_vector(*nonpad);
  }
  MaskView mv;
  FERRY_RETURN_IF_ERROR(make_mask_view(ctx, mask, dd, &mv));

  double scale = node.attr_float("scale", 0.f);
  if (node.attr("scale") == nullptr) scale = 1.0 / std::sqrt(static_cast<double>(dd.d));
  double sqrt_scale = std::sqrt(scale);
  double softcap = node.attr_float("softcap", 0.f);
  bool causal = node.attr_int("is_causal", 0) != 0;
  int64_t mode = node.attr_int("qk_matmul_output_mode", 0);

  std::vector<double> qd = to_bhsd(q, dd.qh, dd.three_d);
  std::vector<double> kn = to_bhsd(k, dd.kvh, dd.three_d), vn = to_bhsd(v, dd.kvh, dd.three_d);
  // Present K/V: [B, kvH, T, D] = concat(past, new) along the sequence.
  std::vector<double> kd(static_cast<size_t>(dd.b * dd.kvh * dd.t * dd.d)), vd(static_cast<size_t>(dd.b * dd.kvh * dd.t * dd.dv));
  std::vector<double> pk = past_k ? to_double_vector(*past_k) : std::vector<double>();
  std::vector<double> pv = past_v ? to_double_vector(*past_v) : std::vector<double>();
  for (int64_t b = 0; b < dd.b; ++b)
    for (int64_t h = 0; h < dd.kvh; ++h)
      for (int64_t j = 0; j < dd.t; ++j) {
        bool old = j < dd.p;
        for (int64_t x = 0; x < dd.d; ++x)
          kd[((b * dd.kvh + h) * dd.t + j) * dd.d + x] =
              old ? pk[((b * dd.kvh + h) * dd.p + j) * dd.d + x] : kn[((b * dd.kvh + h) * dd.l + j - dd.p) * dd.d + x];
        for (int64_t x = 0; x < dd.dv; ++x)
          vd[((b * dd.kvh + h) * dd.t + j) * dd.dv + x] =
              old ? pv[((b * dd.kvh + h) * dd.p + j) * dd.dv + x] : vn[((b * dd.kvh + h) * dd.l + j - dd.p) * dd.dv + x];
      }

  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  Tensor* present_k = nullptr;
  Tensor* present_v = nullptr;
  Tensor* qk_out = nullptr;
  if (ctx.has_output(1)) { FERRY_ASSIGN_OR_RETURN(present_k, ctx.output(1)); }
  if (ctx.has_output(2)) { FERRY_ASSIGN_OR_RETURN(present_v, ctx.output(2)); }
  if (ctx.has_output(3)) { FERRY_ASSIGN_OR_RETURN(qk_out, ctx.output(3)); }
  if (y->numel() != dd.b * dd.qh * dd.s * dd.dv) return ctx.error("output size disagrees with inference");
  if (present_k && present_k->numel() != static_cast<int64_t>(kd.size())) return ctx.error("present_key size disagrees");
  if (present_v && present_v->numel() != static_cast<int64_t>(vd.size())) return ctx.error("present_value size disagrees");
  if (qk_out && qk_out->numel() != dd.b * dd.qh * dd.s * dd.t) return ctx.error("qk_matmul_output size disagrees");
  if (present_k)
    for (size_t i = 0; i < kd.size(); ++i) store_double(*present_k, static_cast<int64_t>(i), kd[i]);
  if (present_v)
    for (size_t i = 0; i < vd.size(); ++i) store_double(*present_v, static_cast<int64_t>(i), vd[i]);

  int64_t group = dd.qh / dd.kvh;
  ctx.pool().parallel_for(dd.b * dd.qh, [&](int64_t r0, int64_t r1) {
    std::vector<double> score(static_cast<size_t>(dd.t)), bias(static_cast<size_t>(dd.t)), prob(static_cast<size_t>(dd.t));
    for (int64_t bh = r0; bh < r1; ++bh) {
      int64_t b = bh / dd.qh, h = bh % dd.qh, kh = h / group;
      int64_t offset = 0;
      if (past_k) offset = dd.p;
      else if (nonpad) offset = nonpad_len[static_cast<size_t>(b)] - dd.s;
      const double* kb = &kd[static_cast<size_t>((b * dd.kvh + kh) * dd.t * dd.d)];
      const double* vb = &vd[static_cast<size_t>((b * dd.kvh + kh) * dd.t * dd.dv)];
      for (int64_t i = 0; i < dd.s; ++i) {
        const double* qrow = &qd[static_cast<size_t>(((b * dd.qh + h) * dd.s + i) * dd.d)];
        double bias_max = kNegInf;
        for (int64_t j = 0; j < dd.t; ++j) {
          double acc = 0;
          for (int64_t x = 0; x < dd.d; ++x) acc += (qrow[x] * sqrt_scale) * (kb[j * dd.d + x] * sqrt_scale);
          if (softcap > 0) acc = softcap * std::tanh(acc / softcap);
          double bj = mv.at(b, h, i, j);
          if (causal && j > i + offset) bj = kNegInf;
          if (nonpad && j >= nonpad_len[static_cast<size_t>(b)]) bj = kNegInf;
          score[j] = acc;
          bias[j] = bj;
          bias_max = std::max(bias_max, bj);
        }
        bool all_masked = bias_max == kNegInf;
        double mx = kNegInf;
        for (int64_t j = 0; j < dd.t; ++j) mx = std::max(mx, score[j] + bias[j]);
        double sum = 0;
        for (int64_t j = 0; j < dd.t; ++j) {
          prob[j] = all_masked ? 0.0 : std::exp(score[j] + bias[j] - mx);
          sum += prob[j];
        }
        for (int64_t j = 0; j < dd.t; ++j) prob[j] = all_masked ? 0.0 : prob[j] / sum;
        if (qk_out) {
          int64_t base = ((b * dd.qh + h) * dd.s + i) * dd.t;
          for (int64_t j = 0; j < dd.t; ++j) {
            double val = mode == 3 ? prob[j] : mode == 2 ? score[j] + bias[j] : score[j];
            store_double(*qk_out, base + j, val);
          }
        }
        for (int64_t x = 0; x < dd.dv; ++x) {
          double acc = 0;
          for (int64_t j = 0; j < dd.t; ++j) acc += prob[j] * vb[j * dd.dv + x];
          int64_t idx = dd.three_d ? (b * dd.s + i) * dd.qh * dd.dv + h * dd.dv + x : ((b * dd.qh + h) * dd.s + i) * dd.dv + x;
          store_double(*y, idx, acc);
        }
      }
    }
  });
  return Status::ok();
}

// ---- RotaryEmbedding ----
Status rotary_kernel(KernelContext& ctx) {
  const Node& node = ctx.node();
  const Tensor& x = *ctx.input(0);
  const Tensor& cosc = *ctx.input(1);
  const Tensor& sinc = *ctx.input(2);
  const Tensor* pos = ctx.input(3);
  bool interleaved = node.attr_int("interleaved", 0) != 0;
  int64_t rot = node.attr_int("rotary_embedding_dim", 0);
  int64_t nh = node.attr_int("num_heads", 0);
  int r = x.rank();
  if (r != 3 && r != 4) return ctx.error("input must be 3-D or 4-D");
  int64_t b = x.dim(0), s, h, d;
  if (r == 4) {
    h = x.dim(1), s = x.dim(2), d = x.dim(3);
  } else {
    if (nh <= 0 || x.dim(2) % nh) return ctx.error("3-D input needs num_heads dividing the hidden size");
    s = x.dim(1), h = nh, d = x.dim(2) / nh;
  }
  if (rot == 0) rot = d;
  if (rot < 0 || rot > d || rot % 2) return ctx.error("rotary_embedding_dim must be even and <= head size");
  int64_t half = rot / 2;
  if (cosc.shape() != sinc.shape()) return ctx.error("cos_cache and sin_cache shapes differ");
  if (cosc.rank() < 1 || cosc.dim(cosc.rank() - 1) != half)
    return ctx.error("cos_cache last dim must be rotary_embedding_dim/2 = " + std::to_string(half));
  std::vector<double> cv = to_double_vector(cosc), sv = to_double_vector(sinc);
  std::vector<int64_t> pids;
  if (pos) {
    if (cosc.rank() != 2) return ctx.error("with position_ids, cos_cache must be 2-D [max_pos, rot/2]");
    if (pos->numel() != b * s) return ctx.error("position_ids must have shape [batch, seq]");
    pids = to_int64_vector(*pos);
    for (int64_t p : pids)
      if (p < 0 || p >= cosc.dim(0)) return ctx.error("position id " + std::to_string(p) + " out of cache range");
  } else {
    if (cosc.rank() != 3 || cosc.dim(0) != b || cosc.dim(1) != s)
      return ctx.error("without position_ids, cos_cache must be [batch, seq, rot/2]");
  }
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  std::vector<double> xv = to_double_vector(x), yv = xv;
  for (int64_t ib = 0; ib < b; ++ib)
    for (int64_t is = 0; is < s; ++is) {
      int64_t crow = pos ? pids[static_cast<size_t>(ib * s + is)] : ib * s + is;
      const double* cr = &cv[static_cast<size_t>(crow * half)];
      const double* sr = &sv[static_cast<size_t>(crow * half)];
      for (int64_t ih = 0; ih < h; ++ih) {
        int64_t base = r == 4 ? ((ib * h + ih) * s + is) * d : (ib * s + is) * h * d + ih * d;
        for (int64_t k = 0; k < half; ++k) {
          int64_t i1 = interleaved ? base + 2 * k : base + k;
          int64_t i2 = interleaved ? base + 2 * k + 1 : base + k + half;
          double x1 = xv[i1], x2 = xv[i2];
          yv[i1] = cr[k] * x1 - sr[k] * x2;
          yv[i2] = sr[k] * x1 + cr[k] * x2;
        }
      }
    }
  for (size_t i = 0; i < yv.size(); ++i) store_double(*y, static_cast<int64_t>(i), yv[i]);
  return Status::ok();
}

}  // namespace

void register_attention_linear_kernels(KernelRegistry& r);  // attention_linear.cc

void register_attention_kernels(KernelRegistry& r) {
  register_attention_linear_kernels(r);
  r.add_fn("", "Attention", attention_kernel);
  r.add_fn("", "RotaryEmbedding", rotary_kernel);
}

}  // namespace ferry
