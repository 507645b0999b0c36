// norm.cc — CPU reference kernels of the norm family (BatchNormalization, InstanceNormalization,
// LayerNormalization, GroupNormalization, RMSNormalization, LRN, LpNormalization, MeanVarianceNormalization).
//
// Statistics are accumulated in double; per-element math runs in float (double for double tensors).
// The big loops are parallel over independent rows/planes.
#include <cmath>
#include <vector>

#include "backends/cpu/kernel.h"
#include "backends/cpu/kernels/norm_util.h"
#include "ops/op_registry.h"

namespace ferry {
namespace {

using normk::Acc;
using normk::ld;
using normk::st;
using normk::visit_float;

// Number of elements below which a loop runs serially.
constexpr int64_t kGrain = 16384;
int64_t min_chunk_for(int64_t row_len) { return std::max<int64_t>(1, kGrain / std::max<int64_t>(1, row_len)); }

Expected<int> axis_of(KernelContext& ctx, int64_t axis, int rank) {
  auto a = normalize_axis(axis, rank);
  if (!a) return ctx.error(a.status().message());
  return *a;
}

// A per-channel / broadcast parameter as doubles, expanded to `count` entries through `map` (empty map:
// identity; then its element count must equal `count`).
Expected<std::vector<double>> param_values(KernelContext& ctx, const Tensor* t, const Shape& target,
                                           const char* what) {
  int64_t count = shape_numel(target);
  if (!t) return std::vector<double>(static_cast<size_t>(count), 0.0);
  auto map = normk::broadcast_index(t->shape(), target);
  if (!map) return ctx.error(std::string(what) + ": " + map.status().message());
  std::vector<double> v = to_double_vector(*t);
  if (map->empty()) return v;
  std::vector<double> out(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) out[static_cast<size_t>(i)] = v[static_cast<size_t>((*map)[static_cast<size_t>(i)])];
  return out;
}

// ---- LayerNormalization / RMSNormalization ----
template <typename TX, typename TY>
void layer_norm_rows(ThreadPool& pool, const TX* x, TY* y, int64_t outer, int64_t inner, const std::vector<double>& w,
                     const std::vector<double>& b, bool has_b, bool rms, double eps, std::vector<double>* mean_out,
                     std::vector<double>* inv_out) {
  using A = Acc<TX>;
  std::vector<A> wa(w.begin(), w.end()), ba(b.begin(), b.end());
  pool.parallel_for(
      outer,
      [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const TX* xr = x + r * inner;
          TY* yr = y + r * inner;
          double mean = 0.0;
          if (!rms) {
            double s = 0.0;
            for (int64_t j = 0; j < inner; ++j) s += static_cast<double>(ld(xr[j]));
            mean = s / static_cast<double>(inner);
          }
          double sq = 0.0;
          for (int64_t j = 0; j < inner; ++j) {
            double d = static_cast<double>(ld(xr[j])) - mean;
            sq += d * d;
          }
          double inv = 1.0 / std::sqrt(sq / static_cast<double>(inner) + eps);
          A m = static_cast<A>(mean), iv = static_cast<A>(inv);
          if (has_b) {
            for (int64_t j = 0; j < inner; ++j)
              yr[j] = st<TY>(static_cast<double>((ld(xr[j]) - m) * iv * wa[static_cast<size_t>(j)] + ba[static_cast<size_t>(j)]));
          } else {
            for (int64_t j = 0; j < inner; ++j)
              yr[j] = st<TY>(static_cast<double>((ld(xr[j]) - m) * iv * wa[static_cast<size_t>(j)]));
          }
          if (mean_out) (*mean_out)[static_cast<size_t>(r)] = mean;
          if (inv_out) (*inv_out)[static_cast<size_t>(r)] = inv;
        }
      },
      min_chunk_for(inner));
}

Status layer_norm_impl(KernelContext& ctx, bool rms) {
  const Tensor& x = *ctx.input(0);
  FERRY_ASSIGN_OR_RETURN(int axis, axis_of(ctx, ctx.node().attr_int("axis", -1), x.rank()));
  double eps = ctx.node().attr_float("epsilon", 1e-5f);
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < x.rank(); ++d) (d < axis ? outer : inner) *= x.dim(d);
  Shape inner_shape(x.shape().begin() + axis, x.shape().end());
  FERRY_ASSIGN_OR_RETURN(std::vector<double> w, param_values(ctx, ctx.input(1), inner_shape, "scale"));
  const Tensor* bt = rms ? nullptr : ctx.input(2);
  FERRY_ASSIGN_OR_RETURN(std::vector<double> b, param_values(ctx, bt, inner_shape, "B"));
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  bool want_stats = !rms && (ctx.has_output(1) || ctx.has_output(2));
  std::vector<double> mean, inv;
  if (want_stats) {
    mean.resize(static_cast<size_t>(outer));
    inv.resize(static_cast<size_t>(outer));
  }
  Status inner_st = Status::ok();
  Status st_x = visit_float(x.dtype(), [&](auto tx) {
    using TX = typename decltype(tx)::type;
    inner_st = visit_float(y->dtype(), [&](auto ty) {
      using TY = typename decltype(ty)::type;
      layer_norm_rows<TX, TY>(ctx.pool(), x.data<TX>(), y->data<TY>(), outer, inner, w, b, bt != nullptr, rms, eps,
                              want_stats ? &mean : nullptr, want_stats ? &inv : nullptr);
    });
  });
  if (!st_x.is_ok()) return ctx.unsupported_error(st_x.message());
  if (!inner_st.is_ok()) return ctx.unsupported_error(inner_st.message());
  for (int k = 1; k <= 2 && want_stats; ++k) {
    if (!ctx.has_output(k)) continue;
    FERRY_ASSIGN_OR_RETURN(Tensor * o, ctx.output(k));
    const std::vector<double>& v = k == 1 ? mean : inv;
    for (int64_t i = 0; i < outer; ++i) store_double(*o, i, v[static_cast<size_t>(i)]);
  }
  return Status::ok();
}

Status layer_norm(KernelContext& ctx) { return layer_norm_impl(ctx, false); }
Status rms_norm(KernelContext& ctx) { return layer_norm_impl(ctx, true); }

// ---- per-plane normalization shared by InstanceNormalization and GroupNormalization ----
// Normalizes `rows` contiguous rows of `len` elements; element j of row r gets scale[sidx(r, j)] and
// bias[sidx(r, j)] where sidx = (r % rows_per_n) * per_row_params + j / (len / per_row_params).
template <typename T>
void plane_norm(ThreadPool& pool, const T* x, T* y, int64_t rows, int64_t len, int64_t groups_per_n,
                int64_t params_per_row, const std::vector<double>& scale, const std::vector<double>& bias, double eps) {
  using A = Acc<T>;
  int64_t seg = params_per_row > 0 ? len / params_per_row : len;
  pool.parallel_for(
      rows,
      [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const T* xr = x + r * len;
          T* yr = y + r * len;
          double s = 0.0;
          for (int64_t j = 0; j < len; ++j) s += static_cast<double>(ld(xr[j]));
          double mean = len > 0 ? s / static_cast<double>(len) : 0.0;
          double sq = 0.0;
          for (int64_t j = 0; j < len; ++j) {
            double d = static_cast<double>(ld(xr[j])) - mean;
            sq += d * d;
          }
          double inv = 1.0 / std::sqrt((len > 0 ? sq / static_cast<double>(len) : 0.0) + eps);
          int64_t base = (r % groups_per_n) * params_per_row;
          A m = static_cast<A>(mean);
          for (int64_t p = 0; p < params_per_row; ++p) {
            A a = static_cast<A>(inv * scale[static_cast<size_t>(base + p)]);
            A c = static_cast<A>(bias[static_cast<size_t>(base + p)]);
            for (int64_t j = p * seg; j < (p + 1) * seg; ++j) yr[j] = st<T>(static_cast<double>((ld(xr[j]) - m) * a + c));
          }
        }
      },
      min_chunk_for(len));
}

Status instance_norm(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  if (x.rank() < 2) return ctx.error("input must have rank >= 2");
  int64_t n = x.dim(0), c = x.dim(1), s = x.numel() / std::max<int64_t>(1, n * c);
  double eps = ctx.node().attr_float("epsilon", 1e-5f);
  FERRY_ASSIGN_OR_RETURN(std::vector<double> scale, param_values(ctx, ctx.input(1), {c}, "scale"));
  FERRY_ASSIGN_OR_RETURN(std::vector<double> bias, param_values(ctx, ctx.input(2), {c}, "B"));
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  Status rc = visit_float(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    plane_norm<T>(ctx.pool(), x.data<T>(), y->data<T>(), n * c, s, c, 1, scale, bias, eps);
  });
  return rc.is_ok() ? rc : ctx.unsupported_error(rc.message());
}

Status group_norm(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  if (x.rank() < 2) return ctx.error("X must have rank >= 2");
  int64_t g = ctx.node().attr_int("num_groups", 0);
  int64_t n = x.dim(0), c = x.dim(1), s = x.numel() / std::max<int64_t>(1, n * c);
  if (g <= 0 || c % g != 0) return ctx.error("channels not divisible by num_groups");
  double eps = ctx.node().attr_float("epsilon", 1e-5f);
  const Tensor* sc = ctx.input(1);
  const Tensor* bi = ctx.input(2);
  // Opset 21: scale/bias per channel. Opset 18: per group (a per-channel expansion of the same values).
  bool per_group = sc->numel() == g && (ctx.opset() < 21 || g == c) && sc->numel() != c;
  int64_t count = per_group ? g : c;
  if (sc->numel() != count || bi->numel() != count)
    return ctx.error("scale and bias must have " + std::to_string(count) + " elements (" +
                     (per_group ? "num_groups" : "channels") + "), got " + std::to_string(sc->numel()) + " and " +
                     std::to_string(bi->numel()));
  std::vector<double> sv = to_double_vector(*sc), bv = to_double_vector(*bi);
  std::vector<double> scale(static_cast<size_t>(c)), bias(static_cast<size_t>(c));
  for (int64_t ch = 0; ch < c; ++ch) {
    size_t src = static_cast<size_t>(per_group ? ch / (c / g) : ch);
    scale[static_cast<size_t>(ch)] = sv[src];
    bias[static_cast<size_t>(ch)] = bv[src];
  }
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  int64_t cpg = c / g;
  Status rc = visit_float(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    plane_norm<T>(ctx.pool(), x.data<T>(), y->data<T>(), n * g, cpg * s, g, cpg, scale, bias, eps);
  });
  return rc.is_ok() ? rc : ctx.unsupported_error(rc.message());
}

// ---- BatchNormalization ----
Status batch_norm(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  if (x.rank() < 2) return ctx.error("X must have rank >= 2");
  int64_t n = x.dim(0), c = x.dim(1), s = x.numel() / std::max<int64_t>(1, n * c);
  double eps = ctx.node().attr_float("epsilon", 1e-5f);
  double momentum = ctx.node().attr_float("momentum", 0.9f);
  bool training = ctx.opset() >= 14 && ctx.node().attr_int("training_mode", 0) != 0;
  std::vector<double> p[4];
  for (int i = 0; i < 4; ++i) p[i] = to_double_vector(*ctx.input(i + 1));
  // Per channel (numel C) or, for the pre-opset-9 spatial=0 form, per (channel, position) (numel C*S).
  int64_t per = p[0].size() == static_cast<size_t>(c) ? 1 : s;
  for (int i = 0; i < 4; ++i)
    if (static_cast<int64_t>(p[i].size()) != c * per)
      return ctx.error("scale, B, mean and var must have " + std::to_string(c) + " elements, input " +
                       std::to_string(i + 1) + " has " + std::to_string(p[i].size()));
  if (training && per != 1) return ctx.error("training_mode needs per-channel parameters");
  std::vector<double> mean = p[2], var = p[3];
  if (training) {
    std::vector<double> sum(static_cast<size_t>(c), 0.0), sq(static_cast<size_t>(c), 0.0);
    std::vector<double> xv = to_double_vector(x);
    double cnt = static_cast<double>(n * s);
    for (int64_t ch = 0; ch < c; ++ch) {
      double a = 0.0;
      for (int64_t b = 0; b < n; ++b)
        for (int64_t k = 0; k < s; ++k) a += xv[static_cast<size_t>((b * c + ch) * s + k)];
      double m = cnt > 0 ? a / cnt : 0.0, v = 0.0;
      for (int64_t b = 0; b < n; ++b)
        for (int64_t k = 0; k < s; ++k) {
          double d = xv[static_cast<size_t>((b * c + ch) * s + k)] - m;
          v += d * d;
        }
      mean[static_cast<size_t>(ch)] = m;
      var[static_cast<size_t>(ch)] = cnt > 0 ? v / cnt : 0.0;
    }
  }
  // y = (x - mean) * a + B with a = scale / sqrt(var + eps) (not folded into one offset: that cancels badly
  // when var is tiny).
  std::vector<double> a(static_cast<size_t>(c * per)), bb(static_cast<size_t>(c * per));
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = p[0][i] / std::sqrt(var[i] + eps);
    bb[i] = p[1][i];
  }
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  Status rc = visit_float(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = Acc<T>;
    const T* xp = x.data<T>();
    T* yp = y->data<T>();
    ctx.pool().parallel_for(
        n * c,
        [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r) {
            int64_t ch = r % c;
            const T* xr = xp + r * s;
            T* yr = yp + r * s;
            if (per == 1) {
              size_t cu = static_cast<size_t>(ch);
              A km = static_cast<A>(mean[cu]), ka = static_cast<A>(a[cu]), kb = static_cast<A>(bb[cu]);
              for (int64_t k = 0; k < s; ++k) yr[k] = st<T>(static_cast<double>((ld(xr[k]) - km) * ka + kb));
            } else {
              const double* ar = a.data() + ch * s;
              const double* br = bb.data() + ch * s;
              const double* mr = mean.data() + ch * s;
              for (int64_t k = 0; k < s; ++k) yr[k] = st<T>((static_cast<double>(ld(xr[k])) - mr[k]) * ar[k] + br[k]);
            }
          }
        },
        min_chunk_for(s));
  });
  if (!rc.is_ok()) return ctx.unsupported_error(rc.message());
  // Optional statistics outputs: running mean/var (training), or saved mean/var (opset < 14 outputs 3, 4).
  for (int k = 1; k < ctx.num_outputs(); ++k) {
    if (!ctx.has_output(k)) continue;
    FERRY_ASSIGN_OR_RETURN(Tensor * o, ctx.output(k));
    for (int64_t i = 0; i < o->numel() && i < static_cast<int64_t>(mean.size()); ++i) {
      size_t iu = static_cast<size_t>(i);
      double v;
      if (k == 1) v = training ? p[2][iu] * momentum + mean[iu] * (1 - momentum) : mean[iu];
      else if (k == 2) v = training ? p[3][iu] * momentum + var[iu] * (1 - momentum) : var[iu];
      else if (k == 3) v = mean[iu];
      else v = 1.0 / std::sqrt(var[iu] + eps);
      store_double(*o, i, v);
    }
  }
  return Status::ok();
}

// ---- LRN ----
Status lrn(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  if (x.rank() < 2) return ctx.error("X must have rank >= 2");
  int64_t size = ctx.node().attr_int("size", 0);
  if (size <= 0) return ctx.error("size must be positive");
  double alpha = ctx.node().attr_float("alpha", 1e-4f), beta = ctx.node().attr_float("beta", 0.75f);
  double bias = ctx.node().attr_float("bias", 1.0f);
  int64_t n = x.dim(0), c = x.dim(1), s = x.numel() / std::max<int64_t>(1, n * c);
  int64_t lo = (size - 1) / 2, hi = size - 1 - lo;  // window [c - floor((size-1)/2), c + ceil((size-1)/2)]
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  Status rc = visit_float(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xp = x.data<T>();
    T* yp = y->data<T>();
    ctx.pool().parallel_for(n * c, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        int64_t b = r / c, ch = r % c;
        int64_t c0 = std::max<int64_t>(0, ch - lo), c1 = std::min<int64_t>(c - 1, ch + hi);
        for (int64_t k = 0; k < s; ++k) {
          double sum = 0.0;
          for (int64_t q = c0; q <= c1; ++q) {
            double v = static_cast<double>(ld(xp[(b * c + q) * s + k]));
            sum += v * v;
          }
          double v = static_cast<double>(ld(xp[r * s + k]));
          yp[r * s + k] = st<T>(v / std::pow(bias + alpha / static_cast<double>(size) * sum, beta));
        }
      }
    });
  });
  return rc.is_ok() ? rc : ctx.unsupported_error(rc.message());
}

// ---- LpNormalization ----
Status lp_norm(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  int64_t p = ctx.node().attr_int("p", 2);
  if (p != 1 && p != 2) return ctx.error("p must be 1 or 2");
  FERRY_ASSIGN_OR_RETURN(int axis, axis_of(ctx, ctx.node().attr_int("axis", -1), x.rank()));
  int64_t outer = 1, len = x.rank() > 0 ? x.dim(axis) : 1, inner = 1;
  for (int d = 0; d < x.rank(); ++d) {
    if (d < axis) outer *= x.dim(d);
    if (d > axis) inner *= x.dim(d);
  }
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  Status rc = visit_float(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* xp = x.data<T>();
    T* yp = y->data<T>();
    ctx.pool().parallel_for(outer * inner, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        int64_t o = r / inner, i = r % inner;
        int64_t base = o * len * inner + i;
        double acc = 0.0;
        for (int64_t k = 0; k < len; ++k) {
          double v = static_cast<double>(ld(xp[base + k * inner]));
          acc += p == 1 ? std::fabs(v) : v * v;
        }
        double norm = p == 1 ? acc : std::sqrt(acc);
        for (int64_t k = 0; k < len; ++k) {
          double v = static_cast<double>(ld(xp[base + k * inner]));
          yp[base + k * inner] = st<T>(norm != 0.0 ? v / norm : 0.0);
        }
      }
    });
  });
  return rc.is_ok() ? rc : ctx.unsupported_error(rc.message());
}

// ---- MeanVarianceNormalization: (x - E[x]) / (sqrt(E[x^2] - E[x]^2) + 1e-9) over `axes` ----
Status mvn(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  int rank = x.rank();
  std::vector<bool> reduced(static_cast<size_t>(rank), false);
  for (int64_t a : ctx.node().attr_ints("axes", {0, 2, 3})) {
    FERRY_ASSIGN_OR_RETURN(int ax, axis_of(ctx, a, rank));
    reduced[static_cast<size_t>(ax)] = true;
  }
  // Flat index of the kept (non-reduced) coordinates for every element.
  int64_t total = x.numel(), kept = 1;
  std::vector<int64_t> kstride(static_cast<size_t>(rank), 0);
  for (int d = rank - 1; d >= 0; --d)
    if (!reduced[static_cast<size_t>(d)]) {
      kstride[static_cast<size_t>(d)] = kept;
      kept *= x.dim(d);
    }
  std::vector<int64_t> kidx(static_cast<size_t>(total));
  {
    std::vector<int64_t> idx(static_cast<size_t>(rank), 0);
    int64_t off = 0;
    for (int64_t i = 0; i < total; ++i) {
      kidx[static_cast<size_t>(i)] = off;
      for (int d = rank - 1; d >= 0; --d) {
        size_t du = static_cast<size_t>(d);
        if (++idx[du] < x.dim(d)) {
          off += kstride[du];
          break;
        }
        off -= kstride[du] * (x.dim(d) - 1);
        idx[du] = 0;
      }
    }
  }
  std::vector<double> xv = to_double_vector(x);
  std::vector<double> sum(static_cast<size_t>(kept), 0.0), sq(static_cast<size_t>(kept), 0.0);
  for (int64_t i = 0; i < total; ++i) {
    double v = xv[static_cast<size_t>(i)];
    sum[static_cast<size_t>(kidx[static_cast<size_t>(i)])] += v;
    sq[static_cast<size_t>(kidx[static_cast<size_t>(i)])] += v * v;
  }
  double cnt = kept > 0 ? static_cast<double>(total) / static_cast<double>(kept) : 1.0;
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  if (!dtype_is_float(x.dtype())) return ctx.unsupported_error("element type must be floating");
  for (int64_t i = 0; i < total; ++i) {
    size_t k = static_cast<size_t>(kidx[static_cast<size_t>(i)]);
    double m = sum[k] / cnt;
    double var = std::max(0.0, sq[k] / cnt - m * m);
    store_double(*y, i, (xv[static_cast<size_t>(i)] - m) / (std::sqrt(var) + 1e-9));
  }
  return Status::ok();
}

}  // namespace

void register_norm_kernels(KernelRegistry& r) {
  r.add_fn("", "BatchNormalization", batch_norm);
  r.add_fn("", "InstanceNormalization", instance_norm);
  r.add_fn("", "LayerNormalization", layer_norm);
  r.add_fn("", "RMSNormalization", rms_norm);
  r.add_fn("", "GroupNormalization", group_norm);
  r.add_fn("", "LRN", lrn);
  r.add_fn("", "LpNormalization", lp_norm);
  r.add_fn("", "MeanVarianceNormalization", mvn);
}

}  // namespace ferry
