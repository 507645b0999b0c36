// attention.cc — op semantics (schemas + shape/dtype inference) of the attention family:
// Attention (opset 23/24), RotaryEmbedding (23); LinearAttention, CausalConvWithState, FlexAttention live in
// attention_linear.cc.
#include <string>
#include <vector>

#include "ops/op_registry.h"

namespace ferry {
namespace {

Dim dim_div(const Dim& d, int64_t k) {
  if (!d.known() || k <= 0) return Dim();
  return Dim(d.value / k);
}
Dim dim_add(const Dim& a, const Dim& b) {
  if (a.known() && b.known()) return Dim(a.value + b.value);
  if (a.known() && a.value == 0) return b;
  if (b.known() && b.value == 0) return a;
  return Dim();
}

bool is_attention_float(DType t) {
  return t == DType::kFloat || t == DType::kFloat16 || t == DType::kBFloat16 || t == DType::kDouble;
}

// Attention: Q, K, V, attn_mask?, past_key?, past_value?, nonpad_kv_seqlen? (24) ->
// Y, present_key?, present_value?, qk_matmul_output?
Status infer_attention(InferContext& c) {
  const Node& n = c.node();
  DType t = c.input_dtype(0);
  if (t != DType::kUndefined && !is_attention_float(t))
    return c.error(std::string("unsupported element type ") + dtype_name(t));
  for (int i : {1, 2})
    if (c.input_dtype(i) != DType::kUndefined && t != DType::kUndefined && c.input_dtype(i) != t)
      return c.error("Q, K and V must have the same element type");
  int64_t mode = n.attr_int("qk_matmul_output_mode", 0);
  if (mode < 0 || mode > 3) return c.error("qk_matmul_output_mode must be 0..3, got " + std::to_string(mode));
  if (c.has_input(6) && c.opset() > 0 && c.opset() < 24) return c.error("nonpad_kv_seqlen needs opset 24");
  if (c.has_input(4) != c.has_input(5)) return c.error("past_key and past_value must be given together");
  const SymShape& q = c.input_shape(0);
  const SymShape& k = c.input_shape(1);
  const SymShape& v = c.input_shape(2);
  if (!q.rank_known || !k.rank_known || !v.rank_known) {
    c.set_output(0, t, SymShape::unknown());
    for (int i = 1; i < 4; ++i)
      if (c.has_output(i)) c.set_output(i, t, SymShape::unknown());
    return Status::ok();
  }
  int r = q.rank();
  if ((r != 3 && r != 4) || k.rank() != r || v.rank() != r)
    return c.error("Q, K, V must all be 3-D or all 4-D, got " + q.to_string() + " " + k.to_string() + " " + v.to_string());
  Dim batch = q.dims[0], qh, qs, hd, kvh, kvs, vhd;
  if (r == 4) {
    qh = q.dims[1], qs = q.dims[2], hd = q.dims[3];
    kvh = k.dims[1], kvs = k.dims[2];
    vhd = v.dims[3];
    if (k.dims[3].known() && hd.known() && k.dims[3].value != hd.value) return c.error("Q and K head sizes differ");
  } else {
    int64_t nq = n.attr_int("q_num_heads", 0), nkv = n.attr_int("kv_num_heads", 0);
    if (nq <= 0 || nkv <= 0) return c.error("3-D inputs need positive q_num_heads and kv_num_heads attributes");
    if (q.dims[2].known() && q.dims[2].value % nq) return c.error("Q hidden size not divisible by q_num_heads");
    if (k.dims[2].known() && k.dims[2].value % nkv) return c.error("K hidden size not divisible by kv_num_heads");
    if (v.dims[2].known() && v.dims[2].value % nkv) return c.error("V hidden size not divisible by kv_num_heads");
    qh = Dim(nq), qs = q.dims[1], hd = dim_div(q.dims[2], nq);
    kvh = Dim(nkv), kvs = k.dims[1];
    vhd = dim_div(v.dims[2], nkv);
    if (hd.known() && k.dims[2].known() && hd.value != k.dims[2].value / nkv) return c.error("Q and K head sizes differ");
  }
  if (qh.known() && kvh.known() && (kvh.value == 0 || qh.value % kvh.value))
    return c.error("q_num_heads must be a multiple of kv_num_heads");
  Dim past(0);
  if (c.has_input(4)) {
    const SymShape& pk = c.input_shape(4);
    if (pk.rank_known) {
      if (pk.rank() != 4) return c.error("past_key must be 4-D, got " + pk.to_string());
      past = pk.dims[2];
    } else {
      past = Dim();
    }
  }
  Dim total = dim_add(past, kvs);
  if (r == 4) c.set_output(0, t, SymShape::from_dims({batch, qh, qs, vhd}));
  else c.set_output(0, t, SymShape::from_dims({batch, qs, qh.known() && vhd.known() ? Dim(qh.value * vhd.value) : Dim()}));
  if (c.has_output(1)) c.set_output(1, t, SymShape::from_dims({batch, kvh, total, hd}));
  if (c.has_output(2)) c.set_output(2, t, SymShape::from_dims({batch, kvh, total, vhd}));
  if (c.has_output(3)) c.set_output(3, t, SymShape::from_dims({batch, qh, qs, total}));
  return Status::ok();
}

// RotaryEmbedding: X, cos_cache, sin_cache, position_ids? -> Y (same shape as X).
Status infer_rotary(InferContext& c) {
  DType t = c.input_dtype(0);
  if (t != DType::kUndefined && !is_attention_float(t))
    return c.error(std::string("unsupported element type ") + dtype_name(t));
  const SymShape& x = c.input_shape(0);
  if (x.rank_known && x.rank() != 3 && x.rank() != 4) return c.error("input must be 3-D or 4-D, got " + x.to_string());
  if (x.rank_known && x.rank() == 3 && c.node().attr_int("num_heads", 0) <= 0)
    return c.error("3-D input needs a positive num_heads attribute");
  c.set_output(0, t, x);
  return Status::ok();
}

}  // namespace

void register_attention_linear(OpRegistry& r);  // attention_linear.cc

void register_attention(OpRegistry& r) {
  register_attention_linear(r);
  r.add({"", "Attention", 3, 7, 1, 4, infer_attention});
  r.add({"", "RotaryEmbedding", 3, 4, 1, 1, infer_rotary});
}

}  // namespace ferry
