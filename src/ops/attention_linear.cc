// attention_linear.cc — op semantics of the newer attention-family ops: LinearAttention (opset 27),
// CausalConvWithState (opset 27) and ai.onnx.preview FlexAttention. Registered from register_attention().
#include <string>
#include <vector>

#include "ops/op_registry.h"

namespace ferry {
namespace {

bool is_float_type(DType t) {
  return t == DType::kFloat || t == DType::kFloat16 || t == DType::kBFloat16 || t == DType::kDouble;
}
Dim div_dim(const Dim& d, int64_t k) { return d.known() && k > 0 ? Dim(d.value / k) : Dim(); }

// query [B,T,Hq*Dk], key [B,T,Hkv*Dk], value [B,T,Hkv*Dv], past_state? [B,Hkv,Dk,Dv], decay?, beta?
//   -> output [B,T,Hq*Dv], present_state [B,Hkv,Dk,Dv]
Status infer_linear_attention(InferContext& c) {
  const Node& n = c.node();
  DType t = c.input_dtype(0);
  if (t != DType::kUndefined && !is_float_type(t)) return c.error(std::string("unsupported element type ") + dtype_name(t));
  std::string rule = n.attr_string("update_rule", "gated_delta");
  if (rule != "linear" && rule != "gated" && rule != "delta" && rule != "gated_delta")
    return c.error("unknown update_rule '" + rule + "'");
  int64_t hq = n.attr_int("q_num_heads", 0), hkv = n.attr_int("kv_num_heads", 0);
  if (hq <= 0 || hkv <= 0 || hq % hkv) return c.error("q_num_heads must be a positive multiple of kv_num_heads");
  const SymShape& q = c.input_shape(0);
  const SymShape& k = c.input_shape(1);
  const SymShape& v = c.input_shape(2);
  for (const SymShape* s : {&q, &k, &v})
    if (s->rank_known && s->rank() != 3) return c.error("query/key/value must be 3-D [B, T, H*D], got " + s->to_string());
  if (!q.rank_known || !k.rank_known || !v.rank_known) {
    c.set_output(0, t, SymShape::unknown());
    if (c.has_output(1)) c.set_output(1, t, SymShape::from_dims({Dim(), Dim(hkv), Dim(), Dim()}));
    return Status::ok();
  }
  Dim dk = div_dim(k.dims[2], hkv), dv = div_dim(v.dims[2], hkv);
  if (k.dims[2].known() && k.dims[2].value % hkv) return c.error("key hidden size not divisible by kv_num_heads");
  if (v.dims[2].known() && v.dims[2].value % hkv) return c.error("value hidden size not divisible by kv_num_heads");
  if (q.dims[2].known() && dk.known() && q.dims[2].value != hq * dk.value)
    return c.error("query hidden size must be q_num_heads * key head size");
  c.set_output(0, t, SymShape::from_dims({q.dims[0], q.dims[1], dv.known() ? Dim(hq * dv.value) : Dim()}));
  if (c.has_output(1)) c.set_output(1, t, SymShape::from_dims({q.dims[0], Dim(hkv), dk, dv}));
  return Status::ok();
}

// input [B,C,L], weight [C,1,K], bias? [C], past_state? [B,C,K-1] -> output [B,C,L], present_state [B,C,K-1]
Status infer_causal_conv(InferContext& c) {
  DType t = c.input_dtype(0);
  if (t != DType::kUndefined && !is_float_type(t)) return c.error(std::string("unsupported element type ") + dtype_name(t));
  std::string act = c.node().attr_string("activation", "none");
  if (act != "none" && act != "silu" && act != "swish") return c.error("unknown activation '" + act + "'");
  const SymShape& x = c.input_shape(0);
  const SymShape& w = c.input_shape(1);
  if (x.rank_known && x.rank() != 3) return c.error("input must be 3-D [B, C, L], got " + x.to_string());
  if (w.rank_known && w.rank() != 3) return c.error("weight must be 3-D [C, 1, K], got " + w.to_string());
  c.set_output(0, t, x);
  if (c.has_output(1)) {
    Dim km1 = w.rank_known && w.dims[2].known() ? Dim(w.dims[2].value - 1) : Dim();
    if (km1.known() && km1.value < 0) return c.error("kernel size must be >= 1");
    c.set_output(1, t, x.rank_known ? SymShape::from_dims({x.dims[0], x.dims[1], km1}) : SymShape::unknown());
  }
  return Status::ok();
}

// Q [B,Hq,L,E], K [B,Hkv,S,E], V [B,Hkv,S,Ev] -> Y [B,Hq,L,Ev]
Status infer_flex_attention(InferContext& c) {
  DType t = c.input_dtype(0);
  if (t != DType::kUndefined && !is_float_type(t)) return c.error(std::string("unsupported element type ") + dtype_name(t));
  const SymShape& q = c.input_shape(0);
  const SymShape& v = c.input_shape(2);
  for (int i = 0; i < 3; ++i)
    if (c.input_shape(i).rank_known && c.input_shape(i).rank() != 4) return c.error("Q, K, V must be 4-D");
  if (!q.rank_known || !v.rank_known) {
    c.set_output(0, t, SymShape::unknown());
    return Status::ok();
  }
  c.set_output(0, t, SymShape::from_dims({q.dims[0], q.dims[1], q.dims[2], v.dims[3]}));
  return Status::ok();
}

}  // namespace

void register_attention_linear(OpRegistry& r) {
  r.add({"", "LinearAttention", 3, 6, 1, 2, infer_linear_attention});
  r.add({"", "CausalConvWithState", 2, 4, 1, 2, infer_causal_conv});
  r.add({"ai.onnx.preview", "FlexAttention", 3, 3, 1, 1, infer_flex_attention});
}

}  // namespace ferry
