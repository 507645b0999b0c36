// qconv.cc — CPU kernel of ferry.QConv (schema and semantics: src/ops/qconv.cc).
//
// oneDNN runs it as a u8/s8 x s8 convolution with int32 accumulation (AVX512-VNNI / brgemm kernels on this CPU);
// the whole requantization is folded into the primitive's attributes:
//   output scales  x_scale * w_scale[m] (/ y_scale for a quantized Y), per output channel;
//   bias           B[m] / (x_scale * w_scale[m]) (oneDNN 2.x adds the bias before the output scales);
//   src zero point x_zp, dst zero point y_zp;
//   post-ops       sum (the residual Z, float Y), then relu or clip (bounds / y_scale for a quantized Y).
// A float residual Z with a quantized Y cannot ride on sum (it accumulates in Y's type): there the output scales
// stop at x_scale * w_scale[m], Z comes in as a full-tensor binary add, the activation takes float bounds, and an
// eltwise linear 1 / y_scale ends the post-ops, so Z is added in float before the rounding as the QDQ graph does
// (v * (1 / y_scale) instead of v / y_scale: at most one step apart on exact ties).
// With x_nchw=1 (a channels-last region's entry) X arrives NCHW: a oneDNN reorder built with the primitive
// writes it NHWC into a buffer the kernel owns (allocated at build, reused by every run), so the graph needs no
// Transpose node there and the conv sees exactly the same int8 values.
// oneDNN rounds half to even and saturates on the final conversion, as QuantizeLinear does. The primitive and the
// reordered (prepacked) weights are built on the first run and kept while the input shape and the constant
// inputs' buffers stay the same. When oneDNN rejects a case (or FERRY_DNNL=0), the reference below runs: the QDQ
// graph's arithmetic in double, then QuantizeLinear's rounding in float — also the oracle of the tests.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>

#include "backends/cpu/kernel.h"
#include "backends/cpu/kernels/dnnl_util.h"
#include "ops/conv_geometry.h"

namespace ferry {

namespace {

using dnnl::memory;
using Tag = memory::format_tag;

struct QParams {
  float sx = 1, sy = 1;
  int32_t zx = 0, zy = 0;
  std::vector<float> sw;  // [M] (a per-tensor scale is repeated)
  bool quant_out = false;
  DType out = DType::kFloat;
};

struct QGeom {
  int64_t n = 0, c = 0, h = 0, w = 0, m = 0, oh = 0, ow = 0, kh = 0, kw = 0, group = 1;
  int64_t sh = 1, sw = 1, dh = 1, dw = 1, pt = 0, pl = 0, pb = 0, pr = 0;
  bool operator==(const QGeom&) const = default;
};

int32_t int_scalar(const Tensor* t) {
  if (!t || t->numel() < 1) return 0;
  return t->dtype() == DType::kUInt8 ? static_cast<int32_t>(*t->data<uint8_t>())
                                     : static_cast<int32_t>(*t->data<int8_t>());
}

class QConvKernel : public CpuKernel {
 public:
  explicit QConvKernel(const Node& n)
      : cl_(n.attr_int("channels_last", 0) == 1), xcl_(cl_ && n.attr_int("x_nchw", 0) == 0),
        act_(n.attr_string("activation", "none")),
        act_params_(n.attr_floats("activation_params")) {}

  Status run(KernelContext& ctx) override {
    const Tensor& x = *ctx.input(0);
    const Tensor& w = *ctx.input(3);
    const Tensor* b = ctx.input(5);
    const Tensor* z = ctx.input(8);
    // Scales and zero points are constants (fuse_qdq_conv only folds initializers): read them when their
    // buffers change, not on every run (no allocation in the steady state).
    std::array<const void*, 5> keys{};
    for (size_t k = 0; k < keys.size(); ++k) {
      const Tensor* t = ctx.input(kParamInputs[k]);
      keys[k] = t ? t->raw_data() : nullptr;
    }
    std::unique_lock<std::mutex> lock(mu_);
    if (!q_ready_ || keys != q_keys_) {
      q_ready_ = false;
      FERRY_ASSIGN_OR_RETURN(q_, params(ctx));
      q_keys_ = keys;
      q_ready_ = true;
      built_ = false;
    }
    const QParams& q = q_;
    FERRY_ASSIGN_OR_RETURN(QGeom g, geometry(ctx));
    if (b && (b->dtype() != DType::kFloat || b->numel() != g.m)) return ctx.error("B must be float [M]");
    FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
    if (z && (z->dtype() != DType::kFloat || z->numel() != y->numel())) return ctx.error("Z must be float like Y");
    if (dnnl_enabled() && run_dnnl(ctx, g, q, x, w, b, z, *y)) return Status::ok();
    reference(g, q, x, w, b, z, *y);
    return Status::ok();
  }

 private:
  bool cl_;
  bool xcl_;  // X's own layout is NHWC (false: NCHW, reordered to cl_'s layout before the conv when cl_)
  std::string act_;
  std::vector<float> act_params_;
  // oneDNN state, built on first use (see the top comment).
  static constexpr int kParamInputs[5] = {1, 2, 4, 6, 7};
  std::mutex mu_;  // one kernel may run from several threads (concurrent requests on a session)
  bool q_ready_ = false;
  QParams q_;
  std::array<const void*, 5> q_keys_{};
  bool built_ = false, failed_ = false;
  QGeom geom_;
  const void *key_w_ = nullptr, *key_b_ = nullptr;
  DType key_xt_ = DType::kUndefined;
  dnnl::primitive prim_;
  bool z_bin_ = false;  // Z rides on a binary post-op (quantized Y), not on sum
  memory::desc src_md_, dst_md_, x_md_, z_md_;  // x_md_: X as given (differs from src_md_ with x_nchw)
  memory w_mem_, b_mem_, xr_mem_;        // xr_mem_: the NHWC copy of an NCHW X
  memory scratch_mem_;                    // own scratchpad: sessions running at once must not share oneDNN's
  dnnl::primitive x_reorder_;
  dnnl::stream stream_;

  Expected<QParams> params(KernelContext& ctx) const {
    QParams q;
    const Tensor* sx = ctx.input(1);
    const Tensor* sw = ctx.input(4);
    const Tensor* sy = ctx.input(6);
    const int64_t m = ctx.input(3)->dim(0);
    if (!sx || sx->dtype() != DType::kFloat || sx->numel() != 1) return ctx.error("x_scale must be a float scalar");
    if (!sw || sw->dtype() != DType::kFloat || (sw->numel() != 1 && sw->numel() != m))
      return ctx.error("w_scale must be a float scalar or [M]");
    q.sx = *sx->data<float>();
    q.zx = int_scalar(ctx.input(2));
    for (int64_t i = 0; i < m; ++i) q.sw.push_back(sw->data<float>()[sw->numel() == 1 ? 0 : i]);
    if (sy) {
      if (sy->dtype() != DType::kFloat || sy->numel() != 1) return ctx.error("y_scale must be a float scalar");
      q.sy = *sy->data<float>();
      q.zy = int_scalar(ctx.input(7));
      q.quant_out = true;
      q.out = ctx.input(7)->dtype();
    }
    if (!(q.sx > 0) || !(q.sy > 0)) return ctx.error("scales must be positive");
    return q;
  }

  Expected<QGeom> geometry(KernelContext& ctx) const {
    const Tensor& x = *ctx.input(0);
    const Tensor& w = *ctx.input(3);
    if (x.rank() != 4 || w.rank() != 4 || w.dtype() != DType::kInt8 ||
        (x.dtype() != DType::kInt8 && x.dtype() != DType::kUInt8))
      return ctx.error("X " + shape_to_string(x.shape()) + " / W " + shape_to_string(w.shape()) +
                       " must be 4-D 8-bit tensors");
    QGeom g;
    g.n = x.dim(0);
    g.c = xcl_ ? x.dim(3) : x.dim(1);
    g.h = xcl_ ? x.dim(1) : x.dim(2);
    g.w = xcl_ ? x.dim(2) : x.dim(3);
    g.m = w.dim(0);
    g.kh = w.dim(2);
    g.kw = w.dim(3);
    g.group = ctx.node().attr_int("group", 1);
    if (g.group <= 0 || g.c != w.dim(1) * g.group || g.m % g.group != 0) return ctx.error("channels do not match W");
    auto wa = WindowAttrs::parse(ctx.node(), 2, {g.kh, g.kw});
    if (!wa) return ctx.error(wa.status().message());
    auto wo = window_output(*wa, {g.h, g.w});
    if (!wo) return ctx.error(wo.status().message());
    g.oh = wo->out[0];
    g.ow = wo->out[1];
    g.sh = wa->strides[0];
    g.sw = wa->strides[1];
    g.dh = wa->dilations[0];
    g.dw = wa->dilations[1];
    g.pt = wo->pads[0];
    g.pl = wo->pads[1];
    g.pb = wo->pads[2];
    g.pr = wo->pads[3];
    return g;
  }

  float act_lo(const QParams& q) const { return act_ == "relu" ? 0.f : act_params_[0] / q.sy; }
  float act_hi(const QParams& q) const { return act_params_[1] / q.sy; }

  void build(const QGeom& g, const QParams& q, DType xt, const Tensor& w, const Tensor* b, bool has_z) {
    const auto& eng = dnnl_cpu_engine();
    const Tag plain = cl_ ? Tag::nhwc : Tag::nchw;
    const auto dt = [](DType t) {
      return t == DType::kUInt8 ? memory::data_type::u8
                                : t == DType::kInt8 ? memory::data_type::s8 : memory::data_type::f32;
    };
    src_md_ = memory::desc({g.n, g.c, g.h, g.w}, dt(xt), plain);
    dst_md_ = memory::desc({g.n, g.m, g.oh, g.ow}, dt(q.out), plain);
    x_md_ = memory::desc({g.n, g.c, g.h, g.w}, dt(xt), xcl_ || !cl_ ? plain : Tag::nchw);
    if (x_md_ != src_md_) {
      xr_mem_ = memory(src_md_, eng);
      x_reorder_ = dnnl::reorder(dnnl::reorder::primitive_desc(eng, x_md_, eng, src_md_));
    }
    memory::dims wd = g.group == 1 ? memory::dims{g.m, g.c, g.kh, g.kw}
                                   : memory::dims{g.group, g.m / g.group, g.c / g.group, g.kh, g.kw};
    memory::desc user_w(wd, memory::data_type::s8, g.group == 1 ? Tag::oihw : Tag::goihw);
    memory::desc w_any(wd, memory::data_type::s8, Tag::any);
    memory::desc b_md({g.m}, memory::data_type::f32, Tag::x);
    std::vector<float> scales(static_cast<size_t>(g.m));
    const bool z_bin = has_z && q.quant_out;  // float Z into a quantized Y: binary add, then scale by 1 / y_scale
    const bool scaled = q.quant_out && !z_bin;  // output scales already divide by y_scale
    for (size_t i = 0; i < scales.size(); ++i) scales[i] = q.sx * q.sw[i] / (scaled ? q.sy : 1.f);
    dnnl::primitive_attr attr;
    attr.set_output_scales(2, scales);
    if (q.zx != 0) attr.set_zero_points(DNNL_ARG_SRC, 0, {q.zx});
    if (q.zy != 0) attr.set_zero_points(DNNL_ARG_DST, 0, {q.zy});
    dnnl::post_ops po;
    z_md_ = memory::desc({g.n, g.m, g.oh, g.ow}, memory::data_type::f32, plain);
    if (z_bin) po.append_binary(dnnl::algorithm::binary_add, z_md_);
    else if (has_z) po.append_sum(1.f);
    const float lo = act_ == "none" ? 0.f : act_ == "relu" ? 0.f : scaled ? act_lo(q) : act_params_[0];
    if (act_ == "relu") po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    if (act_ == "clip")
      po.append_eltwise(1.f, dnnl::algorithm::eltwise_clip, lo, scaled ? act_hi(q) : act_params_[1]);
    if (z_bin) po.append_eltwise(1.f, dnnl::algorithm::eltwise_linear, 1.f / q.sy, 0.f);
    z_bin_ = z_bin;
    attr.set_post_ops(po);
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                      src_md_, w_any, b_md, dst_md_, {g.sh, g.sw}, {g.dh - 1, g.dw - 1},
                                      {g.pt, g.pl}, {g.pb, g.pr});
    dnnl::convolution_forward::primitive_desc pd(d, attr, eng);
    prim_ = dnnl::convolution_forward(pd);
    scratch_mem_ = memory(pd.scratchpad_desc(), eng);
    if (!stream_) stream_ = dnnl::stream(eng);
    memory uw(user_w, eng, const_cast<void*>(w.raw_data()));
    w_mem_ = memory(pd.weights_desc(), eng);
    dnnl::reorder(uw, w_mem_).execute(stream_, uw, w_mem_);
    b_mem_ = memory(b_md, eng);
    float* bp = static_cast<float*>(b_mem_.get_data_handle());
    for (int64_t i = 0; i < g.m; ++i)
      bp[i] = b ? b->data<float>()[i] / (q.sx * q.sw[static_cast<size_t>(i)]) : 0.f;
    stream_.wait();
  }

  bool run_dnnl(KernelContext& ctx, const QGeom& g, const QParams& q, const Tensor& x, const Tensor& w,
                const Tensor* b, const Tensor* z, Tensor& y) {
    const bool same = built_ && geom_ == g && key_w_ == w.raw_data() &&
                      key_b_ == (b ? b->raw_data() : nullptr) && key_xt_ == x.dtype();
    try {
      dnnl_set_threads(ctx.pool().threads());
      if (!same) {
        if (failed_ && geom_ == g) return false;
        built_ = false;
        failed_ = true;
        geom_ = g;
        build(g, q, x.dtype(), w, b, z != nullptr);
        key_w_ = w.raw_data();
        key_b_ = b ? b->raw_data() : nullptr;
        key_xt_ = x.dtype();
        failed_ = false;
        built_ = true;
      }
      const auto& eng = dnnl_cpu_engine();
      if (z && !z_bin_ && z->raw_data() != y.raw_data()) std::memcpy(y.raw_data(), z->raw_data(), y.nbytes());
      memory src(x_md_, eng, const_cast<void*>(x.raw_data()));
      if (x_md_ != src_md_) {
        x_reorder_.execute(stream_, {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, xr_mem_}});
        src = xr_mem_;
      }
      memory dst(dst_md_, eng, y.raw_data());
      if (z_bin_) {
        memory zm(z_md_, eng, const_cast<void*>(z->raw_data()));
        prim_.execute(stream_, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w_mem_}, {DNNL_ARG_BIAS, b_mem_},
                                {DNNL_ARG_DST, dst}, {DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, zm},
                                {DNNL_ARG_SCRATCHPAD, scratch_mem_}});
      } else {
        prim_.execute(stream_, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w_mem_}, {DNNL_ARG_BIAS, b_mem_},
                                {DNNL_ARG_DST, dst}, {DNNL_ARG_SCRATCHPAD, scratch_mem_}});
      }
      stream_.wait();
      return true;
    } catch (const std::exception&) {
      built_ = false;
      return false;
    }
  }

  // The QDQ graph's arithmetic: dequantize, convolve in double, + B + Z, activation, then QuantizeLinear.
  void reference(const QGeom& g, const QParams& q, const Tensor& x, const Tensor& w, const Tensor* b,
                 const Tensor* z, Tensor& y) const {
    const bool xu8 = x.dtype() == DType::kUInt8;
    const auto xat = [&](int64_t n, int64_t c, int64_t h, int64_t ww) -> double {
      const int64_t i = xcl_ ? ((n * g.h + h) * g.w + ww) * g.c + c : ((n * g.c + c) * g.h + h) * g.w + ww;
      return static_cast<double>((xu8 ? x.data<uint8_t>()[i] : x.data<int8_t>()[i]) - q.zx);
    };
    const int8_t* wp = w.data<int8_t>();
    const int64_t cpg = g.c / g.group, mpg = g.m / g.group;
    for (int64_t n = 0; n < g.n; ++n)
      for (int64_t m = 0; m < g.m; ++m)
        for (int64_t oh = 0; oh < g.oh; ++oh)
          for (int64_t ow = 0; ow < g.ow; ++ow) {
            double acc = 0;
            for (int64_t c = 0; c < cpg; ++c)
              for (int64_t kh = 0; kh < g.kh; ++kh) {
                const int64_t ih = oh * g.sh - g.pt + kh * g.dh;
                if (ih < 0 || ih >= g.h) continue;
                for (int64_t kw = 0; kw < g.kw; ++kw) {
                  const int64_t iw = ow * g.sw - g.pl + kw * g.dw;
                  if (iw < 0 || iw >= g.w) continue;
                  acc += xat(n, m / mpg * cpg + c, ih, iw) * wp[((m * cpg + c) * g.kh + kh) * g.kw + kw];
                }
              }
            const int64_t yi = cl_ ? ((n * g.oh + oh) * g.ow + ow) * g.m + m : ((n * g.m + m) * g.oh + oh) * g.ow + ow;
            double v = acc * q.sx * q.sw[static_cast<size_t>(m)] + (b ? b->data<float>()[m] : 0.0);
            if (z) v += z->data<float>()[yi];
            if (act_ == "relu") v = std::max(v, 0.0);
            if (act_ == "clip") v = std::min<double>(std::max<double>(v, act_params_[0]), act_params_[1]);
            if (!q.quant_out) {
              y.data<float>()[yi] = static_cast<float>(v);
              continue;
            }
            const double lo = q.out == DType::kUInt8 ? 0 : -128, hi = q.out == DType::kUInt8 ? 255 : 127;
            const double r = std::clamp(static_cast<double>(std::nearbyint(static_cast<float>(v) / q.sy)) + q.zy, lo, hi);
            if (q.out == DType::kUInt8) y.data<uint8_t>()[yi] = static_cast<uint8_t>(r);
            else y.data<int8_t>()[yi] = static_cast<int8_t>(r);
          }
  }
};

}  // namespace

void register_qconv_kernels(KernelRegistry& r) {
  r.add("ferry", "QConv", [](const Node& n) -> Expected<std::unique_ptr<CpuKernel>> {
    return std::unique_ptr<CpuKernel>(std::make_unique<QConvKernel>(n));
  });
}

}  // namespace ferry
