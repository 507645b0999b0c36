// fused_transformer.cc — ferry-domain fused ops that the kAll fusion passes create for transformer graphs.
//
// None of these exist in ONNX files written by exporters; src/passes/fuse_*.cc produce them from the
// standard-op patterns torch exports (see each pass for the exact pattern). All are float32 only.
//
//   ferry.FusedMatMul(A[..., K], B[K, N] (or [N, K] with trans_b=1), bias[N]?, residual[..., N]?) -> Y[..., N]
//       Y = act(A x B + bias) + residual; attr activation: "none" | "relu" | "gelu" (erf form); B is a constant;
//       residual (a transformer's skip connection) has exactly Y's shape.
//   ferry.LayerNorm(X[..., C], scale[C], bias[C]?) -> Y: normalizes over the last axis; attr epsilon.
//   ferry.Gelu(X) -> Y = 0.5 x (1 + erf(x / sqrt 2)) (exact, erf form).
//   ferry.SdpAttention(Q[N, S, d], KT[N, d, T], V[N, T, dv]) -> Y[N, S, dv] (N broadcasts: 1 or N each)
//       Y = softmax(scale * Q x KT, last axis) x V per batch n; attr scale (float, default 1).
//       With attr seq_major=1 the operands are Q[S, N, d], K[T, N, d] (not transposed), V[T, N, dv] and
//       Y is [S, N, dv]: the layout torch's MultiheadAttention has around its batched MatMuls.
//       With seq_major=1 and attr num_heads=H > 0 the heads are split out of packed projections: Q[S, N, Cq],
//       K[T, N, Ck], V[T, N, Cv]; head h reads columns offsets[i] + h * head_dim (v_head_dim for V) onwards
//       (attr offsets, 3 ints) and Y is [S, N, H * v_head_dim]. With num_heads > 0 and seq_major=0 the packed
//       projections are batch-major: Q[N, S, Cq], K[N, T, Ck], V[N, T, Cv] -> Y[N, S, H * v_head_dim].
#include "ops/op_registry.h"

namespace ferry {

namespace {

Status require_float(InferContext& c, int i, const char* what) {
  if (c.has_input(i) && c.input_dtype(i) != DType::kFloat && c.input_dtype(i) != DType::kUndefined)
    return c.error(std::string(what) + " must be float32, got " + dtype_name(c.input_dtype(i)));
  return Status::ok();
}

// Dims a and b agree unless one of them is unknown/symbolic.
bool dims_agree(const Dim& a, const Dim& b) { return !a.known() || !b.known() || a.value == b.value; }

Status infer_fused_matmul(InferContext& c) {
  for (int i = 0; i < c.num_inputs(); ++i) FERRY_RETURN_IF_ERROR(require_float(c, i, "inputs"));
  std::string act = c.node().attr_string("activation", "none");
  if (act != "none" && act != "relu" && act != "gelu")
    return c.error("activation must be none, relu or gelu, got '" + act + "'");
  bool trans_b = c.node().attr_int("trans_b", 0) != 0;
  const SymShape& a = c.input_shape(0);
  const SymShape& b = c.input_shape(1);
  if (b.rank_known && b.rank() != 2) return c.error("B must be 2-D, got " + b.to_string());
  if (!a.rank_known || !b.rank_known) {
    c.set_output(0, DType::kFloat, SymShape::unknown());
    return Status::ok();
  }
  if (a.rank() < 1) return c.error("A must have rank >= 1");
  const Dim& k = b.dims[trans_b ? 1 : 0];
  const Dim& n = b.dims[trans_b ? 0 : 1];
  if (!dims_agree(a.dims.back(), k))
    return c.error("inner dimensions differ: A " + a.to_string() + ", B " + b.to_string());
  if (c.has_input(2)) {
    const SymShape& bias = c.input_shape(2);
    if (bias.rank_known && (bias.rank() != 1 || !dims_agree(bias.dims[0], n)))
      return c.error("bias must be [N], got " + bias.to_string());
  }
  SymShape y = a;
  y.dims.back() = n;
  if (c.has_input(3)) {  // residual: exactly Y's shape (no broadcast)
    const SymShape& r = c.input_shape(3);
    bool ok = !r.rank_known || r.rank() == y.rank();
    for (int i = 0; ok && r.rank_known && i < r.rank(); ++i) ok = dims_agree(r.dims[i], y.dims[i]);
    if (!ok) return c.error("residual must have the shape of Y " + y.to_string() + ", got " + r.to_string());
  }
  c.set_output(0, DType::kFloat, y);
  return Status::ok();
}

Status infer_layer_norm(InferContext& c) {
  for (int i = 0; i < c.num_inputs(); ++i) FERRY_RETURN_IF_ERROR(require_float(c, i, "inputs"));
  const SymShape& x = c.input_shape(0);
  if (x.rank_known && x.rank() < 1) return c.error("X must have rank >= 1");
  for (int i = 1; i < c.num_inputs(); ++i) {
    if (!c.has_input(i)) continue;
    const SymShape& s = c.input_shape(i);
    if (s.rank_known && (s.rank() != 1 || (x.rank_known && !dims_agree(s.dims[0], x.dims.back()))))
      return c.error(std::string(i == 1 ? "scale" : "bias") + " must be [C] with C the last dim of X " + x.to_string() +
                     ", got " + s.to_string());
  }
  c.set_output(0, DType::kFloat, x);
  return Status::ok();
}

Status infer_gelu(InferContext& c) {
  FERRY_RETURN_IF_ERROR(require_float(c, 0, "X"));
  c.set_output(0, DType::kFloat, c.input_shape(0));
  return Status::ok();
}

Status infer_sdp_attention(InferContext& c) {
  for (int i = 0; i < 3; ++i) FERRY_RETURN_IF_ERROR(require_float(c, i, "inputs"));
  const SymShape& q = c.input_shape(0);
  const SymShape& k = c.input_shape(1);
  const SymShape& v = c.input_shape(2);
  if (!q.rank_known || !k.rank_known || !v.rank_known) {
    c.set_output(0, DType::kFloat, SymShape::unknown());
    return Status::ok();
  }
  if (q.rank() != 3 || k.rank() != 3 || v.rank() != 3)
    return c.error("Q, K and V must be 3-D, got " + q.to_string() + ", " + k.to_string() + ", " + v.to_string());
  bool seq = c.node().attr_int("seq_major", 0) != 0;
  if (int64_t h = c.node().attr_int("num_heads", 0); h > 0) {  // split heads: Y [S, N, H * v_head_dim]
    int64_t d = c.node().attr_int("head_dim", 0), dv = c.node().attr_int("v_head_dim", d);
    if (d <= 0 || dv <= 0) return c.error("num_heads needs positive head dims");
    const int bd = seq ? 1 : 0;  // the batch axis
    auto batch = broadcast_shapes({SymShape::from_dims({q.dims[bd]}), SymShape::from_dims({k.dims[bd]}),
                                   SymShape::from_dims({v.dims[bd]})});
    if (!batch) return c.error(batch.status().message());
    const Dim& s = seq ? q.dims[0] : q.dims[1];
    c.set_output(0, DType::kFloat, SymShape::from_dims(seq ? std::vector<Dim>{s, batch->dims[0], Dim(h * dv)}
                                                           : std::vector<Dim>{batch->dims[0], s, Dim(h * dv)}));
    return Status::ok();
  }
  int b = seq ? 1 : 0;
  const Dim& s = seq ? q.dims[0] : q.dims[1];
  const Dim& kd = seq ? k.dims[2] : k.dims[1];
  const Dim& t = seq ? k.dims[0] : k.dims[2];
  const Dim& vt = seq ? v.dims[0] : v.dims[1];
  bool ok = dims_agree(q.dims[2], kd) && dims_agree(t, vt);
  if (!ok) return c.error("shapes disagree: Q " + q.to_string() + ", K " + k.to_string() + ", V " + v.to_string());
  // The batch dim broadcasts as in MatMul.
  auto batch = broadcast_shapes({SymShape::from_dims({q.dims[b]}), SymShape::from_dims({k.dims[b]}),
                                 SymShape::from_dims({v.dims[b]})});
  if (!batch) return c.error(batch.status().message());
  Dim n = batch->dims[0];
  c.set_output(0, DType::kFloat, SymShape::from_dims(seq ? std::vector<Dim>{s, n, v.dims[2]}
                                                         : std::vector<Dim>{n, s, v.dims[2]}));
  return Status::ok();
}

}  // namespace

void register_fused_transformer(OpRegistry& r) {
  r.add({"ferry", "FusedMatMul", 2, 4, 1, 1, infer_fused_matmul});
  r.add({"ferry", "LayerNorm", 2, 3, 1, 1, infer_layer_norm});
  r.add({"ferry", "Gelu", 1, 1, 1, 1, infer_gelu});
  r.add({"ferry", "SdpAttention", 3, 3, 1, 1, infer_sdp_attention});
}

}  // namespace ferry
