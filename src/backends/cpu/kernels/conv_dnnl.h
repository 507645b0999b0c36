// conv_dnnl.h — oneDNN float32 Conv / ConvTranspose (1D/2D/3D) with the primitive cached per input shape.
//
// A DnnlConv belongs to one node's kernel. run() builds (or reuses, when the geometry is unchanged) a
// convolution/deconvolution primitive whose src/weights/dst layouts oneDNN picks (format `any`: blocked layouts
// such as nChw16c are much faster than plain NCHW); activations are reordered in and out around the primitive,
// weights are reordered once and kept while the weight tensor's storage is unchanged (same buffer and same
// sampled checksum — weights are normally constant initializers). Bias is fused into the primitive.
// run() returns false (not an error) when oneDNN cannot do the case (e.g. a negative effective pad), so that
// the caller falls back to the reference kernel; oneDNN exceptions never escape.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "ferry/status.h"
#include "ferry/tensor.h"

namespace ferry {

struct DnnlConvGeom {
  bool transpose = false;  // ConvTranspose (ONNX weights [C, M/group, k...]) instead of Conv ([M, C/group, k...])
  int64_t group = 1;
  Shape x, w, y;  // full NC... shapes
  std::vector<int64_t> strides, dilations, pads_begin, pads_end;  // ONNX convention (dilation 1 = dense)
  bool has_bias = false;
  bool operator==(const DnnlConvGeom& o) const = default;
};

class DnnlConv {
 public:
  DnnlConv();
  ~DnnlConv();
  DnnlConv(const DnnlConv&) = delete;
  DnnlConv& operator=(const DnnlConv&) = delete;

  // y must already be allocated with shape g.y. Returns true when done by oneDNN, false to fall back.
  bool run(const DnnlConvGeom& g, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y, int threads);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry
