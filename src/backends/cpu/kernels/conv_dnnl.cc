// conv_dnnl.cc — oneDNN float32 Conv/ConvTranspose; see conv_dnnl.h for the caching contract.
#include "backends/cpu/kernels/conv_dnnl.h"

#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <oneapi/dnnl/dnnl.hpp>

#include "backends/cpu/kernels/conv_act.h"
#include "backends/cpu/kernels/dnnl_util.h"

namespace ferry {
namespace {

using dnnl::memory;
using Tag = dnnl::memory::format_tag;

// Cheap fingerprint of a weight buffer: size plus ~64 sampled floats (weights are normally constants; this
// guards against a reused buffer holding different values).
uint64_t sample_checksum(const Tensor& w) {
  const float* p = w.data<float>();
  const int64_t n = w.numel();
  uint64_t h = 1469598103934665603ull ^ static_cast<uint64_t>(n);
  const int64_t step = n > 64 ? n / 64 : 1;
  for (int64_t i = 0; i < n; i += step) {
    uint32_t bits;
    std::memcpy(&bits, p + i, sizeof(bits));
    h = (h ^ bits) * 1099511628211ull;
  }
  if (n > 0) {
    uint32_t bits;
    std::memcpy(&bits, p + n - 1, sizeof(bits));
    h = (h ^ bits) * 1099511628211ull;
  }
  return h;
}

// Spatial part of a shape; 1-D problems become 2-D with a leading 1 (oneDNN has no 1-D weight tags for deconv).
memory::dims spatial(const Shape& s, int nsp) {
  memory::dims d(s.begin() + 2, s.end());
  if (nsp == 1) d.insert(d.begin(), 1);
  return d;
}
memory::dims lift(const std::vector<int64_t>& v, int nsp, int64_t fill) {
  memory::dims d(v.begin(), v.end());
  if (nsp == 1) d.insert(d.begin(), fill);
  return d;
}

}  // namespace

struct DnnlConv::Impl {
  std::mutex mu;  // one kernel may be run from several threads (concurrent requests on a session)
  bool built = false;
  bool failed = false;  // geometry `geom` was rejected by oneDNN: fall back without retrying
  DnnlConvGeom geom;
  dnnl::primitive prim;
  memory::desc user_src_md, user_dst_md, user_w_md, bias_md;
  memory::desc src_md, dst_md, w_md;
  memory src_mem, dst_mem, w_mem;  // primitive-layout buffers (src/dst only when a reorder is needed)
  // This node's own scratchpad (user mode): with oneDNN's library scratchpad, two sessions running equal convs
  // at once (serve instances, bench --streams) shared the cached primitive's scratch and crashed (Winograd).
  memory scratch_mem;
  // The caller's tensors, wrapped once per build; run() only swaps their data handles, so a steady-state run
  // creates no oneDNN memory objects or argument maps (kernels do not allocate).
  memory user_src, user_dst, user_z, user_bias;
  std::unordered_map<int, memory> conv_args, src_reorder_args, dst_reorder_args, z_reorder_args;
  dnnl::primitive src_reorder, dst_reorder, z_reorder;
  bool need_src_reorder = false, need_dst_reorder = false;
  // Weight cache key.
  bool w_ready = false;
  Tensor w_held;  // keeps the source buffer alive so its address cannot be recycled while cached
  uint64_t w_sum = 0;
  dnnl::stream stream;

  bool winograd = false;  // the primitive is oneDNN's Winograd convolution (blocked activations, reordered)
  // Strided 1x1 conv on NHWC X without padding (ResNet's downsample): X is first subsampled into `sub` (the
  // pixels the conv reads, contiguous) and the primitive is the stride-1 1x1 conv over it. oneDNN's own strided
  // 1x1 path measured 1.3-1.7x slower than that here (512->1024 28x28/2 at batch 1: 2.32 vs 1.77 ms + copy).
  bool subsample = false;
  std::vector<float> sub;  // sized at build: no allocation per run
  // Batched 2-D convs with large outputs run image by image on a batch-1 primitive: the batch-N primitive was
  // slower per image on the large-spatial layers (resnet50 at batch 8, 1 thread, ONEDNN_VERBOSE: 1x1 64->256
  // 56x56 13.5 ms vs 8 x 1.15 ms at batch 1; stem 32.1 vs 8 x 2.6 ms). FERRY_DNNL_PER_IMAGE=0 turns it off.
  int64_t images = 1;  // > 1: the primitive (and reorders) are built for one image and run `images` times

  // Only at 1 thread by default: with more, each image is its own OpenMP fork/join (not yet measured on a quiet
  // box); FERRY_DNNL_PER_IMAGE=1 forces it at any thread count, =0 turns it off.
  int built_threads = 0;
  static int64_t per_image_count(const DnnlConvGeom& g, int threads) {
    const char* v = std::getenv("FERRY_DNNL_PER_IMAGE");
    const bool forced = v && std::strcmp(v, "1") == 0;
    if ((v && std::strcmp(v, "0") == 0) || (threads != 1 && !forced) || g.transpose || g.group != 1 || g.x.size() != 4 || g.x[0] <= 1) return 1;
    return g.y[2] * g.y[3] >= 28 * 28 ? g.x[0] : 1;
  }

  static bool subsample_candidate(const DnnlConvGeom& g) {
    if (!g.channels_last || g.x_nchw || g.transpose || g.x.size() != 4 || g.w[2] != 1 || g.w[3] != 1) return false;
    if (g.strides.size() != 2 || (g.strides[0] == 1 && g.strides[1] == 1)) return false;
    for (auto p : g.pads_begin) if (p != 0) return false;
    for (auto p : g.pads_end) if (p != 0) return false;
    // Output pixel (oh, ow) reads input (oh * sh, ow * sw): the subsampled image is exactly [N, OH, OW, C].
    return (g.y[2] - 1) * g.strides[0] < g.x[2] && (g.y[3] - 1) * g.strides[1] < g.x[3];
  }

  // sub[n, oh, ow, :] = x[n, oh * sh, ow * sw, :] (NHWC).
  void gather_subsampled(const DnnlConvGeom& g, const float* x) {
    const int64_t n = g.x[0], c = g.x[1], h = g.x[2], w = g.x[3], oh = g.y[2], ow = g.y[3];
    const int64_t sh = g.strides[0], sw = g.strides[1];
    float* out = sub.data();
    for (int64_t b = 0; b < n; ++b)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j, out += c)
          std::memcpy(out, x + ((b * h + i * sh) * w + j * sw) * c, static_cast<size_t>(c) * sizeof(float));
  }

  // 3x3, stride 1, dense, one group, channel counts multiple of 16 (oneDNN's f32 Winograd kernels need that):
  // the convolutions Winograd F(2x2|4x4, 3x3) speeds up. FERRY_DNNL_WINOGRAD=0 turns it off.
  static bool winograd_candidate(const DnnlConvGeom& g) {
    const char* v = std::getenv("FERRY_DNNL_WINOGRAD");  // read at each build (rare; tests toggle it)
    if ((v && std::strcmp(v, "0") == 0) || g.transpose || g.group != 1 || g.x.size() != 4 || g.w[2] != 3 || g.w[3] != 3) return false;
    for (auto s : g.strides) if (s != 1) return false;
    for (auto d : g.dilations) if (d != 1) return false;
    return g.x[1] % 16 == 0 && g.y[1] % 16 == 0;
  }

  // SiLU/sigmoid run after the primitive (conv_act.h: oneDNN's own post-ops for them are slow here).
  static bool defers_act(const DnnlConvGeom& g) { return deferred_activation_supported(g.act); }

  // True when the primitive itself adds Z (sum post-op); false when conv_act.h adds it after the activation.
  static bool sum_in_primitive(const DnnlConvGeom& g) { return g.has_sum && !(g.sum_after_act && defers_act(g)); }

  static dnnl::primitive_attr post_op_attr(const DnnlConvGeom& g) {
    dnnl::post_ops po;
    if (sum_in_primitive(g) && !g.sum_after_act) po.append_sum(1.f);
    using A = dnnl::algorithm;
    switch (defers_act(g) ? ConvAct::kNone : g.act) {
      case ConvAct::kNone: break;
      case ConvAct::kRelu: po.append_eltwise(1.f, A::eltwise_relu, 0.f, 0.f); break;
      case ConvAct::kLeakyRelu: po.append_eltwise(1.f, A::eltwise_relu, g.act_alpha, 0.f); break;
      case ConvAct::kClip: po.append_eltwise(1.f, A::eltwise_clip, g.act_alpha, g.act_beta); break;
      case ConvAct::kSigmoid: po.append_eltwise(1.f, A::eltwise_logistic, 0.f, 0.f); break;
      case ConvAct::kSilu: po.append_eltwise(1.f, A::eltwise_swish, 1.f, 0.f); break;
      case ConvAct::kHardSwish: po.append_eltwise(1.f, A::eltwise_hardswish, 1.f / 6.f, 0.5f); break;
      case ConvAct::kTanh: po.append_eltwise(1.f, A::eltwise_tanh, 0.f, 0.f); break;
    }
    if (sum_in_primitive(g) && g.sum_after_act) po.append_sum(1.f);
    dnnl::primitive_attr attr;
    attr.set_post_ops(po);
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    return attr;
  }

  void build(const DnnlConvGeom& g) {
    const auto& eng = dnnl_cpu_engine();
    const int nsp = static_cast<int>(g.x.size()) - 2;
    const Tag plain = g.channels_last ? Tag::nhwc : (nsp == 3 ? Tag::ncdhw : Tag::nchw);
    memory::dims src_dims{g.x[0], g.x[1]}, dst_dims{g.y[0], g.y[1]};
    for (auto v : spatial(g.x, nsp)) src_dims.push_back(v);
    for (auto v : spatial(g.y, nsp)) dst_dims.push_back(v);
    const memory::dims k = spatial(g.w, nsp);
    const int64_t c = g.x[1], m = g.y[1];
    memory::dims w_dims;
    Tag w_tag;
    if (g.group == 1) {
      w_dims = {m, c};
      w_tag = g.transpose ? (nsp == 3 ? Tag::iodhw : Tag::iohw) : (nsp == 3 ? Tag::oidhw : Tag::oihw);
    } else {
      w_dims = {g.group, m / g.group, c / g.group};
      w_tag = g.transpose ? (nsp == 3 ? Tag::giodhw : Tag::giohw) : (nsp == 3 ? Tag::goidhw : Tag::goihw);
    }
    w_dims.insert(w_dims.end(), k.begin(), k.end());
    memory::dims strides = lift(g.strides, nsp, 1);
    images = per_image_count(g, built_threads);
    if (images > 1) src_dims[0] = dst_dims[0] = 1;
    subsample = subsample_candidate(g);
    if (subsample) {  // the primitive sees the subsampled X with stride 1
      src_dims[2] = dst_dims[2];
      src_dims[3] = dst_dims[3];
      strides = {1, 1};
      sub.assign(static_cast<size_t>(g.x[0] * src_dims[1] * src_dims[2] * src_dims[3]), 0.f);
    } else {
      sub = {};
    }
    memory::dims dil = lift(g.dilations, nsp, 1);
    for (auto& d : dil) d -= 1;  // oneDNN: 0 = dense
    memory::dims pl = lift(g.pads_begin, nsp, 0), pr = lift(g.pads_end, nsp, 0);
    if (g.transpose) {
      // dst = (src-1)*s + (k-1)*(dil+1) + 1 - pl - pr; output_padding / output_shape land in pr.
      for (size_t i = 0; i < pr.size(); ++i) {
        const int64_t ext = (k[i] - 1) * (dil[i] + 1) + 1;
        pr[i] = (src_dims[i + 2] - 1) * strides[i] + ext - pl[i] - dst_dims[i + 2];
      }
    }
    user_src_md = memory::desc(src_dims, memory::data_type::f32, g.x_nchw ? Tag::nchw : plain);
    user_dst_md = memory::desc(dst_dims, memory::data_type::f32, g.y_nchw ? Tag::nchw : plain);
    user_w_md = memory::desc(w_dims, memory::data_type::f32, w_tag);
    bias_md = memory::desc({m}, memory::data_type::f32, Tag::x);
    // channels_last: run on the caller's nhwc memory (no reorders); else let oneDNN pick (it picks nhwc/blocked).
    const Tag act_tag = g.channels_last ? Tag::nhwc : Tag::any;
    memory::desc src_any(src_dims, memory::data_type::f32, g.x_nchw ? Tag::any : act_tag);
    memory::desc dst_any(dst_dims, memory::data_type::f32, act_tag);
    memory::desc w_any(w_dims, memory::data_type::f32, Tag::any);
    const auto pk = dnnl::prop_kind::forward_inference;
    dnnl::primitive_attr attr = post_op_attr(g);
    if (!g.transpose) {
      // The op desc must outlive its primitive_desc: next_impl() reads it again.
      auto make_desc = [&](dnnl::algorithm alg, const memory::desc& s, const memory::desc& d) {
        return g.has_bias ? dnnl::convolution_forward::desc(pk, alg, s, w_any, bias_md, d, strides, dil, pl, pr)
                          : dnnl::convolution_forward::desc(pk, alg, s, w_any, d, strides, dil, pl, pr);
      };
      dnnl::convolution_forward::primitive_desc pd;
      std::optional<dnnl::convolution_forward::desc> wino_desc, direct_desc;
      winograd = false;
      if (winograd_candidate(g)) {
        // Winograd runs on blocked activations only (nChw16c): reorders around it, which cost far less than the
        // 2-3x it saves on the multiply-adds of a 3x3 conv (measured on this box: 64ch 56x56 2.0 -> 1.0 ms).
        try {
          memory::desc blocked_src(src_dims, memory::data_type::f32, Tag::any);
          memory::desc blocked_dst(dst_dims, memory::data_type::f32, Tag::any);
          wino_desc.emplace(make_desc(dnnl::algorithm::convolution_winograd, blocked_src, blocked_dst));
          pd = dnnl::convolution_forward::primitive_desc(*wino_desc, attr, eng);
          // oneDNN lists F(2x2, 3x3) first for most batch-1 shapes. F(4x4, 3x3) (jit_wino_4x3) does fewer
          // multiply-adds but its transformed weights are 36/9 the size of the filter: inside resnet50 at batch
          // 1 it was faster while those fit in L2 (64ch 56x56: 1.28 -> 0.89 ms) and slower beyond (256ch 14x14:
          // 1.40 -> 1.62 ms, 512ch 7x7: 1.91 -> 2.48 ms). So prefer it for small filters only.
          const int64_t wino4_weight_bytes = g.x[1] * g.y[1] * 36 * 4;
          if (wino4_weight_bytes <= (int64_t{1} << 20)) {
            bool found = false;
            do {
              found = std::strstr(pd.impl_info_str(), "wino_4x3") != nullptr;
            } while (!found && pd.next_impl());
            if (!found) pd = dnnl::convolution_forward::primitive_desc(*wino_desc, attr, eng);
          }
          winograd = true;
        } catch (const dnnl::error&) {
          winograd = false;  // not supported for this shape / ISA: the direct convolution below
        }
      }
      if (!winograd) {
        direct_desc.emplace(make_desc(dnnl::algorithm::convolution_direct, src_any, dst_any));
        pd = dnnl::convolution_forward::primitive_desc(*direct_desc, attr, eng);
      }
      src_md = pd.src_desc();
      dst_md = pd.dst_desc();
      w_md = pd.weights_desc();
      scratch_mem = memory(pd.scratchpad_desc(), eng);
      prim = dnnl::convolution_forward(pd);
    } else {
      auto d = g.has_bias ? dnnl::deconvolution_forward::desc(pk, dnnl::algorithm::deconvolution_direct, src_any,
                                                              w_any, bias_md, dst_any, strides, dil, pl, pr)
                          : dnnl::deconvolution_forward::desc(pk, dnnl::algorithm::deconvolution_direct, src_any,
                                                              w_any, dst_any, strides, dil, pl, pr);
      dnnl::deconvolution_forward::primitive_desc pd(d, attr, eng);
      src_md = pd.src_desc();
      dst_md = pd.dst_desc();
      w_md = pd.weights_desc();
      scratch_mem = memory(pd.scratchpad_desc(), eng);
      prim = dnnl::deconvolution_forward(pd);
    }
    need_src_reorder = src_md != user_src_md;
    need_dst_reorder = dst_md != user_dst_md;
    if (need_src_reorder) {
      src_mem = memory(src_md, eng);
      src_reorder = dnnl::reorder(dnnl::reorder::primitive_desc(eng, user_src_md, eng, src_md));
    }
    if (need_dst_reorder) {
      dst_mem = memory(dst_md, eng);
      dst_reorder = dnnl::reorder(dnnl::reorder::primitive_desc(eng, dst_md, eng, user_dst_md));
      if (sum_in_primitive(g)) z_reorder = dnnl::reorder(dnnl::reorder::primitive_desc(eng, user_dst_md, eng, dst_md));
    }
    if (!stream) stream = dnnl::stream(eng);
    user_src = memory(user_src_md, eng, DNNL_MEMORY_NONE);
    user_dst = memory(user_dst_md, eng, DNNL_MEMORY_NONE);
    user_z = memory(user_dst_md, eng, DNNL_MEMORY_NONE);
    user_bias = memory(bias_md, eng, DNNL_MEMORY_NONE);
    conv_args = {{DNNL_ARG_SRC, need_src_reorder ? src_mem : user_src},
                 {DNNL_ARG_DST, need_dst_reorder ? dst_mem : user_dst}};
    if (g.has_bias) conv_args[DNNL_ARG_BIAS] = user_bias;
    conv_args[DNNL_ARG_SCRATCHPAD] = scratch_mem;
    src_reorder_args = {{DNNL_ARG_FROM, user_src}, {DNNL_ARG_TO, src_mem}};
    dst_reorder_args = {{DNNL_ARG_FROM, dst_mem}, {DNNL_ARG_TO, user_dst}};
    z_reorder_args = {{DNNL_ARG_FROM, user_z}, {DNNL_ARG_TO, dst_mem}};
    w_ready = false;
    w_held = Tensor();
    built = true;
  }

  void prepare_weights(const Tensor& w) {
    const uint64_t sum = sample_checksum(w);
    if (w_ready && w.shares_storage_with(w_held) && w.raw_data() == w_held.raw_data() && sum == w_sum) return;
    const auto& eng = dnnl_cpu_engine();
    memory user_w(user_w_md, eng, const_cast<void*>(w.raw_data()));
    w_mem = memory(w_md, eng);
    dnnl::reorder(user_w, w_mem).execute(stream, user_w, w_mem);
    stream.wait();
    conv_args[DNNL_ARG_WEIGHTS] = w_mem;
    w_held = w;
    w_sum = sum;
    w_ready = true;
  }
};

DnnlConv::DnnlConv() : impl_(std::make_unique<Impl>()) {}
DnnlConv::~DnnlConv() = default;

bool DnnlConv::run(const DnnlConvGeom& g, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                   int threads, const Tensor* z) {
  Impl& s = *impl_;
  std::lock_guard<std::mutex> lock(s.mu);
  const int nsp = static_cast<int>(g.x.size()) - 2;
  if (nsp < 1 || nsp > 3) return false;
  if (g.channels_last && (nsp != 2 || g.transpose)) return false;
  if (g.has_sum && (!z || z->dtype() != DType::kFloat || z->numel() != y.numel())) return false;
  // Z added after the activation by conv_act.h: the conv must not overwrite it first (no planner aliases them
  // today: FusedConv is not an in-place op; this keeps it correct if one ever does).
  if (g.has_sum && !Impl::sum_in_primitive(g) && z->raw_data() == y.raw_data()) return false;
  if (x.dtype() != DType::kFloat || w.dtype() != DType::kFloat || (bias && bias->dtype() != DType::kFloat))
    return false;
  try {
    // oneDNN sizes a primitive's OpenMP team when the primitive is created (from omp_get_max_threads() of this
    // thread), so the session's thread count must be in place before build(): a primitive built under the
    // default (all cores) forks that many threads on every run even at --threads 1, and the idle OpenMP worker
    // then spins against the main thread (measured: mobilenet_v2 at 1 thread 151 ms -> 48 ms on a busy box).
    dnnl_set_threads(threads);
    if (!s.built || !(s.geom == g) || (s.built_threads == 1) != (threads == 1)) {
      if (s.failed && s.geom == g && (s.built_threads == 1) == (threads == 1)) return false;
      s.geom = g;
      s.built_threads = threads;
      s.built = false;
      s.failed = true;  // cleared when build() succeeds
      s.build(g);
      s.failed = false;
    }
    // Activation reorders are memory-bound and short: below ~4M elements they run on one thread, which saves two
    // OpenMP fork/joins per conv (those dominate when the cores are oversubscribed, e.g. on a shared CI box).
    const int reorder_threads = shape_numel(g.x) + shape_numel(g.y) > (int64_t{4} << 20) ? threads : 1;
    dnnl_set_threads(1);  // one-time weight reorder: measured faster single-threaded on a busy 2-core box
    s.prepare_weights(w);
    if (s.subsample) s.gather_subsampled(g, x.data<float>());
    const float* x_base = s.subsample ? s.sub.data() : x.data<float>();
    // Per image (s.images > 1) or the whole batch at once: element offsets of one step's X and Y/Z.
    const int64_t x_step = s.images > 1 ? static_cast<int64_t>(s.user_src_md.get_size() / sizeof(float)) : 0;
    const int64_t y_step = s.images > 1 ? y.numel() / s.images : 0;
    if (bias) s.user_bias.set_data_handle(const_cast<void*>(bias->raw_data()));
    for (int64_t i = 0; i < s.images; ++i) {
      s.user_src.set_data_handle(const_cast<float*>(x_base + i * x_step));
      float* yi = y.data<float>() + i * y_step;
      s.user_dst.set_data_handle(yi);
      if (s.need_src_reorder) {
        dnnl_set_threads(reorder_threads);
        s.src_reorder.execute(s.stream, s.src_reorder_args);
      }
      if (Impl::sum_in_primitive(g)) {  // the sum post-op accumulates into dst: put Z there first
        const float* zi = z->data<float>() + i * y_step;
        if (s.need_dst_reorder) {
          dnnl_set_threads(reorder_threads);
          s.user_z.set_data_handle(const_cast<float*>(zi));
          s.z_reorder.execute(s.stream, s.z_reorder_args);
        } else if (zi != yi) {
          std::memcpy(yi, zi, static_cast<size_t>(s.images > 1 ? y_step : y.numel()) * sizeof(float));
        }
      }
      dnnl_set_threads(threads);
      s.prim.execute(s.stream, s.conv_args);
      if (s.need_dst_reorder) {
        dnnl_set_threads(reorder_threads);
        s.dst_reorder.execute(s.stream, s.dst_reorder_args);
      }
    }
    s.stream.wait();
    if (Impl::defers_act(g))
      apply_conv_activation(g.act, y.data<float>(), y.numel(), threads,
                            g.has_sum && !Impl::sum_in_primitive(g) ? z->data<float>() : nullptr);
    return true;
  } catch (const std::exception&) {
    s.built = false;
    return false;
  }
}

}  // namespace ferry
