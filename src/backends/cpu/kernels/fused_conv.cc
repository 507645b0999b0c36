// fused_conv.cc — CPU kernel of ferry.FusedConv (schema and semantics: src/ops/fused_conv.cc).
//
// float32 runs on oneDNN (conv_dnnl.cc) with Z and the activation as post-ops, so the whole
// Conv (+ Add) (+ activation) chain is one pass over memory; in channels_last mode the primitive reads and writes
// the NHWC tensors directly. The reference below (plain loops, double accumulation) is the oracle the tests
// compare against and the fallback when oneDNN rejects a case (or FERRY_DNNL=0).
#include <algorithm>
#include <cmath>
#include <memory>

#include "backends/cpu/kernel.h"
#include "backends/cpu/kernels/conv_dnnl.h"
#include "backends/cpu/kernels/conv_dw_nhwc.h"
#include "backends/cpu/kernels/dnnl_util.h"
#include "ops/conv_geometry.h"

namespace ferry {

namespace {

struct ActSpec {
  ConvAct act = ConvAct::kNone;
  float alpha = 0, beta = 0;
  bool z_after = false;  // z_after_activation: Y = act(conv + B) + Z
};

Expected<ActSpec> parse_act(const Node& n) {
  const std::string a = n.attr_string("activation", "none");
  const std::vector<float> p = n.attr_floats("activation_params");
  ActSpec s;
  if (a == "none") s.act = ConvAct::kNone;
  else if (a == "relu") s.act = ConvAct::kRelu;
  else if (a == "sigmoid") s.act = ConvAct::kSigmoid;
  else if (a == "silu") s.act = ConvAct::kSilu;
  else if (a == "hardswish") s.act = ConvAct::kHardSwish;
  else if (a == "tanh") s.act = ConvAct::kTanh;
  else if (a == "leaky_relu" && p.size() == 1) s = {ConvAct::kLeakyRelu, p[0], 0};
  else if (a == "clip" && p.size() == 2) s = {ConvAct::kClip, p[0], p[1]};
  else return invalid_argument("node " + n.display_name() + ": bad activation '" + a + "' or activation_params");
  const int64_t z_after = n.attr_int("z_after_activation", 0);
  if (z_after != 0 && z_after != 1)
    return invalid_argument("node " + n.display_name() + ": z_after_activation must be 0 or 1");
  s.z_after = z_after == 1;
  return s;
}

double apply_act(const ActSpec& s, double v) {
  switch (s.act) {
    case ConvAct::kNone: return v;
    case ConvAct::kRelu: return v > 0 ? v : 0;
    case ConvAct::kLeakyRelu: return v < 0 ? v * s.alpha : v;
    case ConvAct::kClip: return std::min<double>(std::max<double>(v, s.alpha), s.beta);
    case ConvAct::kSigmoid: return 1.0 / (1.0 + std::exp(-v));
    case ConvAct::kSilu: return v / (1.0 + std::exp(-v));
    case ConvAct::kHardSwish: return v * std::clamp(v / 6.0 + 0.5, 0.0, 1.0);
    case ConvAct::kTanh: return std::tanh(v);
  }
  return v;
}

// Element strides of a logical [N, C, D, H, W] view of an NC(D)(H)W or NHWC tensor (missing spatial dims = 1).
struct View {
  int64_t n, c, d, h, w;  // sizes
  int64_t sn, sc, sd, sh, sw;
  int64_t at(int64_t in, int64_t ic, int64_t id, int64_t ih, int64_t iw) const {
    return in * sn + ic * sc + id * sd + ih * sh + iw * sw;
  }
};

View make_view(const Shape& nchw, bool channels_last) {
  std::vector<int64_t> sp(nchw.begin() + 2, nchw.end());
  while (sp.size() < 3) sp.insert(sp.begin(), 1);
  View v{nchw[0], nchw[1], sp[0], sp[1], sp[2], 0, 0, 0, 0, 0};
  if (channels_last) {  // [N, H, W, C] (2-D only, d = 1)
    v.sc = 1;
    v.sw = v.c;
    v.sh = v.c * v.w;
    v.sd = v.sh * v.h;
    v.sn = v.sd;
  } else {
    v.sw = 1;
    v.sh = v.w;
    v.sd = v.h * v.w;
    v.sc = v.d * v.sd;
    v.sn = v.c * v.sc;
  }
  return v;
}

// Logical NCHW geometry of one run.
struct FusedGeom {
  Shape x, w, y;  // NC... order
  int64_t group = 1;
  std::vector<int64_t> strides, dilations, pads_begin, pads_end;
};

Expected<FusedGeom> fused_geometry(KernelContext& ctx, bool cl, bool any_nhwc) {
  const Tensor& x = *ctx.input(0);
  const Tensor& w = *ctx.input(1);
  const int nsp = w.rank() - 2;
  if (nsp < 1 || nsp > 3 || x.rank() != w.rank() || (any_nhwc && nsp != 2))
    return ctx.error("X " + shape_to_string(x.shape()) + " and W " + shape_to_string(w.shape()) + " do not match");
  FusedGeom g;
  g.x = cl ? Shape{x.dim(0), x.dim(3), x.dim(1), x.dim(2)} : x.shape();
  g.w = w.shape();
  g.group = ctx.node().attr_int("group", 1);
  if (g.group <= 0 || g.x[1] != w.dim(1) * g.group || w.dim(0) % g.group != 0)
    return ctx.error("channel counts of X " + shape_to_string(x.shape()) + " and W " + shape_to_string(w.shape()) +
                     " do not match group " + std::to_string(g.group));
  std::vector<int64_t> k(w.shape().begin() + 2, w.shape().end());
  auto wa = WindowAttrs::parse(ctx.node(), nsp, k);
  if (!wa) return ctx.error(wa.status().message());
  auto wo = window_output(*wa, std::vector<int64_t>(g.x.begin() + 2, g.x.end()));
  if (!wo) return ctx.error(wo.status().message());
  g.y = {g.x[0], w.dim(0)};
  g.y.insert(g.y.end(), wo->out.begin(), wo->out.end());
  g.strides = wa->strides;
  g.dilations = wa->dilations;
  g.pads_begin.assign(wo->pads.begin(), wo->pads.begin() + nsp);
  g.pads_end.assign(wo->pads.begin() + nsp, wo->pads.end());
  return g;
}

// The oracle: direct convolution in double, then + Z and the activation (in the order act.z_after says).
void fused_conv_reference(const FusedGeom& g, bool x_cl, bool y_cl, const ActSpec& act, const float* x, const float* w,
                          const float* b, const float* z, float* y) {
  const View xv = make_view(g.x, x_cl), yv = make_view(g.y, y_cl);
  std::vector<int64_t> k(g.w.begin() + 2, g.w.end()), s = g.strides, dl = g.dilations, p = g.pads_begin;
  while (k.size() < 3) {
    k.insert(k.begin(), 1);
    s.insert(s.begin(), 1);
    dl.insert(dl.begin(), 1);
    p.insert(p.begin(), 0);
  }
  const int64_t cpg = g.x[1] / g.group, mpg = g.y[1] / g.group;
  for (int64_t n = 0; n < yv.n; ++n)
    for (int64_t m = 0; m < yv.c; ++m) {
      const int64_t grp = m / mpg;
      for (int64_t od = 0; od < yv.d; ++od)
        for (int64_t oh = 0; oh < yv.h; ++oh)
          for (int64_t ow = 0; ow < yv.w; ++ow) {
            double acc = b ? b[m] : 0.0;
            for (int64_t c = 0; c < cpg; ++c)
              for (int64_t kd = 0; kd < k[0]; ++kd) {
                const int64_t id = od * s[0] - p[0] + kd * dl[0];
                if (id < 0 || id >= xv.d) continue;
                for (int64_t kh = 0; kh < k[1]; ++kh) {
                  const int64_t ih = oh * s[1] - p[1] + kh * dl[1];
                  if (ih < 0 || ih >= xv.h) continue;
                  for (int64_t kw = 0; kw < k[2]; ++kw) {
                    const int64_t iw = ow * s[2] - p[2] + kw * dl[2];
                    if (iw < 0 || iw >= xv.w) continue;
                    const double wv = w[(((m * cpg + c) * k[0] + kd) * k[1] + kh) * k[2] + kw];
                    acc += wv * x[xv.at(n, grp * cpg + c, id, ih, iw)];
                  }
                }
              }
            const int64_t yi = yv.at(n, m, od, oh, ow);
            if (z && !act.z_after) acc += z[yi];
            acc = apply_act(act, acc);
            if (z && act.z_after) acc += z[yi];
            y[yi] = static_cast<float>(acc);
          }
    }
}

class FusedConvKernel : public CpuKernel {
 public:
  FusedConvKernel(ActSpec act, int channels_last, bool use_dnnl) : act_(act), mode_(channels_last) {
    if (use_dnnl) dnnl_ = std::make_unique<DnnlConv>();
  }

  Status run(KernelContext& ctx) override {
    const Tensor& x = *ctx.input(0);
    const Tensor& w = *ctx.input(1);
    const Tensor* b = ctx.input(2);
    const Tensor* z = ctx.input(3);
    if (x.dtype() != DType::kFloat || w.dtype() != DType::kFloat || (b && b->dtype() != DType::kFloat) ||
        (z && z->dtype() != DType::kFloat))
      return ctx.error("inputs must be float32");
    const bool x_cl = mode_ == 1 || mode_ == 3, y_cl = mode_ == 1 || mode_ == 2;
    FERRY_ASSIGN_OR_RETURN(FusedGeom g, fused_geometry(ctx, x_cl, mode_ != 0));
    if (b && b->numel() != g.y[1]) return ctx.error("bias has " + std::to_string(b->numel()) + " elements");
    FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
    if (y->numel() != shape_numel(g.y)) return internal_error("node " + ctx.node().display_name() + ": bad Y shape");
    if (z && z->shape() != y->shape())
      return ctx.error("Z shape " + shape_to_string(z->shape()) + " differs from Y " + shape_to_string(y->shape()));
    if (y->numel() == 0) return Status::ok();
    if (dnnl_ && x.numel() > 0 && mode_ == 1 && !z && g.w.size() == 4 && g.group == g.x[1] && g.y[1] == g.x[1] &&
        g.w[2] == g.w[3] && g.strides[0] == g.strides[1] && g.dilations[0] == 1 && g.dilations[1] == 1 &&
        dw_enabled()) {  // depthwise NHWC, opt-in (FERRY_DW_NHWC=1): conv_dw_nhwc.h
      const DwConvShape s{g.x[0], g.x[2], g.x[3], g.x[1], g.y[2], g.y[3], g.w[2], g.strides[0], g.pads_begin[0],
                          g.pads_begin[1]};
      if (DwConvNhwc::supports(s, act_.act)) {
        dw_.run(s, act_.act, act_.alpha, act_.beta, x.data<float>(), w, b ? b->data<float>() : nullptr,
                y->data<float>(), ctx.pool().threads());
        return Status::ok();
      }
    }
    if (dnnl_ && x.numel() > 0) {
      DnnlConvGeom dg{false, g.group, g.x, g.w, g.y, g.strides, g.dilations, g.pads_begin, g.pads_end,
                      b != nullptr, mode_ != 0, mode_ == 2, mode_ == 3, z != nullptr, z != nullptr && act_.z_after,
                      act_.act, act_.alpha, act_.beta};
      if (dnnl_->run(dg, x, w, b, *y, ctx.pool().threads(), z)) return Status::ok();
    }
    fused_conv_reference(g, x_cl, y_cl, act_, x.data<float>(), w.data<float>(), b ? b->data<float>() : nullptr,
                         z ? z->data<float>() : nullptr, y->data<float>());
    return Status::ok();
  }

 private:
  ActSpec act_;
  int mode_;  // channels_last attribute: 0 NCHW, 1 NHWC, 2 NCHW in / NHWC out, 3 NHWC in / NCHW out
  std::unique_ptr<DnnlConv> dnnl_;
  DwConvNhwc dw_;
};

}  // namespace

void register_fused_conv_kernels(KernelRegistry& r) {
  r.add("ferry", "FusedConv", [](const Node& n) -> Expected<std::unique_ptr<CpuKernel>> {
    FERRY_ASSIGN_OR_RETURN(ActSpec act, parse_act(n));
    return std::unique_ptr<CpuKernel>(new FusedConvKernel(act, static_cast<int>(n.attr_int("channels_last", 0)), dnnl_enabled()));
  });
}

}  // namespace ferry
