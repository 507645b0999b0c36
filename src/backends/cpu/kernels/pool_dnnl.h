// pool_dnnl.h — oneDNN float32 MaxPool (without Indices) / AveragePool, primitive cached for the last shape.
//
// run() returns false (not an error) when oneDNN cannot reproduce the ONNX result exactly, and the caller
// uses the reference kernel: AveragePool with dilations, AveragePool count_include_pad=1 whose ceil_mode
// window overhangs the end pad (ONNX does not count the overhang), >3 spatial dims. 1-D pools run as 2-D.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "ferry/tensor.h"

namespace ferry {

struct DnnlPoolGeom {
  bool max = true;
  bool count_include_pad = false;
  Shape x, y;
  std::vector<int64_t> kernel, strides, dilations, pads_begin, pads_end;
  bool channels_last = false;  // X/Y are [N, H, W, C] (2-D only); x/y above stay NCHW
  bool operator==(const DnnlPoolGeom& o) const = default;
};

class DnnlPool {
 public:
  DnnlPool();
  ~DnnlPool();
  DnnlPool(const DnnlPool&) = delete;
  DnnlPool& operator=(const DnnlPool&) = delete;
  bool run(const DnnlPoolGeom& g, const Tensor& x, Tensor& y, int threads);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry
