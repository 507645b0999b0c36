// resize.cc — CPU reference kernels of the resize family: Resize (opsets 10-19) and Upsample (7, 9).
// GridSample, AffineGrid and RoiAlign live in resize_sample.cc.
//
// Resize follows the ONNX reference implementation exactly (it is what the conformance data comes from):
// interpolation is separable, so the kernel builds for every resized axis a table of (input index, weight)
// taps per output index and applies the axes one after another on a double buffer. Per axis:
//  - x_ori from the coordinate transformation, with output_width = scale * input_width (a real number);
//  - the tap window is the n input indices nearest to x_ori (ties to the lower one), kept inside
//    [-ceil(n/2), len-1+ceil(n/2)]; values outside [0, len) repeat the edge (or get weight 0 with
//    exclude_outside, the rest renormalized); tf_crop_and_resize gives extrapolation_value outside the input.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "backends/cpu/kernel.h"
#include "backends/cpu/kernels/resize_util.h"
#include "core/dtype_dispatch.h"
#include "ops/resize_util.h"

namespace ferry {
namespace {

struct ResizeAttrs {
  std::string mode = "nearest";
  std::string coord = "half_pixel";
  std::string nearest = "round_prefer_floor";
  double cubic_a = -0.75;
  bool exclude_outside = false;
  bool antialias = false;
  double extrapolation = 0.0;
};

// Taps of one axis: for output index o, n (index, weight) pairs at [o*n, o*n+n); extrap[o] marks outputs
// that take the extrapolation value.
struct AxisTable {
  int64_t n = 0;
  std::vector<int64_t> idx;
  std::vector<double> w;
  std::vector<char> extrap;
  bool identity = true;
};

std::vector<double> cubic_coeffs(double r, double a) {
  return {((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a, ((a + 2) * r - (a + 3)) * r * r + 1,
          ((a + 2) * (1 - r) - (a + 3)) * (1 - r) * (1 - r) + 1,
          ((a * ((1 - r) + 1) - 5 * a) * ((1 - r) + 1) + 8 * a) * ((1 - r) + 1) - 4 * a};
}

std::vector<double> cubic_coeffs_antialias(double r, double scale, double a) {
  scale = std::min(scale, 1.0);
  auto k = [a](double x) {
    x = std::fabs(x);
    double x2 = x * x, x3 = x * x2;
    if (x <= 1) return (a + 2) * x3 - (a + 3) * x2 + 1;
    if (x < 2) return a * x3 - 5 * a * x2 + 8 * a * x - 4 * a;
    return 0.0;
  };
  int64_t i0 = static_cast<int64_t>(std::floor(-2 / scale) + 1), i1 = 2 - i0;
  std::vector<double> c;
  double sum = 0;
  for (int64_t i = i0; i < i1; ++i) {
    c.push_back(k(scale * (static_cast<double>(i) - r)));
    sum += c.back();
  }
  for (double& v : c) v /= sum;
  return c;
}

std::vector<double> linear_coeffs_antialias(double r, double scale) {
  scale = std::min(scale, 1.0);
  int64_t start = static_cast<int64_t>(std::floor(-1 / scale) + 1), footprint = 2 - 2 * start;
  std::vector<double> c;
  double sum = 0;
  for (int64_t i = start; i < start + footprint; ++i) {
    c.push_back(std::clamp(1 - std::fabs((static_cast<double>(i) - r) * scale), 0.0, 1.0));
    sum += c.back();
  }
  for (double& v : c) v /= sum;
  return c;
}

// x_ori for output index x, or NaN when tf_crop_and_resize falls outside the input.
double original_coord(const ResizeAttrs& at, double x, int64_t len, int64_t out_len, double scale, double r0,
                      double r1) {
  double lw = static_cast<double>(len);
  double ow = scale * lw;
  const std::string& m = at.coord;
  if (m == "align_corners") return ow == 1 ? 0.0 : x * (lw - 1) / (ow - 1);
  if (m == "asymmetric") return x / scale;
  if (m == "tf_half_pixel_for_nn") return (x + 0.5) / scale;
  if (m == "tf_crop_and_resize") {
    double xo = ow == 1 ? (r1 - r0) * (lw - 1) / 2 : x * (r1 - r0) * (lw - 1) / (ow - 1);
    xo += r0 * (lw - 1);
    if (xo < 0 || xo > lw - 1) return std::numeric_limits<double>::quiet_NaN();
    return xo;
  }
  if (m == "pytorch_half_pixel") return ow == 1 ? -0.5 : (x + 0.5) / scale - 0.5;
  if (m == "half_pixel_symmetric") {
    double adjustment = static_cast<double>(out_len) / ow;
    double center = lw / 2;
    return center * (1 - adjustment) + (x + 0.5) / scale - 0.5;
  }
  return (x + 0.5) / scale - 0.5;  // half_pixel
}

AxisTable build_axis(const ResizeAttrs& at, int64_t len, int64_t out_len, double scale, double r0, double r1) {
  AxisTable t;
  bool nearest = at.mode == "nearest";
  bool cubic = at.mode == "cubic";
  t.identity = out_len == len;
  if (nearest) t.n = 1;
  else if (cubic) t.n = at.antialias ? static_cast<int64_t>(cubic_coeffs_antialias(0.5, scale, at.cubic_a).size()) : 4;
  else t.n = at.antialias ? static_cast<int64_t>(linear_coeffs_antialias(0.5, scale).size()) : 2;
  for (int64_t o = 0; o < out_len; ++o) {
    double xo = original_coord(at, static_cast<double>(o), len, out_len, scale, r0, r1);
    if (std::isnan(xo)) {
      t.identity = false;
      t.extrap.push_back(1);
      for (int64_t k = 0; k < t.n; ++k) {
        t.idx.push_back(0);
        t.w.push_back(0);
      }
      continue;
    }
    t.extrap.push_back(0);
    if (xo != static_cast<double>(o)) t.identity = false;
    bool integral = xo == std::floor(xo);
    double base = integral ? xo - 1 : std::floor(xo);
    double ratio = xo - base;  // in (0, 1]
    std::vector<double> c;
    std::vector<int64_t> ix;
    if (nearest) {
      bool upper;  // pick base + 1 (else base)
      if (integral) upper = true;
      else if (at.nearest == "round_prefer_ceil") upper = ratio >= 0.5;
      else if (at.nearest == "floor") upper = false;
      else if (at.nearest == "ceil") upper = true;
      else upper = ratio > 0.5;  // round_prefer_floor
      double pick = upper ? base + 1 : base;
      int64_t p = static_cast<int64_t>(std::clamp(pick, 0.0, static_cast<double>(len - 1)));
      t.idx.push_back(p);
      t.w.push_back(1.0);
      continue;
    }
    if (cubic) c = at.antialias ? cubic_coeffs_antialias(ratio, scale, at.cubic_a) : cubic_coeffs(ratio, at.cubic_a);
    else c = at.antialias ? linear_coeffs_antialias(ratio, scale) : std::vector<double>{1 - ratio, ratio};
    int64_t n = static_cast<int64_t>(c.size());
    int64_t pad = (n + 1) / 2;
    double start_d = base - static_cast<double>(n / 2) + 1;
    start_d = std::clamp(start_d, static_cast<double>(-pad), static_cast<double>(len - 1 + pad - n + 1));
    int64_t start = static_cast<int64_t>(start_d);
    if (at.exclude_outside) {
      double sum = 0;
      for (int64_t k = 0; k < n; ++k) {
        int64_t i = start + k;
        if (i < 0 || i >= len) c[static_cast<size_t>(k)] = 0;
        sum += c[static_cast<size_t>(k)];
      }
      if (sum != 0)
        for (double& v : c) v /= sum;
    }
    // Windows are equally wide for one axis (the width depends only on the scale).
    for (int64_t k = 0; k < t.n; ++k) {
      t.idx.push_back(std::clamp<int64_t>(start + k, 0, len - 1));
      t.w.push_back(k < n ? c[static_cast<size_t>(k)] : 0.0);
    }
  }
  return t;
}

// Applies the table of axis `d` to `in` (shape `shape`), writing into `out`; updates shape[d].
void apply_axis(ThreadPool& pool, const AxisTable& t, const std::vector<double>& in, std::vector<double>& out,
                Shape& shape, int d, int64_t out_len, double extrapolation) {
  int64_t outer = 1, inner = 1, len = shape[static_cast<size_t>(d)];
  for (int k = 0; k < d; ++k) outer *= shape[static_cast<size_t>(k)];
  for (size_t k = static_cast<size_t>(d) + 1; k < shape.size(); ++k) inner *= shape[k];
  out.assign(static_cast<size_t>(outer * out_len * inner), 0.0);
  int64_t n = t.n;
  pool.parallel_for(
      outer * out_len,
      [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          int64_t o = r / out_len, j = r % out_len;
          double* dst = out.data() + r * inner;
          if (t.extrap[static_cast<size_t>(j)]) {
            std::fill(dst, dst + inner, extrapolation);
            continue;
          }
          for (int64_t k = 0; k < n; ++k) {
            double w = t.w[static_cast<size_t>(j * n + k)];
            if (w == 0) continue;
            const double* src = in.data() + (o * len + t.idx[static_cast<size_t>(j * n + k)]) * inner;
            for (int64_t i = 0; i < inner; ++i) dst[i] += w * src[i];
          }
        }
      },
      std::max<int64_t>(1, 4096 / std::max<int64_t>(1, inner * n)));
  shape[static_cast<size_t>(d)] = out_len;
}

// Nearest: a typed gather (exact for every dtype, no round trip through double).
Status resize_nearest(KernelContext& ctx, const ResizeAttrs& at, const ResizeGeometry& geo, const Tensor& x,
                      Tensor& y) {
  int rank = x.rank();
  if (rank == 0) return ctx.error("X must have rank >= 1");
  std::vector<AxisTable> tabs;
  std::vector<int64_t> in_stride(static_cast<size_t>(rank), 1);
  for (int d = rank - 2; d >= 0; --d) in_stride[static_cast<size_t>(d)] = in_stride[static_cast<size_t>(d) + 1] * x.dim(d + 1);
  for (int d = 0; d < rank; ++d) {
    size_t du = static_cast<size_t>(d);
    tabs.push_back(build_axis(at, x.dim(d), geo.out[du], geo.scales[du], geo.roi[du], geo.roi[static_cast<size_t>(rank + d)]));
  }
  int64_t last = geo.out.back(), rows = last > 0 ? y.numel() / last : 0;
  const AxisTable& tl = tabs.back();
  return visit_dtype(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* src = x.data<T>();
    T* dst = y.data<T>();
    T ext{};
    if constexpr (!std::is_same_v<T, std::string>) ext = elem_from_double<T>(at.extrapolation);
    ctx.pool().parallel_for(
        rows,
        [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r) {
            int64_t rem = r, base = 0;
            bool extrap = false;
            for (int d = rank - 2; d >= 0; --d) {
              size_t du = static_cast<size_t>(d);
              int64_t o = rem % geo.out[du];
              rem /= geo.out[du];
              extrap = extrap || tabs[du].extrap[static_cast<size_t>(o)];
              base += tabs[du].idx[static_cast<size_t>(o)] * in_stride[du];
            }
            T* drow = dst + r * last;
            for (int64_t j = 0; j < last; ++j) {
              size_t ju = static_cast<size_t>(j);
              drow[j] = extrap || tl.extrap[ju] ? ext : src[base + tl.idx[ju]];
            }
          }
        },
        std::max<int64_t>(1, 8192 / std::max<int64_t>(1, last)));
  });
}

Status resize(KernelContext& ctx) {
  const Node& node = ctx.node();
  const Tensor& x = *ctx.input(0);
  bool upsample = node.op_type == "Upsample";
  ResizeAttrs at;
  at.mode = node.attr_string("mode", "nearest");
  if (at.mode == "bilinear") at.mode = "linear";
  const Tensor *roi = nullptr, *scales = nullptr, *sizes = nullptr;
  Tensor attr_scales;
  if (upsample || ctx.opset() < 11) {
    at.coord = "asymmetric";
    at.nearest = "floor";
    if (upsample && ctx.opset() < 9) {
      std::vector<float> sv = node.attr_floats("scales");
      attr_scales = Tensor::from_vector<float>(DType::kFloat, {static_cast<int64_t>(sv.size())}, sv);
      scales = &attr_scales;
    } else {
      scales = ctx.input(1);
    }
  } else {
    at.coord = node.attr_string("coordinate_transformation_mode", "half_pixel");
    at.nearest = node.attr_string("nearest_mode", "round_prefer_floor");
    at.cubic_a = node.attr_float("cubic_coeff_a", -0.75f);
    at.exclude_outside = node.attr_int("exclude_outside", 0) != 0;
    at.antialias = ctx.opset() >= 18 && node.attr_int("antialias", 0) != 0;
    at.extrapolation = node.attr_float("extrapolation_value", 0.0f);
    roi = ctx.input(1);
    scales = ctx.input(2);
    sizes = ctx.input(3);
    if (at.coord != "tf_crop_and_resize") roi = nullptr;
  }
  if (at.mode != "nearest" && at.mode != "linear" && at.mode != "cubic")
    return ctx.error("unsupported mode '" + at.mode + "'");
  auto geo = resize_geometry(node, ctx.opset(), x.shape(), roi, scales, sizes);
  if (!geo) return ctx.error(geo.status().message());
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  if (y->shape() != geo->out) return internal_error("resize: inferred shape differs from geometry");
  if (x.dtype() == DType::kString) return ctx.unsupported_error("string tensors cannot be resized");
  if (y->numel() == 0) return Status::ok();
  if (x.numel() == 0) return ctx.error("cannot resize an empty input to a non-empty output");
  int rank = x.rank();
  if (at.antialias && at.mode != "nearest")
    for (double sc : geo->scales)
      if (sc < 1e-6) return ctx.error("scale too small for antialias");
  if (at.mode == "nearest") return resize_nearest(ctx, at, *geo, x, *y);
  std::vector<double> cur = to_double_vector(x), next;
  Shape shape = x.shape();
  int nroi = rank;
  for (int d = 0; d < rank; ++d) {
    size_t du = static_cast<size_t>(d);
    AxisTable t = build_axis(at, shape[du], geo->out[du], geo->scales[du], geo->roi[du],
                             geo->roi[static_cast<size_t>(nroi + d)]);
    if (t.identity) continue;
    apply_axis(ctx.pool(), t, cur, next, shape, d, geo->out[du], at.extrapolation);
    cur.swap(next);
  }
  int64_t total = y->numel();
  bool is_int = dtype_is_integer(y->dtype()) || y->dtype() == DType::kBool;
  double lo = 0, hi = 0;
  if (is_int && y->dtype() != DType::kBool) {
    int bits = dtype_bits(y->dtype());
    bool sgn = dtype_is_signed(y->dtype());
    lo = sgn ? -std::ldexp(1.0, bits - 1) : 0.0;
    hi = sgn ? std::ldexp(1.0, bits - 1) - 1 : std::ldexp(1.0, bits) - 1;
  }
  for (int64_t i = 0; i < total; ++i) {
    double v = cur[static_cast<size_t>(i)];
    if (is_int && y->dtype() != DType::kBool) v = std::clamp(v, lo, hi);
    store_double(*y, i, v);
  }
  return Status::ok();
}

}  // namespace

void register_resize_kernels(KernelRegistry& r) {
  r.add_fn("", "Resize", resize);
  r.add_fn("", "Upsample", resize);
  register_resize_sample_kernels(r);
}

}  // namespace ferry
