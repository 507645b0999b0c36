// conv_dnnl.h — oneDNN float32 Conv / ConvTranspose (1D/2D/3D) with the primitive cached per input shape.
//
// A DnnlConv belongs to one node's kernel. run() builds (or reuses, when the geometry is unchanged) a
// convolution/deconvolution primitive whose src/weights/dst layouts oneDNN picks (format `any`: blocked layouts
// such as nChw16c are much faster than plain NCHW); activations are reordered in and out around the primitive,
// weights are reordered once and kept while the weight tensor's storage is unchanged (same buffer and same
// sampled checksum — weights are normally constant initializers). Bias is fused into the primitive.
// 3x3 stride-1 convolutions with channel counts that are multiples of 16 use oneDNN's Winograd algorithm
// (2-3x fewer multiply-adds; blocked activations, so reorders around it even in channels_last mode; results
// differ from the direct convolution by ~1e-6 relative); FERRY_DNNL_WINOGRAD=0 keeps them direct.
// run() returns false (not an error) when oneDNN cannot do the case (e.g. a negative effective pad), so that
// the caller falls back to the reference kernel; oneDNN exceptions never escape.
//
// Fused post-ops (ferry.FusedConv): an optional residual Z added to the result (oneDNN sum post-op: Z is copied
// or reordered into the destination first) and then an elementwise activation (or, with sum_after_act, the
// activation first and then Z). SiLU and sigmoid are not oneDNN post-ops but a pass after it (conv_act.h). channels_last = true means X, Z
// and Y are NHWC tensors; the primitive then runs on nhwc memory directly (no activation reorders at all, and
// the brgconv kernels oneDNN picks on AVX-512 are as fast in nhwc as in its blocked formats).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "ferry/status.h"
#include "ferry/tensor.h"

namespace ferry {

enum class ConvAct { kNone, kRelu, kLeakyRelu, kClip, kSigmoid, kSilu, kHardSwish, kTanh };

struct DnnlConvGeom {
  bool transpose = false;  // ConvTranspose (ONNX weights [C, M/group, k...]) instead of Conv ([M, C/group, k...])
  int64_t group = 1;
  Shape x, w, y;  // full NC... shapes
  std::vector<int64_t> strides, dilations, pads_begin, pads_end;  // ONNX convention (dilation 1 = dense)
  bool has_bias = false;
  bool channels_last = false;  // X/Z/Y are [N, H, W, C] (2-D, non-transposed only); shapes above stay NCHW
  bool x_nchw = false;         // with channels_last: X stays NCHW (oneDNN reorders it; the first conv of a net)
  bool y_nchw = false;         // with channels_last: Z/Y stay NCHW (oneDNN reorders them; a region's last conv)
  bool has_sum = false;        // Y = conv + Z before the activation
  bool sum_after_act = false;  // with has_sum: Y = act(conv) + Z instead
  ConvAct act = ConvAct::kNone;
  float act_alpha = 0, act_beta = 0;  // leaky: alpha = slope; clip: [alpha, beta] = [min, max]
  bool operator==(const DnnlConvGeom& o) const = default;
};

class DnnlConv {
 public:
  DnnlConv();
  ~DnnlConv();
  DnnlConv(const DnnlConv&) = delete;
  DnnlConv& operator=(const DnnlConv&) = delete;

  // y must already be allocated with shape g.y (NHWC order when channels_last). z is read when g.has_sum.
  // Returns true when done by oneDNN, false to fall back.
  bool run(const DnnlConvGeom& g, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y, int threads,
           const Tensor* z = nullptr);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry
