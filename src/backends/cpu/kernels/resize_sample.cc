// resize_sample.cc — CPU reference kernels for sampling ops of the resize family: GridSample (2-D and 3-D,
// nearest/linear/cubic, zeros/border/reflection padding, align_corners), AffineGrid and RoiAlign.
// They follow the ONNX reference implementation (the source of the conformance data), which in turn
// follows PyTorch's grid_sampler and the Caffe2/ORT RoiAlign.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "backends/cpu/kernel.h"
#include "backends/cpu/kernels/resize_util.h"
#include "core/dtype_dispatch.h"

namespace ferry {
namespace {

// ---- GridSample ----
enum class Pad { kZeros, kBorder, kReflection };

// Reflects x into [lo, hi] by bouncing off the borders.
double reflect(double x, double lo, double hi) {
  double rng = hi - lo;
  if (rng <= 0) return lo;
  if (x < lo) {
    double dx = lo - x;
    int64_t n = static_cast<int64_t>(dx / rng);
    double r = dx - static_cast<double>(n) * rng;
    return n % 2 == 0 ? lo + r : hi - r;
  }
  if (x > hi) {
    double dx = x - hi;
    int64_t n = static_cast<int64_t>(dx / rng);
    double r = dx - static_cast<double>(n) * rng;
    return n % 2 == 0 ? hi - r : lo + r;
  }
  return x;
}

// Index used for integer position i along a dim of length len, or -1 for "zero" (zeros padding).
int64_t pixel_index(int64_t i, int64_t len, Pad pad, double lo, double hi) {
  switch (pad) {
    case Pad::kZeros: return i >= 0 && i < len ? i : -1;
    case Pad::kBorder: return std::clamp<int64_t>(i, 0, len - 1);
    case Pad::kReflection: {
      int64_t r = static_cast<int64_t>(reflect(static_cast<double>(i), lo, hi));
      return std::clamp<int64_t>(r, 0, len - 1);
    }
  }
  return -1;
}

void cubic_coeffs(double t, double c[4]) {
  const double a = -0.75;
  t = std::fabs(t);
  c[0] = ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a;
  c[1] = ((a + 2) * t - (a + 3)) * t * t + 1;
  c[2] = ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1;
  c[3] = ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a;
}

Status grid_sample(KernelContext& ctx) {
  const Node& node = ctx.node();
  const Tensor& x = *ctx.input(0);
  const Tensor& grid = *ctx.input(1);
  int r = x.rank() - 2;
  if (r < 1) return ctx.error("X must have rank >= 3");
  if (grid.rank() != r + 2 || grid.dim(r + 1) != r || grid.dim(0) != x.dim(0))
    return ctx.error("grid shape " + shape_to_string(grid.shape()) + " does not match X " + shape_to_string(x.shape()));
  std::string mode = node.attr_string("mode", ctx.opset() >= 20 ? "linear" : "bilinear");
  if (mode == "bilinear") mode = "linear";
  if (mode == "bicubic") mode = "cubic";
  std::string pm = node.attr_string("padding_mode", "zeros");
  Pad pad = pm == "border" ? Pad::kBorder : pm == "reflection" ? Pad::kReflection : Pad::kZeros;
  bool align = node.attr_int("align_corners", 0) != 0;
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  int64_t n_batch = x.dim(0), channels = x.dim(1);
  std::vector<int64_t> dims(x.shape().begin() + 2, x.shape().end());
  int64_t plane = shape_numel(dims);
  if (plane == 0 && y->numel() > 0) return ctx.error("cannot sample from an input with an empty spatial dim");
  int64_t npts = grid.numel() / std::max<int64_t>(1, n_batch * r);
  std::vector<double> xv = to_double_vector(x), gv = to_double_vector(grid);
  std::vector<double> out(static_cast<size_t>(y->numel()), 0.0);
  std::vector<int64_t> stride(static_cast<size_t>(r), 1);
  for (int d = r - 2; d >= 0; --d) stride[static_cast<size_t>(d)] = stride[static_cast<size_t>(d) + 1] * dims[static_cast<size_t>(d) + 1];
  ctx.pool().parallel_for(n_batch * npts, [&](int64_t p0, int64_t p1) {
    // Per dim: up to 4 taps of (flat offset or -1, weight).
    std::vector<std::vector<std::pair<int64_t, double>>> taps(static_cast<size_t>(r));
    for (int64_t p = p0; p < p1; ++p) {
      int64_t b = p / npts, q = p % npts;
      const double* g = gv.data() + p * r;
      for (int d = 0; d < r; ++d) {
        size_t du = static_cast<size_t>(d);
        int64_t len = dims[du];
        double nv = g[r - 1 - d];  // grid components are in reverse dim order (x = last dim)
        double lo = align ? 0.0 : -0.5, hi = align ? static_cast<double>(len - 1) : static_cast<double>(len) - 0.5;
        double v = static_cast<float>(align ? (nv + 1) / 2.0 * static_cast<double>(len - 1)
                                            : ((nv + 1) * static_cast<double>(len) - 1) / 2.0);
        // Round half to even (the conformance data uses np.rint for 2-D and 3-D alike).
        // Non-finite or absurd coordinates: keep them far outside but in integer range.
        if (!std::isfinite(v)) v = lo - 2;
        v = std::clamp(v, -1e9, 1e9);
        if (mode == "nearest") v = std::nearbyint(v);
        if (v < lo || v > hi) {
          if (pad == Pad::kBorder) v = std::clamp(v, 0.0, static_cast<double>(len - 1));
          else if (pad == Pad::kReflection) v = reflect(v, lo, hi);
        }
        auto& tp = taps[du];
        tp.clear();
        auto add = [&](int64_t i, double w) {
          int64_t idx = pixel_index(i, len, pad, lo, hi);
          tp.push_back({idx < 0 ? -1 : idx * stride[du], w});
        };
        if (mode == "nearest") {
          add(static_cast<int64_t>(v), 1.0);
        } else if (mode == "linear") {
          double f = std::floor(v);
          int64_t i0 = static_cast<int64_t>(f);
          add(i0, 1 - (v - f));
          add(i0 + 1, v - f);
        } else {
          double f = std::floor(v), c[4];
          int64_t i0 = static_cast<int64_t>(f);
          cubic_coeffs(v - f, c);
          for (int k = 0; k < 4; ++k) add(i0 - 1 + k, c[k]);
        }
      }
      for (int64_t ch = 0; ch < channels; ++ch) {
        const double* src = xv.data() + (b * channels + ch) * plane;
        double acc = 0.0;
        // Odometer over the product of per-dim taps.
        std::vector<size_t> k(static_cast<size_t>(r), 0);
        for (;;) {
          double w = 1.0;
          int64_t off = 0;
          bool zero = false;
          for (int d = 0; d < r; ++d) {
            const auto& t = taps[static_cast<size_t>(d)][k[static_cast<size_t>(d)]];
            w *= t.second;
            if (t.first < 0) zero = true;
            else off += t.first;
          }
          if (!zero) acc += w * src[off];
          int d = r - 1;
          for (; d >= 0; --d) {
            size_t du = static_cast<size_t>(d);
            if (++k[du] < taps[du].size()) break;
            k[du] = 0;
          }
          if (d < 0) break;
        }
        out[static_cast<size_t>((b * channels + ch) * npts + q)] = acc;
      }
    }
  });
  for (int64_t i = 0; i < y->numel(); ++i) store_double(*y, i, out[static_cast<size_t>(i)]);
  return Status::ok();
}

// ---- AffineGrid ----
Status affine_grid(KernelContext& ctx) {
  const Tensor& theta = *ctx.input(0);
  std::vector<int64_t> size = to_int64_vector(*ctx.input(1));
  if (size.size() != 4 && size.size() != 5) return ctx.error("size must have 4 or 5 elements");
  int sd = static_cast<int>(size.size()) - 2;
  if (theta.rank() != 3 || theta.dim(0) != size[0] || theta.dim(1) != sd || theta.dim(2) != sd + 1)
    return ctx.error("theta shape " + shape_to_string(theta.shape()) + " does not match size");
  bool align = ctx.node().attr_int("align_corners", 0) != 0;
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  std::vector<double> th = to_double_vector(theta);
  // Base coordinates per spatial dim (index 0 = first spatial dim D or H).
  std::vector<std::vector<double>> base(static_cast<size_t>(sd));
  for (int d = 0; d < sd; ++d) {
    int64_t len = size[static_cast<size_t>(d) + 2];
    for (int64_t i = 0; i < len; ++i) {
      double v;
      if (align) v = len == 1 ? -1.0 : -1.0 + 2.0 * static_cast<double>(i) / static_cast<double>(len - 1);
      else v = -1.0 + (2.0 * static_cast<double>(i) + 1.0) / static_cast<double>(len);
      base[static_cast<size_t>(d)].push_back(v);
    }
  }
  int64_t pts = 1;
  for (int d = 0; d < sd; ++d) pts *= size[static_cast<size_t>(d) + 2];
  int64_t o = 0;
  std::vector<double> coord(static_cast<size_t>(sd) + 1, 1.0);
  for (int64_t b = 0; b < size[0]; ++b) {
    const double* t = th.data() + b * sd * (sd + 1);
    for (int64_t p = 0; p < pts; ++p) {
      // coord = (x, y[, z], 1) where x is the last spatial dim.
      int64_t rem = p;
      for (int d = sd - 1; d >= 0; --d) {
        int64_t len = size[static_cast<size_t>(d) + 2];
        coord[static_cast<size_t>(sd - 1 - d)] = base[static_cast<size_t>(d)][static_cast<size_t>(rem % len)];
        rem /= len;
      }
      for (int rr = 0; rr < sd; ++rr) {
        double acc = 0;
        for (int k = 0; k <= sd; ++k) acc += t[rr * (sd + 1) + k] * coord[static_cast<size_t>(k)];
        store_double(*y, o++, acc);
      }
    }
  }
  return Status::ok();
}

// ---- RoiAlign ----
Status roi_align(KernelContext& ctx) {
  const Node& node = ctx.node();
  const Tensor& x = *ctx.input(0);
  const Tensor& rois = *ctx.input(1);
  const Tensor& bidx = *ctx.input(2);
  if (x.rank() != 4) return ctx.error("X must have rank 4");
  if (rois.rank() != 2 || rois.dim(1) != 4) return ctx.error("rois must have shape [num_rois, 4]");
  if (bidx.rank() != 1 || bidx.dim(0) != rois.dim(0)) return ctx.error("batch_indices must have shape [num_rois]");
  std::string mode = node.attr_string("mode", "avg");
  bool half_pixel =
      ctx.opset() >= 16 && node.attr_string("coordinate_transformation_mode", "half_pixel") == "half_pixel";
  int64_t ph_n = node.attr_int("output_height", 1), pw_n = node.attr_int("output_width", 1);
  int64_t sampling = node.attr_int("sampling_ratio", 0);
  double scale = node.attr_float("spatial_scale", 1.0f);
  int64_t batch = x.dim(0), channels = x.dim(1), height = x.dim(2), width = x.dim(3);
  std::vector<double> xv = to_double_vector(x), rv = to_double_vector(rois);
  std::vector<int64_t> bv = to_int64_vector(bidx);
  int64_t nr = rois.dim(0);
  for (int64_t i = 0; i < nr; ++i)
    if (bv[static_cast<size_t>(i)] < 0 || bv[static_cast<size_t>(i)] >= batch)
      return ctx.error("batch_indices[" + std::to_string(i) + "] = " + std::to_string(bv[static_cast<size_t>(i)]) +
                       " out of range [0, " + std::to_string(batch) + ")");
  if ((height == 0 || width == 0) && nr > 0 && channels > 0) return ctx.error("X has an empty spatial dim");
  if (sampling > 0 && static_cast<double>(sampling) * static_cast<double>(sampling) * static_cast<double>(ph_n) *
                             static_cast<double>(pw_n) > 1e8)
    return ctx.error("sampling_ratio and output size need too many samples");
  // Reject non-finite rois and sampling grids too large to be meant (sampling_ratio 0 adapts to roi size).
  for (int64_t i = 0; i < nr; ++i) {
    const double* roi = rv.data() + i * 4;
    for (int k = 0; k < 4; ++k)
      if (!std::isfinite(roi[k] * scale)) return ctx.error("rois[" + std::to_string(i) + "] is not finite");
    if (sampling <= 0) {
      double gh = std::ceil(std::fabs(roi[3] - roi[1]) * std::fabs(scale) / static_cast<double>(ph_n));
      double gw = std::ceil(std::fabs(roi[2] - roi[0]) * std::fabs(scale) / static_cast<double>(pw_n));
      if (gh * gw * static_cast<double>(ph_n * pw_n) > 1e8)
        return ctx.error("rois[" + std::to_string(i) + "] needs too many samples");
    }
  }
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  std::vector<double> out(static_cast<size_t>(y->numel()), 0.0);
  struct Pre {
    int64_t pos[4];
    double w[4];
  };
  ctx.pool().parallel_for(nr, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n) {
      const double* roi = rv.data() + n * 4;
      double off = half_pixel ? 0.5 : 0.0;
      double sw = roi[0] * scale - off, sh = roi[1] * scale - off;
      double ew = roi[2] * scale - off, eh = roi[3] * scale - off;
      double rw = ew - sw, rh = eh - sh;
      if (!half_pixel) {
        rw = std::max(rw, 1.0);
        rh = std::max(rh, 1.0);
      }
      double bh = rh / static_cast<double>(ph_n), bw = rw / static_cast<double>(pw_n);
      int64_t gh = sampling > 0 ? sampling : static_cast<int64_t>(std::ceil(rh / static_cast<double>(ph_n)));
      int64_t gw = sampling > 0 ? sampling : static_cast<int64_t>(std::ceil(rw / static_cast<double>(pw_n)));
      gh = std::max<int64_t>(gh, 0);
      gw = std::max<int64_t>(gw, 0);
      double count = static_cast<double>(std::max<int64_t>(gh * gw, 1));
      std::vector<Pre> pre;
      pre.reserve(static_cast<size_t>(ph_n * pw_n * gh * gw));
      for (int64_t ph = 0; ph < ph_n; ++ph)
        for (int64_t pw = 0; pw < pw_n; ++pw)
          for (int64_t iy = 0; iy < gh; ++iy) {
            double yy = sh + static_cast<double>(ph) * bh + (static_cast<double>(iy) + 0.5) * bh / static_cast<double>(gh);
            for (int64_t ix = 0; ix < gw; ++ix) {
              double xx = sw + static_cast<double>(pw) * bw + (static_cast<double>(ix) + 0.5) * bw / static_cast<double>(gw);
              Pre pc{{0, 0, 0, 0}, {0, 0, 0, 0}};
              if (!(yy < -1.0 || yy > static_cast<double>(height) || xx < -1.0 || xx > static_cast<double>(width))) {
                double yv = std::max(yy, 0.0), xv2 = std::max(xx, 0.0);
                int64_t yl = static_cast<int64_t>(yv), xl = static_cast<int64_t>(xv2), yh, xh;
                if (yl >= height - 1) {
                  yh = yl = height - 1;
                  yv = static_cast<double>(yl);
                } else {
                  yh = yl + 1;
                }
                if (xl >= width - 1) {
                  xh = xl = width - 1;
                  xv2 = static_cast<double>(xl);
                } else {
                  xh = xl + 1;
                }
                double ly = yv - static_cast<double>(yl), lx = xv2 - static_cast<double>(xl);
                double hy = 1 - ly, hx = 1 - lx;
                pc = {{yl * width + xl, yl * width + xh, yh * width + xl, yh * width + xh},
                      {hy * hx, hy * lx, ly * hx, ly * lx}};
              }
              pre.push_back(pc);
            }
          }
      for (int64_t c = 0; c < channels; ++c) {
        const double* src = xv.data() + (bv[static_cast<size_t>(n)] * channels + c) * height * width;
        size_t pi = 0;
        for (int64_t ph = 0; ph < ph_n; ++ph)
          for (int64_t pw = 0; pw < pw_n; ++pw) {
            double val = 0.0;
            bool first = true;
            for (int64_t s = 0; s < gh * gw; ++s, ++pi) {
              const Pre& pc = pre[pi];
              if (mode == "max") {
                double m = pc.w[0] * src[pc.pos[0]];
                for (int k = 1; k < 4; ++k) m = std::max(m, pc.w[k] * src[pc.pos[k]]);
                val = first ? m : std::max(val, m);
                first = false;
              } else {
                for (int k = 0; k < 4; ++k) val += pc.w[k] * src[pc.pos[k]];
              }
            }
            if (mode != "max") val /= count;
            out[static_cast<size_t>(((n * channels + c) * ph_n + ph) * pw_n + pw)] = val;
          }
      }
    }
  });
  for (int64_t i = 0; i < y->numel(); ++i) store_double(*y, i, out[static_cast<size_t>(i)]);
  return Status::ok();
}

}  // namespace

void register_resize_sample_kernels(KernelRegistry& r) {
  r.add_fn("", "GridSample", grid_sample);
  r.add_fn("", "AffineGrid", affine_grid);
  r.add_fn("", "RoiAlign", roi_align);
}

}  // namespace ferry
