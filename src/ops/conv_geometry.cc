// conv_geometry.cc — see conv_geometry.h.
#include "ops/conv_geometry.h"

#include <algorithm>

namespace ferry {
namespace {

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}
int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

std::string ints_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

}  // namespace

Expected<WindowAttrs> WindowAttrs::parse(const Node& node, int nsp, const std::vector<int64_t>& kernel) {
  WindowAttrs w;
  if (nsp < 1) return invalid_argument("input needs at least one spatial dim (rank >= 3)");
  w.nsp = nsp;
  const size_t n = static_cast<size_t>(nsp);
  w.kernel = node.attr("kernel_shape") ? node.attr_ints("kernel_shape") : kernel;
  if (w.kernel.size() != n) {
    return invalid_argument("kernel_shape " + ints_str(w.kernel) + " must have " + std::to_string(nsp) + " values");
  }
  for (int64_t k : w.kernel) {
    if (k <= 0) return invalid_argument("kernel_shape " + ints_str(w.kernel) + " must be positive");
  }
  w.strides = node.attr_ints("strides", std::vector<int64_t>(n, 1));
  if (w.strides.empty()) w.strides.assign(n, 1);
  w.dilations = node.attr_ints("dilations", std::vector<int64_t>(n, 1));
  if (w.dilations.empty()) w.dilations.assign(n, 1);
  w.pads = node.attr_ints("pads", std::vector<int64_t>(2 * n, 0));
  if (w.pads.empty()) w.pads.assign(2 * n, 0);
  if (w.strides.size() != n) return invalid_argument("strides " + ints_str(w.strides) + " has the wrong length");
  if (w.dilations.size() != n) return invalid_argument("dilations " + ints_str(w.dilations) + " has the wrong length");
  if (w.pads.size() != 2 * n) return invalid_argument("pads " + ints_str(w.pads) + " must have 2*spatial values");
  for (size_t i = 0; i < n; ++i) {
    if (w.strides[i] <= 0) return invalid_argument("strides " + ints_str(w.strides) + " must be positive");
    if (w.dilations[i] <= 0) return invalid_argument("dilations " + ints_str(w.dilations) + " must be positive");
  }
  for (int64_t p : w.pads) {
    if (p < 0) return invalid_argument("pads " + ints_str(w.pads) + " must be non-negative");
  }
  w.auto_pad = node.attr_string("auto_pad", "NOTSET");
  if (w.auto_pad.empty()) w.auto_pad = "NOTSET";
  if (w.auto_pad != "NOTSET" && w.auto_pad != "SAME_UPPER" && w.auto_pad != "SAME_LOWER" && w.auto_pad != "VALID") {
    return invalid_argument("unknown auto_pad '" + w.auto_pad + "'");
  }
  w.ceil_mode = node.attr_int("ceil_mode", 0) != 0;
  return w;
}

Expected<WindowOut> window_output(const WindowAttrs& w, const std::vector<int64_t>& in) {
  WindowOut o;
  const size_t n = static_cast<size_t>(w.nsp);
  if (in.size() != n) return invalid_argument("spatial rank mismatch");
  o.out.resize(n);
  o.pads = w.pads;
  for (size_t i = 0; i < n; ++i) {
    const int64_t ext = (w.kernel[i] - 1) * w.dilations[i] + 1;
    const int64_t s = w.strides[i];
    int64_t out = 0;
    if (w.auto_pad == "SAME_UPPER" || w.auto_pad == "SAME_LOWER") {
      out = ceil_div(in[i], s);
      int64_t total = std::max<int64_t>(0, (out - 1) * s + ext - in[i]);
      int64_t small = total / 2, big = total - total / 2;
      o.pads[i] = w.auto_pad == "SAME_UPPER" ? small : big;
      o.pads[i + n] = w.auto_pad == "SAME_UPPER" ? big : small;
    } else if (w.auto_pad == "VALID") {
      out = ceil_div(in[i] - ext + 1, s);
      o.pads[i] = o.pads[i + n] = 0;
    } else {
      const int64_t span = in[i] + w.pads[i] + w.pads[i + n] - ext;
      if (span < 0) {
        out = 0;
      } else if (w.ceil_mode) {
        out = ceil_div(span, s) + 1;
        if ((out - 1) * s >= in[i] + w.pads[i]) --out;  // the last window must start inside input or begin pad
      } else {
        out = span / s + 1;
      }
    }
    if (out <= 0) {
      return invalid_argument("window (kernel " + ints_str(w.kernel) + ", dilations " + ints_str(w.dilations) +
                              ") does not fit the padded input " + ints_str(in));
    }
    o.out[i] = out;
  }
  return o;
}

Expected<std::vector<Dim>> window_output_dims(const WindowAttrs& w, const std::vector<Dim>& in) {
  std::vector<Dim> dims(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (!in[i].known()) continue;
    WindowAttrs one = w;
    one.nsp = 1;
    one.kernel = {w.kernel[i]};
    one.strides = {w.strides[i]};
    one.dilations = {w.dilations[i]};
    one.pads = {w.pads[i], w.pads[i + in.size()]};
    FERRY_ASSIGN_OR_RETURN(WindowOut o, window_output(one, {in[i].value}));
    dims[i] = Dim(o.out[0]);
  }
  return dims;
}

Expected<ConvTransposeGeom> conv_transpose_geometry(const Node& node, const WindowAttrs& w,
                                                    const std::vector<int64_t>& in) {
  ConvTransposeGeom g;
  const size_t n = static_cast<size_t>(w.nsp);
  g.output_padding = node.attr_ints("output_padding", std::vector<int64_t>(n, 0));
  if (g.output_padding.empty()) g.output_padding.assign(n, 0);
  if (g.output_padding.size() != n) return invalid_argument("output_padding has the wrong length");
  std::vector<int64_t> oshape = node.attr_ints("output_shape");
  if (oshape.size() == n + 2) oshape.erase(oshape.begin(), oshape.begin() + 2);  // full N,C,... form
  if (!oshape.empty() && oshape.size() != n) return invalid_argument("output_shape has the wrong length");
  g.out.resize(n);
  g.pads = w.pads;
  const bool same = w.auto_pad == "SAME_UPPER" || w.auto_pad == "SAME_LOWER";
  for (size_t i = 0; i < n; ++i) {
    const int64_t ext = (w.kernel[i] - 1) * w.dilations[i] + 1;
    const int64_t full = w.strides[i] * (in[i] - 1) + g.output_padding[i] + ext;
    if (!oshape.empty() || same) {
      const int64_t out = !oshape.empty() ? oshape[i] : in[i] * w.strides[i];
      const int64_t total = full - out;
      // Python floor division, as the ONNX reference: a negative total extends the end.
      const int64_t half = floor_div(total, 2);
      if (w.auto_pad == "SAME_UPPER") {
        g.pads[i] = half;
        g.pads[i + n] = total - half;
      } else {
        g.pads[i] = total - half;
        g.pads[i + n] = half;
      }
      g.out[i] = out;
    } else if (w.auto_pad == "VALID") {
      g.pads[i] = g.pads[i + n] = 0;
      g.out[i] = full;
    } else {
      g.out[i] = full - w.pads[i] - w.pads[i + n];
    }
    if (g.out[i] <= 0) return invalid_argument("ConvTranspose output size is not positive");
  }
  return g;
}

}  // namespace ferry
