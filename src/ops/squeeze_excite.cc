// squeeze_excite.cc — the ferry-domain squeeze-and-excitation block (EfficientNet, MobileNetV3) as one op.
//
//   ferry.SqueezeExcite(X, W1, B1, W2, B2) -> Y, float32, X and Y are [N, H, W, C] (channels last)
//       s = mean of X over H and W                                  [N, C]
//       h = act(W1 . s + B1)        W1 [R, C, 1, 1], B1 [R]         [N, R]
//       g = sigmoid(W2 . h + B2)    W2 [C, R, 1, 1], B2 [C]         [N, C]
//       Y[n, y, x, c] = X[n, y, x, c] * g[n, c]
//   Attributes: activation: "none" | "relu" | "silu" (of the reducing 1x1 conv; the expanding one is sigmoid).
//   Produced by fuse_squeeze_excite.cc from ReduceMean(axes [1, 2]) -> FusedConv -> FusedConv(sigmoid) -> Mul
//   in an NHWC region (four nodes, two of them tiny oneDNN convs, become one pass to read X and one to scale
//   it); never present in exported files.
#include "ops/op_registry.h"

namespace ferry {

namespace {

Status infer_squeeze_excite(InferContext& c) {
  for (int i = 0; i < c.num_inputs(); ++i)
    if (c.has_input(i) && c.input_dtype(i) != DType::kFloat && c.input_dtype(i) != DType::kUndefined)
      return c.error(std::string("inputs must be float32, got ") + dtype_name(c.input_dtype(i)));
  const std::string act = c.node().attr_string("activation", "none");
  if (act != "none" && act != "relu" && act != "silu") return c.error("unknown activation '" + act + "'");
  for (int i = 0; i < 5; ++i)
    if (!c.has_input(i)) return c.error("all five inputs (X, W1, B1, W2, B2) are required");
  const SymShape& x = c.input_shape(0);
  const SymShape& w1 = c.input_shape(1);
  const SymShape& w2 = c.input_shape(3);
  if (x.rank_known && x.rank() != 4) return c.error("X must be [N, H, W, C], got " + x.to_string());
  if (!w1.is_concrete() || !w2.is_concrete() || w1.rank() != 4 || w2.rank() != 4)
    return c.error("W1 and W2 must have static [M, C, 1, 1] shapes");
  const int64_t r = w1.dims[0].value, ch = w1.dims[1].value;
  if (w1.dims[2].value != 1 || w1.dims[3].value != 1 || w2.dims[2].value != 1 || w2.dims[3].value != 1 ||
      w2.dims[0].value != ch || w2.dims[1].value != r)
    return c.error("W1 " + w1.to_string() + " and W2 " + w2.to_string() + " must be [R, C, 1, 1] and [C, R, 1, 1]");
  const SymShape& b1 = c.input_shape(2);
  const SymShape& b2 = c.input_shape(4);
  if ((b1.rank_known && (b1.rank() != 1 || (b1.dims[0].known() && b1.dims[0].value != r))) ||
      (b2.rank_known && (b2.rank() != 1 || (b2.dims[0].known() && b2.dims[0].value != ch))))
    return c.error("B1 " + b1.to_string() + " and B2 " + b2.to_string() + " must be [R] and [C]");
  if (x.rank_known && x.dims[3].known() && x.dims[3].value != ch)
    return c.error("X has " + std::to_string(x.dims[3].value) + " channels, W1 expects " + std::to_string(ch));
  c.set_output(0, DType::kFloat, x);
  return Status::ok();
}

}  // namespace

void register_squeeze_excite(OpRegistry& r) { r.add({"ferry", "SqueezeExcite", 5, 5, 1, 1, infer_squeeze_excite}); }

}  // namespace ferry
