// pool.cc — CPU kernels of the pool family. Reference kernels (computing in double, any spatial rank, every
// attribute) are the oracle; AveragePool/MaxPool float32 without Indices go to oneDNN (pool_dnnl.cc) when it
// can express the case exactly, unless FERRY_DNNL=0. ferry.MaxPoolNhwc (channels-last MaxPool) lives here too.
#include <algorithm>
#include <cmath>
#include <limits>

#include "backends/cpu/kernel.h"
#include "backends/cpu/kernels/conv_pool_util.h"
#include "backends/cpu/kernels/dnnl_util.h"
#include "backends/cpu/kernels/pool_dnnl.h"
#include "ops/conv_geometry.h"

namespace ferry {
namespace {

enum class PoolKind { kMax, kAvg, kLp };

// LpPool/GlobalLpPool `p`: an int since opset 2, a float in opset 1.
double lp_exponent(const Node& n) {
  const Attr* a = n.attr("p");
  if (a && a->kind == Attr::Kind::kFloat) return static_cast<double>(a->f);
  return static_cast<double>(n.attr_int("p", 2));
}

struct PoolSetup {
  WindowAttrs w;
  Shape x, y;
  std::vector<int64_t> pads;  // effective, begins then ends
};

Expected<PoolSetup> pool_setup(const KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  const int nsp = static_cast<int>(ctx.node().attr_ints("kernel_shape").size());
  if (x.rank() != nsp + 2 || nsp < 1)
    return ctx.error("X " + shape_to_string(x.shape()) + " does not match kernel_shape length " + std::to_string(nsp));
  PoolSetup s;
  auto wa = WindowAttrs::parse(ctx.node(), nsp, {});
  if (!wa) return ctx.error(wa.status().message());
  s.w = *wa;
  s.x = x.shape();
  auto o = window_output(s.w, std::vector<int64_t>(s.x.begin() + 2, s.x.end()));
  if (!o) return ctx.error(o.status().message());
  s.pads = o->pads;
  s.y = {s.x[0], s.x[1]};
  s.y.insert(s.y.end(), o->out.begin(), o->out.end());
  return s;
}

// The reference windowed pool. `idx` (MaxPool Indices) may be null; `col_major` is storage_order=1.
void pool_ref(const PoolSetup& s, PoolKind kind, bool count_include_pad, double p, const double* x, double* y,
              int64_t* idx, bool col_major, ThreadPool& pool) {
  const size_t nsp = static_cast<size_t>(s.w.nsp);
  const std::vector<int64_t> in(s.x.begin() + 2, s.x.end()), out(s.y.begin() + 2, s.y.end());
  const int64_t in_sp = prod_from(s.x, 2), out_sp = prod_from(s.y, 2);
  const auto ktab = index_table(s.w.kernel);
  pool.parallel_for(s.x[0] * s.x[1], [&](int64_t begin, int64_t end) {
    std::vector<int64_t> oc(nsp), pos(nsp);
    for (int64_t plane = begin; plane < end; ++plane) {
      const double* xp = x + plane * in_sp;
      for (int64_t o = 0; o < out_sp; ++o) {
        unflatten(o, out, oc.data());
        double acc = kind == PoolKind::kMax ? -std::numeric_limits<double>::infinity() : 0.0;
        int64_t best = -1, valid = 0, padded = 0;
        for (const auto& kc : ktab) {
          bool inside = true, in_padded = true;
          int64_t off = 0;
          for (size_t d = 0; d < nsp; ++d) {
            pos[d] = oc[d] * s.w.strides[d] - s.pads[d] + kc[d] * s.w.dilations[d];
            if (pos[d] < 0 || pos[d] >= in[d]) inside = false;
            if (pos[d] >= in[d] + s.pads[d + nsp]) in_padded = false;  // ceil_mode overhang is never counted
            off = off * in[d] + pos[d];
          }
          if (in_padded) ++padded;
          if (!inside) continue;
          ++valid;
          const double v = xp[off];
          if (kind == PoolKind::kMax) {
            if (v > acc || best < 0) {
              acc = v;
              best = off;
            }
          } else if (kind == PoolKind::kAvg) {
            acc += v;
          } else {
            acc += std::pow(std::fabs(v), p);
          }
        }
        double r = acc;
        if (kind == PoolKind::kAvg) {
          const int64_t div = count_include_pad ? padded : valid;
          r = div > 0 ? acc / static_cast<double>(div) : 0.0;
        } else if (kind == PoolKind::kLp) {
          r = std::pow(acc, 1.0 / p);
        }
        y[plane * out_sp + o] = r;
        if (idx) {
          int64_t flat = best < 0 ? 0 : best;
          if (col_major && best >= 0) {
            unflatten(best, in, pos.data());
            flat = 0;
            for (size_t d = nsp; d-- > 0;) flat = flat * in[d] + pos[d];
          }
          idx[plane * out_sp + o] = plane * in_sp + flat;
        }
      }
    }
  });
}

class PoolKernel : public CpuKernel {
 public:
  PoolKernel(PoolKind kind, bool use_dnnl) : kind_(kind) {
    if (use_dnnl && kind != PoolKind::kLp) dnnl_ = std::make_unique<DnnlPool>();
  }
  Status run(KernelContext& ctx) override {
    FERRY_ASSIGN_OR_RETURN(PoolSetup s, pool_setup(ctx));
    const Tensor& x = *ctx.input(0);
    FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
    if (y->shape() != s.y)
      return internal_error("node " + ctx.node().display_name() + ": inferred output " + shape_to_string(y->shape()) +
                            " differs from kernel geometry " + shape_to_string(s.y));
    const bool want_idx = kind_ == PoolKind::kMax && ctx.has_output(1);
    const bool include_pad = ctx.node().attr_int("count_include_pad", 0) != 0;
    const double p = lp_exponent(ctx.node());
    if (kind_ == PoolKind::kLp && !(p > 0)) return ctx.error("p must be positive");
    if (y->numel() == 0) return Status::ok();
    if (dnnl_ && !want_idx && x.dtype() == DType::kFloat) {
      DnnlPoolGeom g{kind_ == PoolKind::kMax, include_pad, s.x, s.y, s.w.kernel, s.w.strides, s.w.dilations,
                     std::vector<int64_t>(s.pads.begin(), s.pads.begin() + s.w.nsp),
                     std::vector<int64_t>(s.pads.begin() + s.w.nsp, s.pads.end())};
      if (dnnl_->run(g, x, *y, ctx.pool().threads())) return Status::ok();
    }
    std::vector<double> xd = read_doubles(x), yd(static_cast<size_t>(y->numel()));
    int64_t* idx = nullptr;
    if (want_idx) {
      FERRY_ASSIGN_OR_RETURN(Tensor * it, ctx.output(1));
      idx = it->data<int64_t>();
    }
    const bool col_major = ctx.node().attr_int("storage_order", 0) == 1;
    pool_ref(s, kind_, include_pad, p, xd.data(), yd.data(), idx, col_major, ctx.pool());
    write_doubles(*y, yd);
    return Status::ok();
  }

 private:
  PoolKind kind_;
  std::unique_ptr<DnnlPool> dnnl_;
};

// ferry.MaxPoolNhwc: MaxPool on [N, H, W, C]. oneDNN on nhwc memory; the reference below when it declines.
class MaxPoolNhwcKernel : public CpuKernel {
 public:
  explicit MaxPoolNhwcKernel(bool use_dnnl) {
    if (use_dnnl) dnnl_ = std::make_unique<DnnlPool>();
  }
  Status run(KernelContext& ctx) override {
    const Tensor& x = *ctx.input(0);
    if (x.dtype() != DType::kFloat || x.rank() != 4)
      return ctx.error("X must be a float32 [N, H, W, C] tensor, got " + shape_to_string(x.shape()));
    auto wa = WindowAttrs::parse(ctx.node(), 2, {});
    if (!wa) return ctx.error(wa.status().message());
    const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3);
    auto o = window_output(*wa, {h, w});
    if (!o) return ctx.error(o.status().message());
    const int64_t oh = o->out[0], ow = o->out[1];
    FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
    if (y->shape() != Shape{n, oh, ow, c})
      return internal_error("node " + ctx.node().display_name() + ": output " + shape_to_string(y->shape()) +
                            " differs from the kernel geometry");
    if (y->numel() == 0) return Status::ok();
    if (dnnl_ && x.numel() > 0) {
      DnnlPoolGeom g{true, false, {n, c, h, w}, {n, c, oh, ow}, wa->kernel, wa->strides, wa->dilations,
                     {o->pads[0], o->pads[1]}, {o->pads[2], o->pads[3]}, true};
      if (dnnl_->run(g, x, *y, ctx.pool().threads())) return Status::ok();
    }
    // Reference: windows that hold no input element (all padding) give -inf, as ONNX MaxPool's.
    const float* xp = x.data<float>();
    float* yp = y->data<float>();
    const int64_t kh = wa->kernel[0], kw = wa->kernel[1], sh = wa->strides[0], sw = wa->strides[1];
    const int64_t dh = wa->dilations[0], dw = wa->dilations[1], ph = o->pads[0], pw = o->pads[1];
    ctx.pool().parallel_for(n * oh, [&](int64_t b, int64_t e) {
      for (int64_t row = b; row < e; ++row) {
        const int64_t in = row / oh, r = row % oh;
        for (int64_t q = 0; q < ow; ++q) {
          float* out = yp + (row * ow + q) * c;
          std::fill(out, out + c, -std::numeric_limits<float>::infinity());
          for (int64_t i = 0; i < kh; ++i) {
            const int64_t ih = r * sh - ph + i * dh;
            if (ih < 0 || ih >= h) continue;
            for (int64_t j = 0; j < kw; ++j) {
              const int64_t iw = q * sw - pw + j * dw;
              if (iw < 0 || iw >= w) continue;
              const float* src = xp + ((in * h + ih) * w + iw) * c;
              for (int64_t ch = 0; ch < c; ++ch) out[ch] = std::max(out[ch], src[ch]);
            }
          }
        }
      }
    }, 1);
    return Status::ok();
  }

 private:
  std::unique_ptr<DnnlPool> dnnl_;
};

CpuKernelFactory pool_factory(PoolKind kind) {
  return [kind](const Node&) -> Expected<std::unique_ptr<CpuKernel>> {
    return std::unique_ptr<CpuKernel>(new PoolKernel(kind, dnnl_enabled()));
  };
}

template <PoolKind kKind>
Status global_pool(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  if (x.rank() < 3) return ctx.error("X must have rank >= 3, got " + shape_to_string(x.shape()));
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  const int64_t planes = x.dim(0) * x.dim(1), sp = prod_from(x.shape(), 2);
  const double p = lp_exponent(ctx.node());
  if (kKind == PoolKind::kLp && !(p > 0)) return ctx.error("p must be positive");
  if (sp == 0) return ctx.error("global pooling over an empty spatial extent");
  if (kKind != PoolKind::kLp && x.dtype() == DType::kFloat) {  // hot in CNNs (SE blocks): no double copy
    const float* xf = x.data<float>();
    float* yf = y->data<float>();
    ctx.pool().parallel_for(planes, [&](int64_t b, int64_t e) {
      for (int64_t pl = b; pl < e; ++pl) {
        const float* xp = xf + pl * sp;
        double acc = kKind == PoolKind::kMax ? xp[0] : 0.0;
        for (int64_t i = 0; i < sp; ++i) acc = kKind == PoolKind::kMax ? std::max<double>(acc, xp[i]) : acc + xp[i];
        yf[pl] = static_cast<float>(kKind == PoolKind::kAvg ? acc / static_cast<double>(sp) : acc);
      }
    }, 16);
    return Status::ok();
  }
  std::vector<double> xd = read_doubles(x), yd(static_cast<size_t>(planes));
  ctx.pool().parallel_for(planes, [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; ++pl) {
      const double* xp = xd.data() + pl * sp;
      double acc = kKind == PoolKind::kMax ? xp[0] : 0.0;
      for (int64_t i = 0; i < sp; ++i) {
        if (kKind == PoolKind::kMax) {
          acc = std::max(acc, xp[i]);
        } else if (kKind == PoolKind::kAvg) {
          acc += xp[i];
        } else {
          acc += std::pow(std::fabs(xp[i]), p);
        }
      }
      if (kKind == PoolKind::kAvg) acc /= static_cast<double>(sp);
      if (kKind == PoolKind::kLp) acc = std::pow(acc, 1.0 / p);
      yd[static_cast<size_t>(pl)] = acc;
    }
  });
  write_doubles(*y, yd);
  return Status::ok();
}

// MaxUnpool: scatter X to the positions given by I (flat indices into the default unpooled shape, as MaxPool
// produced them); with an explicit output_shape the indices are re-mapped by coordinates (ONNX reference).
Status max_unpool(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  const Tensor& ind = *ctx.input(1);
  if (ind.shape() != x.shape()) return ctx.error("X and I shapes differ");
  const int nsp = static_cast<int>(ctx.node().attr_ints("kernel_shape").size());
  if (x.rank() != nsp + 2 || nsp < 1) return ctx.error("X rank does not match kernel_shape");
  auto wa = WindowAttrs::parse(ctx.node(), nsp, {});
  if (!wa) return ctx.error(wa.status().message());
  Shape def{x.dim(0), x.dim(1)};
  for (int i = 0; i < nsp; ++i) {
    const size_t u = static_cast<size_t>(i);
    def.push_back((x.dim(i + 2) - 1) * wa->strides[u] + wa->kernel[u] - wa->pads[u] - wa->pads[u + nsp]);
  }
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  const Shape& ys = y->shape();
  if (ys.size() != def.size() || ys[0] != def[0] || ys[1] != def[1])
    return ctx.error("output_shape " + shape_to_string(ys) + " must keep N and C of " + shape_to_string(def));
  const int64_t def_n = shape_numel(def), y_n = y->numel();
  std::vector<double> xd = read_doubles(x), yd(static_cast<size_t>(y_n), 0.0);
  const int64_t* ip = ind.data<int64_t>();
  const bool remap = ys != def;
  std::vector<int64_t> c(def.size());
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t f = ip[i];
    if (f < 0 || f >= def_n) return ctx.error("index " + std::to_string(f) + " out of range");
    if (remap) {
      unflatten(f, def, c.data());
      f = 0;
      for (size_t d = 0; d < ys.size(); ++d) {
        if (c[d] >= ys[d]) return ctx.error("index " + std::to_string(ip[i]) + " falls outside output_shape");
        f = f * ys[d] + c[d];
      }
    }
    yd[static_cast<size_t>(f)] = xd[static_cast<size_t>(i)];
  }
  write_doubles(*y, yd);
  return Status::ok();
}

}  // namespace

void register_pool_kernels(KernelRegistry& r) {
  r.add("", "MaxPool", pool_factory(PoolKind::kMax));
  r.add("ferry", "MaxPoolNhwc", [](const Node&) -> Expected<std::unique_ptr<CpuKernel>> {
    return std::unique_ptr<CpuKernel>(new MaxPoolNhwcKernel(dnnl_enabled()));
  });
  r.add("", "AveragePool", pool_factory(PoolKind::kAvg));
  r.add("", "LpPool", pool_factory(PoolKind::kLp));
  r.add_fn("", "GlobalMaxPool", global_pool<PoolKind::kMax>);
  r.add_fn("", "GlobalAveragePool", global_pool<PoolKind::kAvg>);
  r.add_fn("", "GlobalLpPool", global_pool<PoolKind::kLp>);
  r.add_fn("", "MaxUnpool", max_unpool);
}

}  // namespace ferry
