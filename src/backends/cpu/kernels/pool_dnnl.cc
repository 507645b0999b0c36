// pool_dnnl.cc — oneDNN pooling; see pool_dnnl.h.
#include "backends/cpu/kernels/pool_dnnl.h"

#include <exception>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>

#include "backends/cpu/kernels/dnnl_util.h"

namespace ferry {

using dnnl::memory;
using Tag = dnnl::memory::format_tag;

struct DnnlPool::Impl {
  std::mutex mu;  // one kernel may be run from several threads (concurrent requests on a session)
  bool built = false;
  bool failed = false;
  DnnlPoolGeom geom;
  dnnl::primitive prim;
  memory::desc src_md, dst_md;
  dnnl::stream stream;

  // Returns false when the case is not exact in oneDNN (see header).
  bool build(const DnnlPoolGeom& g) {
    const size_t nsp = g.kernel.size();
    if (nsp < 1 || nsp > 3) return false;
    memory::dims src{g.x[0], g.x[1]}, dst{g.y[0], g.y[1]}, k, s, dil, pl, pr;
    if (nsp == 1) {
      src.push_back(1);
      dst.push_back(1);
      k.push_back(1);
      s.push_back(1);
      dil.push_back(0);
      pl.push_back(0);
      pr.push_back(0);
    }
    for (size_t i = 0; i < nsp; ++i) {
      if (!g.max && g.dilations[i] != 1) return false;
      const int64_t in = g.x[i + 2], out = g.y[i + 2];
      const int64_t ext = (g.kernel[i] - 1) * g.dilations[i] + 1;
      // oneDNN needs out == (in + pl + pr - ext) / s + 1 exactly: keep the ONNX end pad when it fits, else use
      // the pad that makes the last window end where ceil_mode put it.
      int64_t right = g.pads_end[i];
      if ((in + g.pads_begin[i] + right - ext) / g.strides[i] + 1 != out || in + g.pads_begin[i] + right - ext < 0) {
        right = (out - 1) * g.strides[i] + ext - in - g.pads_begin[i];
        if (right < 0) return false;
        if (!g.max && g.count_include_pad && right > g.pads_end[i]) return false;
      }
      src.push_back(in);
      dst.push_back(out);
      k.push_back(g.kernel[i]);
      s.push_back(g.strides[i]);
      dil.push_back(g.dilations[i] - 1);
      pl.push_back(g.pads_begin[i]);
      pr.push_back(right);
    }
    if (g.channels_last && src.size() != 4) return false;
    const Tag plain = g.channels_last ? Tag::nhwc : src.size() == 5 ? Tag::ncdhw : Tag::nchw;
    src_md = memory::desc(src, memory::data_type::f32, plain);
    dst_md = memory::desc(dst, memory::data_type::f32, plain);
    const auto alg = g.max ? dnnl::algorithm::pooling_max
                           : (g.count_include_pad ? dnnl::algorithm::pooling_avg_include_padding
                                                  : dnnl::algorithm::pooling_avg_exclude_padding);
    dnnl::pooling_v2_forward::desc d(dnnl::prop_kind::forward_inference, alg, src_md, dst_md, s, k, dil, pl, pr);
    dnnl::pooling_v2_forward::primitive_desc pd(d, dnnl_cpu_engine());
    prim = dnnl::pooling_v2_forward(pd);
    if (!stream) stream = dnnl::stream(dnnl_cpu_engine());
    return true;
  }
};

DnnlPool::DnnlPool() : impl_(std::make_unique<Impl>()) {}
DnnlPool::~DnnlPool() = default;

bool DnnlPool::run(const DnnlPoolGeom& g, const Tensor& x, Tensor& y, int threads) {
  Impl& s = *impl_;
  std::lock_guard<std::mutex> lock(s.mu);
  if (x.dtype() != DType::kFloat) return false;
  try {
    dnnl_set_threads(threads);  // before build(): oneDNN fixes a primitive's team size at creation (conv_dnnl.cc)
    if (!s.built || !(s.geom == g)) {
      if (s.failed && s.geom == g) return false;
      s.geom = g;
      s.built = false;
      s.failed = true;
      if (!s.build(g)) return false;
      s.failed = false;
      s.built = true;
    }
    dnnl_set_threads(threads);
    const auto& eng = dnnl_cpu_engine();
    memory src(s.src_md, eng, const_cast<void*>(x.raw_data()));
    memory dst(s.dst_md, eng, y.raw_data());
    s.prim.execute(s.stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
    s.stream.wait();
    return true;
  } catch (const std::exception&) {
    s.built = false;
    return false;
  }
}

}  // namespace ferry
