// signal.cc — op semantics (schemas + shape/dtype inference) of the signal family:
// DFT (opset 17: axis attribute; opset 20: axis input), STFT, HannWindow, HammingWindow, BlackmanWindow,
// MelWeightMatrix. Complex values are a trailing dimension of 2 (real, imaginary); real inputs have 1.
#include "ops/op_registry.h"
#include "ops/signal_util.h"

namespace ferry {
namespace {

bool is_signal_float(DType t) {
  return t == DType::kFloat || t == DType::kDouble || t == DType::kFloat16 || t == DType::kBFloat16;
}

// Scalar integer value of input i if known.
bool scalar_input(const InferContext& c, int i, int64_t* v) {
  const Tensor* t = c.has_input(i) ? c.input_value(i) : nullptr;
  if (!t || t->numel() != 1) return false;
  *v = tensor_to_int64s(*t)[0];
  return true;
}

Status infer_dft(InferContext& c) {
  const Node& n = c.node();
  DType t = c.input_dtype(0);
  if (!is_signal_float(t)) return c.error(std::string("unsupported element type ") + dtype_name(t));
  const SymShape& x = c.input_shape(0);
  bool inverse = n.attr_int("inverse", 0) != 0, onesided = n.attr_int("onesided", 0) != 0;
  if (!x.rank_known) {
    c.set_output(0, t, SymShape::unknown());
    return Status::ok();
  }
  int r = x.rank();
  if (r < 2) return c.error("input rank must be >= 2");
  if (x.dims.back().known() && x.dims.back().value != 1 && x.dims.back().value != 2)
    return c.error("last dimension must be 1 (real) or 2 (complex), got " + x.to_string());
  int64_t axis = 1;
  bool axis_known = true;
  if (c.opset() >= 20) {
    axis = -2;
    if (c.num_inputs() > 2 && c.has_input(2)) axis_known = scalar_input(c, 2, &axis);
  } else {
    axis = n.attr_int("axis", 1);
  }
  std::vector<Dim> dims = x.dims;
  dims.back() = Dim(inverse && onesided ? 1 : 2);
  if (!axis_known) {
    for (int i = 1; i + 1 < r; ++i) dims[static_cast<size_t>(i)] = Dim();
    c.set_output(0, t, SymShape::from_dims(dims));
    return Status::ok();
  }
  auto a = dft_axis(axis, r);
  if (!a) return c.error(a.status().message());
  Dim& d = dims[static_cast<size_t>(*a)];
  int64_t len = -1;
  bool len_known = true;
  if (c.has_input(1)) {
    len_known = scalar_input(c, 1, &len);
    if (len_known && len <= 0) return c.error("dft_length must be positive");
  }
  if (!len_known) {
    d = Dim();
  } else {
    Dim in = x.dims[static_cast<size_t>(*a)];
    if (len < 0 && !in.known()) {
      if (inverse && onesided) d = Dim();  // else keep the symbol
    } else {
      int64_t nfft = len >= 0 ? len : (inverse && onesided ? 2 * (in.value - 1) : in.value);
      if (nfft <= 0) return c.error("DFT length must be positive");
      d = Dim(!inverse && onesided ? nfft / 2 + 1 : nfft);
    }
  }
  c.set_output(0, t, SymShape::from_dims(dims));
  return Status::ok();
}

Status infer_stft(InferContext& c) {
  DType t = c.input_dtype(0);
  if (!is_signal_float(t)) return c.error(std::string("unsupported element type ") + dtype_name(t));
  const SymShape& x = c.input_shape(0);
  if (x.rank_known && x.rank() != 3) return c.error("signal must have rank 3 [batch, length, 1|2]");
  if (x.rank_known && x.dims[2].known() && x.dims[2].value != 1 && x.dims[2].value != 2)
    return c.error("signal last dimension must be 1 or 2");
  if (c.has_input(2) && c.input_dtype(2) != t) return c.error("window type differs from signal type");
  bool onesided = c.node().attr_int("onesided", 1) != 0;
  int64_t step = -1, flen = -1;
  bool step_known = scalar_input(c, 1, &step);
  bool flen_known = false;
  if (c.num_inputs() > 3 && c.has_input(3)) {
    flen_known = scalar_input(c, 3, &flen);
  } else if (c.has_input(2) && c.input_shape(2).rank_known && c.input_shape(2).rank() == 1 &&
             c.input_shape(2).dims[0].known()) {
    flen = c.input_shape(2).dims[0].value;
    flen_known = true;
  } else if (!c.has_input(2) && x.rank_known && x.dims[1].known()) {
    flen = x.dims[1].value;
    flen_known = true;
  }
  if (step_known && step <= 0) return c.error("frame_step must be positive");
  if (flen_known && flen <= 0) return c.error("frame_length must be positive");
  Dim batch = x.rank_known ? x.dims[0] : Dim(), frames, bins;
  if (flen_known) bins = Dim(onesided ? flen / 2 + 1 : flen);
  if (step_known && flen_known && x.rank_known && x.dims[1].known()) {
    if (x.dims[1].value < flen) return c.error("frame_length is larger than the signal");
    frames = Dim(1 + (x.dims[1].value - flen) / step);
  }
  c.set_output(0, t, SymShape::from_dims({batch, frames, bins, Dim(2)}));
  return Status::ok();
}

Status infer_window(InferContext& c) {
  DType st = c.input_dtype(0);
  if (st != DType::kInt32 && st != DType::kInt64) return c.error("size must be int32 or int64");
  int64_t od = c.node().attr_int("output_datatype", 1);
  if (!dtype_is_valid(static_cast<int32_t>(od)) || od == 0) return c.error("invalid output_datatype");
  DType out = static_cast<DType>(od);
  if (!dtype_is_float(out) && !dtype_is_integer(out)) return c.error("output_datatype must be numeric");
  int64_t size;
  if (scalar_input(c, 0, &size)) {
    if (size < 0) return c.error("size must be non-negative");
    c.set_output(0, out, Shape{size});
  } else {
    c.set_output(0, out, SymShape::from_dims({Dim()}));
  }
  return Status::ok();
}

Status infer_mel(InferContext& c) {
  int64_t od = c.node().attr_int("output_datatype", 1);
  if (!dtype_is_valid(static_cast<int32_t>(od)) || od == 0) return c.error("invalid output_datatype");
  DType out = static_cast<DType>(od);
  for (int i = 0; i < 3; ++i)
    if (c.input_dtype(i) != DType::kInt32 && c.input_dtype(i) != DType::kInt64)
      return c.error("num_mel_bins, dft_length and sample_rate must be integers");
  int64_t bins, dft;
  Dim rows, cols;
  if (scalar_input(c, 1, &dft)) {
    if (dft <= 0) return c.error("dft_length must be positive");
    rows = Dim(dft / 2 + 1);
  }
  if (scalar_input(c, 0, &bins)) {
    if (bins <= 0) return c.error("num_mel_bins must be positive");
    cols = Dim(bins);
  }
  c.set_output(0, out, SymShape::from_dims({rows, cols}));
  return Status::ok();
}

}  // namespace

void register_signal(OpRegistry& r) {
  r.add({"", "DFT", 1, 3, 1, 1, infer_dft});
  r.add({"", "STFT", 2, 4, 1, 1, infer_stft});
  r.add({"", "HannWindow", 1, 1, 1, 1, infer_window});
  r.add({"", "HammingWindow", 1, 1, 1, 1, infer_window});
  r.add({"", "BlackmanWindow", 1, 1, 1, 1, infer_window});
  r.add({"", "MelWeightMatrix", 5, 5, 1, 1, infer_mel});
}

}  // namespace ferry
