// quant_gemm.cc — CPU reference kernels of the integer matmul/conv ops of the quant family:
// MatMulInteger, QLinearMatMul, ConvInteger, QLinearConv. Accumulation is int32 (int64 internally, so it
// cannot overflow here); requantization follows the ONNX reference: acc * (s_a * s_b / s_y) with the scale
// product computed in the scales' precision, rounded half to even, plus the output zero point, saturated.
#include <cmath>

#include "backends/cpu/kernel.h"
#include "backends/cpu/kernels/quant_util.h"
#include "core/dtype_dispatch.h"
#include "ops/quant_util.h"

namespace ferry {
namespace {

std::vector<int64_t> int_values(const Tensor& t) {
  std::vector<int64_t> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = static_cast<int64_t>(load_double(t, i));
  return v;
}

// A quantization parameter of a matmul operand: per tensor, per row (a) / per column (b), optionally per batch.
struct MatParam {
  std::vector<double> v;
  int64_t per = 1;  // M for a (rows), N for b (columns); 1 = per tensor
  double at(int64_t batch, int64_t idx) const {
    if (v.size() == 1) return v[0];
    size_t i = static_cast<size_t>(batch * per + idx);
    return v[i % v.size()];
  }
};

Expected<MatParam> mat_param(const Tensor* t, int64_t per, int64_t batches, const char* what) {
  MatParam p;
  if (!t) {
    p.v = {0.0};
    return p;
  }
  p.v = to_double_vector(*t);
  p.per = per;
  int64_t n = t->numel();
  if (n == 1) return p;
  if (n != per && n != per * batches)
    return invalid_argument(std::string(what) + " has " + std::to_string(n) + " elements; expected 1, " +
                            std::to_string(per) + " or " + std::to_string(per * batches));
  return p;
}

// Integer batched matmul: out[b, m, n] = sum_k (a - azp) (b - bzp), with numpy broadcasting of batch dims.
struct IntMatmul {
  Shape out_shape;
  int64_t M = 1, K = 1, N = 1, batches = 1;
  std::vector<int64_t> a_off, b_off;  // per output batch: offsets of the a/b matrices
  std::vector<int64_t> a_batch, b_batch;  // per output batch: the batch index within a/b
};

Expected<IntMatmul> plan_matmul(const Shape& a, const Shape& b) {
  IntMatmul p;
  FERRY_ASSIGN_OR_RETURN(p.out_shape, matmul_shape(a, b));
  Shape A = a, B = b;
  if (A.size() == 1) A.insert(A.begin(), 1);
  if (B.size() == 1) B.push_back(1);
  p.M = A[A.size() - 2];
  p.K = A.back();
  p.N = B.back();
  size_t ba = A.size() - 2, bb = B.size() - 2, nb = std::max(ba, bb);
  Shape bshape(nb);
  for (size_t i = 0; i < nb; ++i) {
    int64_t da = i + ba >= nb ? A[i + ba - nb] : 1, db = i + bb >= nb ? B[i + bb - nb] : 1;
    bshape[i] = da == 1 ? db : da;
  }
  p.batches = shape_numel(bshape);
  for (int64_t o = 0; o < p.batches; ++o) {
    int64_t rem = o, ia = 0, ib = 0, sa = 1, sb = 1;
    for (size_t i = nb; i-- > 0;) {
      int64_t idx = rem % bshape[i];
      rem /= bshape[i];
      if (i + ba >= nb) {
        int64_t d = A[i + ba - nb];
        ia += (d == 1 ? 0 : idx) * sa;
        sa *= d;
      }
      if (i + bb >= nb) {
        int64_t d = B[i + bb - nb];
        ib += (d == 1 ? 0 : idx) * sb;
        sb *= d;
      }
    }
    p.a_batch.push_back(ia);
    p.b_batch.push_back(ib);
    p.a_off.push_back(ia * p.M * p.K);
    p.b_off.push_back(ib * p.K * p.N);
  }
  return p;
}

Status run_int_matmul(KernelContext& ctx, const Tensor& a, const Tensor& b, const Tensor* azp_t, const Tensor* bzp_t,
                      IntMatmul& p, std::vector<int64_t>& acc, MatParam* azp_out = nullptr,
                      MatParam* bzp_out = nullptr) {
  int64_t a_batches = a.rank() > 2 ? shape_numel(Shape(a.shape().begin(), a.shape().end() - 2)) : 1;
  int64_t b_batches = b.rank() > 2 ? shape_numel(Shape(b.shape().begin(), b.shape().end() - 2)) : 1;
  auto azp = mat_param(azp_t, p.M, a_batches, "a zero point");
  if (!azp) return ctx.error(azp.status().message());
  auto bzp = mat_param(bzp_t, p.N, b_batches, "b zero point");
  if (!bzp) return ctx.error(bzp.status().message());
  std::vector<int64_t> av = int_values(a), bv = int_values(b);
  acc.assign(static_cast<size_t>(p.batches * p.M * p.N), 0);
  ctx.pool().parallel_for(p.batches * p.M, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      int64_t o = r / p.M, m = r % p.M;
      int64_t za = static_cast<int64_t>(azp->at(p.a_batch[static_cast<size_t>(o)], m));
      for (int64_t n = 0; n < p.N; ++n) {
        int64_t zb = static_cast<int64_t>(bzp->at(p.b_batch[static_cast<size_t>(o)], n));
        int64_t s = 0;
        for (int64_t k = 0; k < p.K; ++k)
          s += (av[static_cast<size_t>(p.a_off[static_cast<size_t>(o)] + m * p.K + k)] - za) *
               (bv[static_cast<size_t>(p.b_off[static_cast<size_t>(o)] + k * p.N + n)] - zb);
        acc[static_cast<size_t>(r * p.N + n)] = s;
      }
    }
  });
  return Status::ok();
}

Status matmul_integer(KernelContext& ctx) {
  const Tensor& a = *ctx.input(0);
  const Tensor& b = *ctx.input(1);
  auto p = plan_matmul(a.shape(), b.shape());
  if (!p) return ctx.error(p.status().message());
  std::vector<int64_t> acc;
  FERRY_RETURN_IF_ERROR(run_int_matmul(ctx, a, b, ctx.input(2), ctx.input(3), *p, acc));
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  int32_t* yp = y->data<int32_t>();
  for (size_t i = 0; i < acc.size(); ++i) yp[i] = static_cast<int32_t>(acc[i]);
  return Status::ok();
}

// Stores round(acc * mult + zp) saturated into element i of y.
inline void requantize_store(Tensor& y, int64_t i, double v, double lo, double hi) {
  v = std::nearbyint(v);
  if (std::isnan(v)) v = 0;
  store_double(y, i, std::min(hi, std::max(lo, v)));
}

Status qlinear_matmul(KernelContext& ctx) {
  const Tensor& a = *ctx.input(0);
  const Tensor& b = *ctx.input(3);
  auto p = plan_matmul(a.shape(), b.shape());
  if (!p) return ctx.error(p.status().message());
  std::vector<int64_t> acc;
  FERRY_RETURN_IF_ERROR(run_int_matmul(ctx, a, b, ctx.input(2), ctx.input(5), *p, acc));
  int64_t a_batches = a.rank() > 2 ? shape_numel(Shape(a.shape().begin(), a.shape().end() - 2)) : 1;
  int64_t b_batches = b.rank() > 2 ? shape_numel(Shape(b.shape().begin(), b.shape().end() - 2)) : 1;
  auto as = mat_param(ctx.input(1), p->M, a_batches, "a scale");
  if (!as) return ctx.error(as.status().message());
  auto bs = mat_param(ctx.input(4), p->N, b_batches, "b scale");
  if (!bs) return ctx.error(bs.status().message());
  const Tensor& ys = *ctx.input(6);
  const Tensor& yzp = *ctx.input(7);
  if (ys.numel() != 1 || yzp.numel() != 1) return ctx.error("y_scale and y_zero_point must be per-tensor");
  DType st = ctx.input(1)->dtype();
  double ysv = load_double(ys, 0), yzv = load_double(yzp, 0);
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  auto range = quant_int_range(y->dtype());
  if (!range) return ctx.error(range.status().message());
  for (int64_t o = 0; o < p->batches; ++o)
    for (int64_t m = 0; m < p->M; ++m)
      for (int64_t n = 0; n < p->N; ++n) {
        double sa = as->at(p->a_batch[static_cast<size_t>(o)], m), sb = bs->at(p->b_batch[static_cast<size_t>(o)], n);
        double mult = round_to_precision(round_to_precision(sa * sb, st) / ysv, st);
        int64_t i = (o * p->M + m) * p->N + n;
        requantize_store(*y, i, static_cast<double>(acc[static_cast<size_t>(i)]) * mult + yzv, range->first,
                         range->second);
      }
  return Status::ok();
}

// Integer N-d convolution: acc[n, m, out...] = sum (x - xzp) * (w - wzp[m]) (+ bias[m]); padding adds nothing.
Status run_int_conv(KernelContext& ctx, const Tensor& x, const Tensor& w, const Tensor* xzp, const Tensor* wzp,
                    const ConvGeometry& g, std::vector<int64_t>& acc) {
  if (xzp && xzp->numel() != 1) return ctx.error("x zero point must be a scalar");
  const int64_t M = w.dim(0);
  if (wzp && wzp->numel() != 1 && wzp->numel() != M)
    return ctx.error("w zero point must be a scalar or have one value per output channel");
  std::vector<int64_t> xv = int_values(x), wv = int_values(w);
  int64_t xz = xzp ? static_cast<int64_t>(load_double(*xzp, 0)) : 0;
  for (auto& v : xv) v -= xz;
  const size_t k = g.kernel.size();
  const int64_t cg = w.dim(1), mg = M / g.group, N = x.dim(0), C = x.dim(1);
  int64_t in_sp = 1, out_sp = 1, k_sp = 1;
  for (size_t d = 0; d < k; ++d) {
    in_sp *= x.dim(static_cast<int>(d) + 2);
    out_sp *= g.out[d + 2];
    k_sp *= g.kernel[d];
  }
  for (int64_t m = 0; m < M; ++m) {
    int64_t wz = wzp ? static_cast<int64_t>(load_double(*wzp, wzp->numel() == 1 ? 0 : m)) : 0;
    for (int64_t j = 0; j < cg * k_sp; ++j) wv[static_cast<size_t>(m * cg * k_sp + j)] -= wz;
  }
  acc.assign(static_cast<size_t>(N * M * out_sp), 0);
  ctx.pool().parallel_for(N * M, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> oi(k), ki(k);
    for (int64_t nm = begin; nm < end; ++nm) {
      int64_t n = nm / M, m = nm % M, grp = m / mg;
      for (int64_t o = 0; o < out_sp; ++o) {
        for (size_t d = k, rem = static_cast<size_t>(o); d-- > 0;) {
          oi[d] = static_cast<int64_t>(rem) % g.out[d + 2];
          rem /= static_cast<size_t>(g.out[d + 2]);
        }
        int64_t s = 0;
        for (int64_t kk = 0; kk < k_sp; ++kk) {
          int64_t rem = kk, off = 0;
          bool inside = true;
          for (size_t d = k; d-- > 0;) {
            ki[d] = rem % g.kernel[d];
            rem /= g.kernel[d];
          }
          for (size_t d = 0; d < k; ++d) {
            int64_t pos = oi[d] * g.strides[d] - g.pads_begin[d] + ki[d] * g.dilations[d];
            int64_t dim = x.dim(static_cast<int>(d) + 2);
            if (pos < 0 || pos >= dim) {
              inside = false;
              break;
            }
            off = off * dim + pos;
          }
          if (!inside) continue;
          for (int64_t c = 0; c < cg; ++c) {
            int64_t xc = grp * cg + c;
            s += xv[static_cast<size_t>((n * C + xc) * in_sp + off)] * wv[static_cast<size_t>((m * cg + c) * k_sp + kk)];
          }
        }
        acc[static_cast<size_t>(nm * out_sp + o)] = s;
      }
    }
  });
  return Status::ok();
}

Status conv_integer(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  const Tensor& w = *ctx.input(1);
  auto g = conv_geometry(ctx.node(), x.shape(), w.shape());
  if (!g) return ctx.error(g.status().message());
  std::vector<int64_t> acc;
  FERRY_RETURN_IF_ERROR(run_int_conv(ctx, x, w, ctx.input(2), ctx.input(3), *g, acc));
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  int32_t* yp = y->data<int32_t>();
  for (size_t i = 0; i < acc.size(); ++i) yp[i] = static_cast<int32_t>(acc[i]);
  return Status::ok();
}

Status qlinear_conv(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  const Tensor& w = *ctx.input(3);
  auto g = conv_geometry(ctx.node(), x.shape(), w.shape());
  if (!g) return ctx.error(g.status().message());
  const int64_t M = w.dim(0);
  const Tensor& xs = *ctx.input(1);
  const Tensor& ws = *ctx.input(4);
  const Tensor& ys = *ctx.input(6);
  const Tensor& yzp = *ctx.input(7);
  const Tensor* bias = ctx.input(8);
  if (xs.numel() != 1 || ys.numel() != 1 || yzp.numel() != 1)
    return ctx.error("x_scale, y_scale and y_zero_point must be per-tensor");
  if (ws.numel() != 1 && ws.numel() != M) return ctx.error("w_scale must be a scalar or have one value per channel");
  if (bias && bias->numel() != M) return ctx.error("bias must have one value per output channel");
  std::vector<int64_t> acc;
  FERRY_RETURN_IF_ERROR(run_int_conv(ctx, x, w, ctx.input(2), ctx.input(5), *g, acc));
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  auto range = quant_int_range(y->dtype());
  if (!range) return ctx.error(range.status().message());
  DType st = xs.dtype();
  double xsv = load_double(xs, 0), ysv = load_double(ys, 0), yzv = load_double(yzp, 0);
  int64_t out_sp = shape_numel(Shape(g->out.begin() + 2, g->out.end()));
  for (int64_t i = 0; i < static_cast<int64_t>(acc.size()); ++i) {
    int64_t m = (i / out_sp) % M;
    double wsv = load_double(ws, ws.numel() == 1 ? 0 : m);
    double mult = round_to_precision(round_to_precision(xsv * wsv, st) / ysv, st);
    double a = static_cast<double>(acc[static_cast<size_t>(i)] + (bias ? static_cast<int64_t>(load_double(*bias, m)) : 0));
    requantize_store(*y, i, a * mult + yzv, range->first, range->second);
  }
  return Status::ok();
}

}  // namespace

void register_quant_gemm_kernels(KernelRegistry& r) {
  r.add_fn("", "MatMulInteger", matmul_integer);
  r.add_fn("", "QLinearMatMul", qlinear_matmul);
  r.add_fn("", "ConvInteger", conv_integer);
  r.add_fn("", "QLinearConv", qlinear_conv);
}

}  // namespace ferry
