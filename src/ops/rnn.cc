// rnn.cc — op semantics (schemas + shape/dtype inference) of the rnn family: RNN, GRU, LSTM.
//
// Shapes (layout 0; layout 1 swaps the sequence and batch axes of X, Y, initial/final states):
//   X [seq, batch, input]   W [dirs, G*hidden, input]   R [dirs, G*hidden, hidden]   B [dirs, 2*G*hidden]
//   Y [seq, dirs, batch, hidden]   Y_h / Y_c [dirs, batch, hidden]        (G = 1 RNN, 3 GRU, 4 LSTM)
#include "ops/op_registry.h"

namespace ferry {
namespace {

Status infer_recurrent(InferContext& c, int gates) {
  const Node& n = c.node();
  DType t = c.input_dtype(0);
  if (t != DType::kFloat && t != DType::kDouble && t != DType::kFloat16)
    return c.error(std::string("unsupported element type ") + dtype_name(t));
  for (int i : {1, 2, 3, 5, 6, 7})
    if (i < c.num_inputs() && c.has_input(i) && c.input_dtype(i) != t)
      return c.error("input " + std::to_string(i) + " type differs from X");
  if (c.has_input(4) && c.input_dtype(4) != DType::kInt32) return c.error("sequence_lens must be int32");
  std::string dir = n.attr_string("direction", "forward");
  int64_t dirs = dir == "bidirectional" ? 2 : 1;
  if (dir != "forward" && dir != "reverse" && dir != "bidirectional")
    return c.error("unknown direction '" + dir + "'");
  int64_t layout = n.attr_int("layout", 0);
  if (layout != 0 && layout != 1) return c.error("layout must be 0 or 1");
  const SymShape& x = c.input_shape(0);
  const SymShape& w = c.input_shape(1);
  const SymShape& r = c.input_shape(2);
  if (x.rank_known && x.rank() != 3) return c.error("X must have rank 3, got " + x.to_string());
  if (w.rank_known && w.rank() != 3) return c.error("W must have rank 3, got " + w.to_string());
  if (r.rank_known && r.rank() != 3) return c.error("R must have rank 3, got " + r.to_string());
  Dim hidden;
  int64_t hs = n.attr_int("hidden_size", -1);
  if (hs > 0) hidden = Dim(hs);
  else if (w.rank_known && w.dims[1].known()) hidden = Dim(w.dims[1].value / gates);
  if (hs == 0 || hs < -1) return c.error("hidden_size must be positive");
  if (w.rank_known && w.dims[0].known() && w.dims[0].value != dirs)
    return c.error("W has " + std::to_string(w.dims[0].value) + " directions, expected " + std::to_string(dirs));
  if (w.rank_known && w.dims[1].known() && hidden.known() && w.dims[1].value != gates * hidden.value)
    return c.error("W dim 1 is " + std::to_string(w.dims[1].value) + ", expected " + std::to_string(gates) +
                   "*hidden_size");
  if (r.rank_known && r.dims[2].known() && hidden.known() && r.dims[2].value != hidden.value)
    return c.error("R dim 2 differs from hidden_size");
  if (x.rank_known && w.rank_known && x.dims[2].known() && w.dims[2].known() && x.dims[2].value != w.dims[2].value)
    return c.error("X input size differs from W dim 2");
  if (c.has_input(3) && c.input_shape(3).is_concrete() && hidden.known()) {
    Shape b = c.input_shape(3).to_shape();
    if (b.size() != 2 || b[0] != dirs || b[1] != 2 * gates * hidden.value)
      return c.error("B shape " + shape_to_string(b) + " is invalid");
  }
  if (gates == 4 && c.num_inputs() > 7 && c.has_input(7) && c.input_shape(7).is_concrete() && hidden.known()) {
    Shape p = c.input_shape(7).to_shape();
    if (p.size() != 2 || p[0] != dirs || p[1] != 3 * hidden.value) return c.error("P shape " + shape_to_string(p) + " is invalid");
  }
  Dim seq, batch;
  if (x.rank_known) {
    seq = x.dims[layout == 0 ? 0 : 1];
    batch = x.dims[layout == 0 ? 1 : 0];
  }
  if (c.has_input(4) && c.input_shape(4).is_concrete() && batch.known() &&
      c.input_shape(4).to_shape() != Shape{batch.value})
    return c.error("sequence_lens must have shape [batch]");
  if (layout == 0) {
    if (c.has_output(0)) c.set_output(0, t, SymShape::from_dims({seq, Dim(dirs), batch, hidden}));
    for (int i = 1; i < c.num_outputs(); ++i) c.set_output(i, t, SymShape::from_dims({Dim(dirs), batch, hidden}));
  } else {
    if (c.has_output(0)) c.set_output(0, t, SymShape::from_dims({batch, seq, Dim(dirs), hidden}));
    for (int i = 1; i < c.num_outputs(); ++i) c.set_output(i, t, SymShape::from_dims({batch, Dim(dirs), hidden}));
  }
  return Status::ok();
}

}  // namespace

void register_rnn(OpRegistry& r) {
  r.add({"", "RNN", 3, 6, 0, 2, [](InferContext& c) { return infer_recurrent(c, 1); }});
  r.add({"", "GRU", 3, 6, 0, 2, [](InferContext& c) { return infer_recurrent(c, 3); }});
  r.add({"", "LSTM", 3, 8, 0, 3, [](InferContext& c) { return infer_recurrent(c, 4); }});
}

}  // namespace ferry
