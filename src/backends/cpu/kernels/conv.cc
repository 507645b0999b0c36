// conv.cc — CPU kernels of the conv family: Conv and ConvTranspose (reference + oneDNN float32 path),
// DeformConv and Col2Im (reference). The reference kernels compute in double for every float type and are the
// oracle for conv_dnnl.cc; the factory kernel picks oneDNN for float32 unless FERRY_DNNL=0.
#include <cmath>

#include "backends/cpu/kernel.h"
#include "backends/cpu/kernels/conv_dnnl.h"
#include "backends/cpu/kernels/conv_pool_util.h"
#include "backends/cpu/kernels/dnnl_util.h"
#include "ops/conv_geometry.h"

namespace ferry {
namespace {

// Everything a conv/deconv loop needs, resolved for this run's concrete shapes.
struct ConvSetup {
  int nsp = 0;
  int64_t group = 1;
  Shape x, w, y;
  std::vector<int64_t> kernel, strides, dilations, pads_begin, pads_end;
};

Expected<ConvSetup> conv_setup(const KernelContext& ctx, bool transpose, int bias_index = 2) {
  const Tensor* x = ctx.input(0);
  const Tensor* w = ctx.input(1);
  if (!x || !w) return ctx.error("missing X or W");
  if (x->rank() < 3 || w->rank() != x->rank()) {
    return ctx.error("X " + shape_to_string(x->shape()) + " and W " + shape_to_string(w->shape()) +
                     " must have the same rank >= 3");
  }
  ConvSetup s;
  s.nsp = x->rank() - 2;
  s.group = ctx.node().attr_int("group", 1);
  s.x = x->shape();
  s.w = w->shape();
  if (s.group <= 0) return ctx.error("group must be positive");
  const int64_t c = s.x[1];
  int64_t m = 0;
  if (!transpose) {
    if (c != s.w[1] * s.group || s.w[0] % s.group != 0)
      return ctx.error("channel mismatch: X " + shape_to_string(s.x) + ", W " + shape_to_string(s.w) + ", group " +
                       std::to_string(s.group));
    m = s.w[0];
  } else {
    if (c != s.w[0] || c % s.group != 0)
      return ctx.error("channel mismatch: X " + shape_to_string(s.x) + ", W " + shape_to_string(s.w) + ", group " +
                       std::to_string(s.group));
    m = s.w[1] * s.group;
  }
  std::vector<int64_t> k(s.w.begin() + 2, s.w.end());
  auto wa = WindowAttrs::parse(ctx.node(), s.nsp, k);
  if (!wa) return ctx.error(wa.status().message());
  if (wa->kernel != k) return ctx.error("kernel_shape attribute does not match W");
  std::vector<int64_t> in(s.x.begin() + 2, s.x.end());
  std::vector<int64_t> out, pads;
  if (!transpose) {
    auto o = window_output(*wa, in);
    if (!o) return ctx.error(o.status().message());
    out = o->out;
    pads = o->pads;
  } else {
    auto o = conv_transpose_geometry(ctx.node(), *wa, in);
    if (!o) return ctx.error(o.status().message());
    out = o->out;
    pads = o->pads;
  }
  s.kernel = k;
  s.strides = wa->strides;
  s.dilations = wa->dilations;
  s.pads_begin.assign(pads.begin(), pads.begin() + s.nsp);
  s.pads_end.assign(pads.begin() + s.nsp, pads.end());
  s.y = {s.x[0], m};
  s.y.insert(s.y.end(), out.begin(), out.end());
  const Tensor* b = ctx.input(bias_index);
  if (b && (b->rank() != 1 || b->dim(0) != m)) return ctx.error("bias must have shape [" + std::to_string(m) + "]");
  return s;
}

// Direct N-d convolution, parallel over (batch, output channel).
void conv_ref(const ConvSetup& s, const double* x, const double* w, const double* b, double* y, ThreadPool& pool) {
  const int64_t n_batch = s.x[0], c = s.x[1], m = s.y[1];
  const int64_t cg = c / s.group, mg = m / s.group;
  const int64_t in_sp = prod_from(s.x, 2), out_sp = prod_from(s.y, 2), ksz = prod_from(s.w, 2);
  const std::vector<int64_t> in_dims(s.x.begin() + 2, s.x.end()), out_dims(s.y.begin() + 2, s.y.end());
  const auto ktab = index_table(s.kernel);
  const size_t nsp = static_cast<size_t>(s.nsp);
  pool.parallel_for(n_batch * m, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> oc(nsp), ic(nsp);
    for (int64_t nm = begin; nm < end; ++nm) {
      const int64_t n = nm / m, mo = nm % m, g = mo / mg;
      const double* xg = x + (n * c + g * cg) * in_sp;
      const double* wm = w + mo * cg * ksz;
      double* yp = y + nm * out_sp;
      for (int64_t o = 0; o < out_sp; ++o) {
        unflatten(o, out_dims, oc.data());
        double acc = b ? b[mo] : 0.0;
        for (int64_t kk = 0; kk < ksz; ++kk) {
          const auto& kc = ktab[static_cast<size_t>(kk)];
          int64_t off = 0;
          bool inside = true;
          for (size_t d = 0; d < nsp; ++d) {
            const int64_t p = oc[d] * s.strides[d] - s.pads_begin[d] + kc[d] * s.dilations[d];
            if (p < 0 || p >= in_dims[d]) {
              inside = false;
              break;
            }
            off = off * in_dims[d] + p;
          }
          if (!inside) continue;
          for (int64_t ci = 0; ci < cg; ++ci) acc += xg[ci * in_sp + off] * wm[ci * ksz + kk];
        }
        yp[o] = acc;
      }
    }
  });
}

// Transposed convolution: scatter each input element through the kernel, parallel over (batch, out channel).
void conv_transpose_ref(const ConvSetup& s, const double* x, const double* w, const double* b, double* y,
                        ThreadPool& pool) {
  const int64_t n_batch = s.x[0], c = s.x[1], m = s.y[1];
  const int64_t cg = c / s.group, mg = m / s.group;
  const int64_t in_sp = prod_from(s.x, 2), out_sp = prod_from(s.y, 2), ksz = prod_from(s.w, 2);
  const std::vector<int64_t> in_dims(s.x.begin() + 2, s.x.end()), out_dims(s.y.begin() + 2, s.y.end());
  const auto ktab = index_table(s.kernel);
  const size_t nsp = static_cast<size_t>(s.nsp);
  pool.parallel_for(n_batch * m, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> icd(nsp);
    for (int64_t nm = begin; nm < end; ++nm) {
      const int64_t n = nm / m, mo = nm % m, g = mo / mg, mm = mo % mg;
      double* yp = y + nm * out_sp;
      for (int64_t o = 0; o < out_sp; ++o) yp[o] = b ? b[mo] : 0.0;
      for (int64_t ci = 0; ci < cg; ++ci) {
        const int64_t cc = g * cg + ci;
        const double* xp = x + (n * c + cc) * in_sp;
        const double* wp = w + (cc * mg + mm) * ksz;
        for (int64_t i = 0; i < in_sp; ++i) {
          const double xv = xp[i];
          if (xv == 0.0) continue;
          unflatten(i, in_dims, icd.data());
          for (int64_t kk = 0; kk < ksz; ++kk) {
            const auto& kc = ktab[static_cast<size_t>(kk)];
            int64_t off = 0;
            bool inside = true;
            for (size_t d = 0; d < nsp; ++d) {
              const int64_t p = icd[d] * s.strides[d] + kc[d] * s.dilations[d] - s.pads_begin[d];
              if (p < 0 || p >= out_dims[d]) {
                inside = false;
                break;
              }
              off = off * out_dims[d] + p;
            }
            if (inside) yp[off] += xv * wp[kk];
          }
        }
      }
    }
  });
}

Status conv_reference(KernelContext& ctx, const ConvSetup& s, bool transpose, Tensor& y) {
  std::vector<double> x = read_doubles(*ctx.input(0)), w = read_doubles(*ctx.input(1));
  std::vector<double> b;
  if (ctx.input(2)) b = read_doubles(*ctx.input(2));
  std::vector<double> out(static_cast<size_t>(shape_numel(s.y)));
  if (transpose) {
    conv_transpose_ref(s, x.data(), w.data(), b.empty() ? nullptr : b.data(), out.data(), ctx.pool());
  } else {
    conv_ref(s, x.data(), w.data(), b.empty() ? nullptr : b.data(), out.data(), ctx.pool());
  }
  write_doubles(y, out);
  return Status::ok();
}

// Conv / ConvTranspose: oneDNN for float32 when it accepts the case, else the reference.
class ConvKernel : public CpuKernel {
 public:
  ConvKernel(bool transpose, bool use_dnnl) : transpose_(transpose) {
    if (use_dnnl) dnnl_ = std::make_unique<DnnlConv>();
  }
  Status run(KernelContext& ctx) override {
    FERRY_ASSIGN_OR_RETURN(ConvSetup s, conv_setup(ctx, transpose_));
    const Tensor& x = *ctx.input(0);
    const Tensor& w = *ctx.input(1);
    if (w.dtype() != x.dtype() || (ctx.input(2) && ctx.input(2)->dtype() != x.dtype()))
      return ctx.error("X, W and B must have the same element type");
    FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
    if (y->shape() != s.y)
      return internal_error("node " + ctx.node().display_name() + ": inferred output " +
                            shape_to_string(y->shape()) + " differs from kernel geometry " + shape_to_string(s.y));
    if (y->numel() == 0) return Status::ok();
    if (dnnl_ && x.dtype() == DType::kFloat && x.numel() > 0) {
      DnnlConvGeom g{transpose_, s.group, s.x, s.w, s.y, s.strides, s.dilations, s.pads_begin, s.pads_end,
                     ctx.input(2) != nullptr};
      if (dnnl_->run(g, x, w, ctx.input(2), *y, ctx.pool().threads())) return Status::ok();
    }
    return conv_reference(ctx, s, transpose_, *y);
  }

 private:
  bool transpose_;
  std::unique_ptr<DnnlConv> dnnl_;
};

CpuKernelFactory conv_factory(bool transpose) {
  return [transpose](const Node&) -> Expected<std::unique_ptr<CpuKernel>> {
    return std::unique_ptr<CpuKernel>(new ConvKernel(transpose, dnnl_enabled()));
  };
}

// Bilinear sample of a [h, w] plane with zeros outside (torchvision / ONNX reference rule).
double bilinear(const double* p, int64_t h, int64_t w, double y, double x) {
  if (!std::isfinite(y) || !std::isfinite(x)) return 0.0;  // NaN/inf offsets sample nothing (and avoid UB casts)
  if (y <= -1.0 || y >= static_cast<double>(h) || x <= -1.0 || x >= static_cast<double>(w)) return 0.0;
  const int64_t y0 = static_cast<int64_t>(std::floor(y)), x0 = static_cast<int64_t>(std::floor(x));
  const double ly = y - static_cast<double>(y0), lx = x - static_cast<double>(x0);
  auto at = [&](int64_t yy, int64_t xx) { return (yy >= 0 && yy < h && xx >= 0 && xx < w) ? p[yy * w + xx] : 0.0; };
  return (1 - ly) * (1 - lx) * at(y0, x0) + (1 - ly) * lx * at(y0, x0 + 1) + ly * (1 - lx) * at(y0 + 1, x0) +
         ly * lx * at(y0 + 1, x0 + 1);
}

// DeformConv (2-D): sample X at offset positions (optionally masked) into columns, then a grouped GEMM.
Status deform_conv(KernelContext& ctx) {
  FERRY_ASSIGN_OR_RETURN(ConvSetup s, conv_setup(ctx, false, 3));
  if (s.nsp != 2) return ctx.unsupported_error("DeformConv is implemented for 2-D inputs only");
  const Tensor& off_t = *ctx.input(2);
  const Tensor* mask_t = ctx.input(4);
  const int64_t n_batch = s.x[0], c = s.x[1], h = s.x[2], wd = s.x[3], m = s.y[1], oh = s.y[2], ow = s.y[3];
  const int64_t kh = s.kernel[0], kw = s.kernel[1], ksz = kh * kw;
  const int64_t og = ctx.node().attr_int("offset_group", 1);
  if (og <= 0 || c % og != 0) return ctx.error("offset_group must divide the input channels");
  const Shape want_off{n_batch, og * 2 * ksz, oh, ow};
  if (off_t.shape() != want_off)
    return ctx.error("offset shape " + shape_to_string(off_t.shape()) + ", expected " + shape_to_string(want_off));
  const Shape want_mask{n_batch, og * ksz, oh, ow};
  if (mask_t && mask_t->shape() != want_mask)
    return ctx.error("mask shape " + shape_to_string(mask_t->shape()) + ", expected " + shape_to_string(want_mask));
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  std::vector<double> x = read_doubles(*ctx.input(0)), w = read_doubles(*ctx.input(1)), off = read_doubles(off_t);
  std::vector<double> mask, b;
  if (mask_t) mask = read_doubles(*mask_t);
  if (ctx.input(3)) b = read_doubles(*ctx.input(3));
  if (!b.empty() && static_cast<int64_t>(b.size()) != m) return ctx.error("bias must have M values");
  const int64_t osp = oh * ow, cpg = c / og;
  const int64_t cg = c / s.group, mg = m / s.group;
  std::vector<double> out(static_cast<size_t>(n_batch * m * osp));
  for (int64_t n = 0; n < n_batch; ++n) {
    // col[ci][k][p]: sampled input for channel ci, kernel tap k, output position p.
    std::vector<double> col(static_cast<size_t>(c * ksz * osp));
    ctx.pool().parallel_for(c, [&](int64_t cb, int64_t ce) {
      for (int64_t ci = cb; ci < ce; ++ci) {
        const int64_t gi = ci / cpg;
        const double* plane = x.data() + (n * c + ci) * h * wd;
        for (int64_t k = 0; k < ksz; ++k) {
          const int64_t i = k / kw, j = k % kw;
          const double* offy = off.data() + ((n * og + gi) * 2 * ksz + 2 * k) * osp;
          const double* offx = offy + osp;
          const double* mk = mask.empty() ? nullptr : mask.data() + ((n * og + gi) * ksz + k) * osp;
          double* cp = col.data() + (ci * ksz + k) * osp;
          for (int64_t p = 0; p < osp; ++p) {
            const int64_t py = p / ow, px = p % ow;
            const double yy = static_cast<double>(py * s.strides[0] - s.pads_begin[0] + i * s.dilations[0]) + offy[p];
            const double xx = static_cast<double>(px * s.strides[1] - s.pads_begin[1] + j * s.dilations[1]) + offx[p];
            double v = bilinear(plane, h, wd, yy, xx);
            cp[p] = mk ? v * mk[p] : v;
          }
        }
      }
    });
    ctx.pool().parallel_for(m, [&](int64_t mb, int64_t me) {
      for (int64_t mo = mb; mo < me; ++mo) {
        const int64_t g = mo / mg;
        double* yp = out.data() + (n * m + mo) * osp;
        for (int64_t p = 0; p < osp; ++p) yp[p] = b.empty() ? 0.0 : b[static_cast<size_t>(mo)];
        for (int64_t ci = 0; ci < cg; ++ci) {
          for (int64_t k = 0; k < ksz; ++k) {
            const double wv = w[static_cast<size_t>((mo * cg + ci) * ksz + k)];
            const double* cp = col.data() + ((g * cg + ci) * ksz + k) * osp;
            for (int64_t p = 0; p < osp; ++p) yp[p] += wv * cp[p];
          }
        }
      }
    });
  }
  write_doubles(*y, out);
  return Status::ok();
}

// Col2Im: sum each column (block) back into its image window.
Status col2im(KernelContext& ctx) {
  const Tensor& in = *ctx.input(0);
  std::vector<int64_t> image = to_int64_vector(*ctx.input(1)), block = to_int64_vector(*ctx.input(2));
  if (in.rank() != 3 || image.size() != block.size() || image.empty())
    return ctx.error("input must be [N, C*prod(block), L] with image_shape/block_shape of equal length");
  const size_t ns = image.size();
  WindowAttrs wa;
  wa.nsp = static_cast<int>(ns);
  wa.kernel = block;
  wa.strides = ctx.node().attr_ints("strides", std::vector<int64_t>(ns, 1));
  wa.dilations = ctx.node().attr_ints("dilations", std::vector<int64_t>(ns, 1));
  wa.pads = ctx.node().attr_ints("pads", std::vector<int64_t>(2 * ns, 0));
  if (wa.strides.size() != ns || wa.dilations.size() != ns || wa.pads.size() != 2 * ns)
    return ctx.error("strides/dilations/pads lengths do not match image_shape");
  for (int64_t v : block)
    if (v <= 0) return ctx.error("block_shape values must be positive");
  for (size_t i = 0; i < ns; ++i)
    if (wa.strides[i] <= 0 || wa.dilations[i] <= 0) return ctx.error("strides/dilations must be positive");
  auto o = window_output(wa, image);
  if (!o) return ctx.error(o.status().message());
  const int64_t bsz = prod_from(block, 0), nblocks = prod_from(o->out, 0), isz = prod_from(image, 0);
  if (in.dim(1) % bsz != 0 || in.dim(2) != nblocks) return ctx.error("input shape does not match the block geometry");
  const int64_t n_batch = in.dim(0), c = in.dim(1) / bsz;
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  std::vector<double> src = read_doubles(in);
  std::vector<double> out(static_cast<size_t>(n_batch * c * isz), 0.0);
  const auto btab = index_table(block);
  ctx.pool().parallel_for(n_batch * c, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> lc(ns);
    for (int64_t nc = begin; nc < end; ++nc) {
      double* op = out.data() + nc * isz;
      const double* ip = src.data() + nc * bsz * nblocks;
      for (int64_t l = 0; l < nblocks; ++l) {
        unflatten(l, o->out, lc.data());
        for (int64_t bk = 0; bk < bsz; ++bk) {
          int64_t off = 0;
          bool inside = true;
          for (size_t d = 0; d < ns; ++d) {
            const int64_t p = lc[d] * wa.strides[d] - wa.pads[d] + btab[static_cast<size_t>(bk)][d] * wa.dilations[d];
            if (p < 0 || p >= image[d]) {
              inside = false;
              break;
            }
            off = off * image[d] + p;
          }
          if (inside) op[off] += ip[bk * nblocks + l];
        }
      }
    }
  });
  write_doubles(*y, out);
  return Status::ok();
}

}  // namespace

void register_conv_kernels(KernelRegistry& r) {
  r.add("", "Conv", conv_factory(false));
  r.add("", "ConvTranspose", conv_factory(true));
  r.add_fn("", "DeformConv", deform_conv);
  r.add_fn("", "Col2Im", col2im);
}

}  // namespace ferry
