// conv_dw_nhwc.h — an AVX-512 depthwise KxK convolution (K = 3 or 5, stride 1 or 2) on NHWC tensors, with bias
// and the FusedConv activation applied in registers, split by output rows (or, for maps of few rows, by channel
// groups too) over oneDNN's OpenMP team. OFF unless FERRY_DW_NHWC=1 (FusedConv then uses it for its NHWC
// depthwise convs instead of oneDNN).
//
// Why it exists: oneDNN 2.6's depthwise kernel (brdgmm_dw) looked slower at 2 threads than at 1 for MobileNet's
// layers (ONEDNN_VERBOSE exec times, min of 30 runs, on a loaded 2-core box: 14x14x576 0.038 ms at 1 thread vs
// 0.063 ms at 2; 7x7x960 0.018 vs 0.049), and depthwise work splits cleanly by output rows. Why it is off: at
// 1 thread it is 1.1-1.5x slower than oneDNN (one-layer models, min of 5 x 300 profiled runs: 14x14x576
// 0.063-0.071 vs 0.042-0.048 ms; 7x7x960 0.031-0.037 vs 0.019-0.024; 56x56x144 0.23-0.29 vs 0.18-0.26), and the
// 2-thread comparison could not be measured on the shared box (load 3-11). Take it up on a quiet machine:
// FERRY_DW_NHWC=1 vs unset, mobilenet_v2 --threads 2.
//
// Method: each thread stages the K input rows an output row needs (its channel range) into a zero-padded ring
// (each input row copied once), then walks the output row four pixels at a time with the block's K*K weights in
// registers and unmasked loads (no border cases).
//
//   DwConvNhwc dw;
//   DwConvShape s{n, h, w, c, oh, ow, k, stride, pad_top, pad_left};
//   if (DwConvNhwc::supports(s, act)) dw.run(s, act, alpha, beta, x, w_tensor, bias_or_null, y, threads);
//
// Weights ([C, 1, K, K] as in ONNX) are repacked once into [K*K][C rounded up to 16] and kept while the weight
// tensor's storage is unchanged (FusedConv weights in NHWC regions are initializers). Results match the
// reference to float rounding (K = 3: one partial sum per kernel row, then bias + rows).
#pragma once

#include <cstdint>
#include <mutex>
#include <vector>

#include "backends/cpu/kernels/conv_dnnl.h"
#include "ferry/tensor.h"

namespace ferry {

struct DwConvShape {
  int64_t n = 0, h = 0, w = 0, c = 0;  // input [N, H, W, C]
  int64_t oh = 0, ow = 0;              // output [N, OH, OW, C]
  int64_t k = 0, stride = 1, pad_top = 0, pad_left = 0;
};

// True when FERRY_DW_NHWC=1 is set (off by default: see above).
bool dw_enabled();

class DwConvNhwc {
 public:
  // True when this kernel computes `s` with activation `act` (AVX-512F present, K 3 or 5, stride 1 or 2,
  // padding below K, activation none/relu/leaky_relu/clip/silu/sigmoid).
  static bool supports(const DwConvShape& s, ConvAct act);

  // y = act(depthwise_conv(x, w) + bias). x, y: NHWC float; w: [C, 1, K, K]; bias: [C] or null.
  void run(const DwConvShape& s, ConvAct act, float alpha, float beta, const float* x, const Tensor& w,
           const float* bias, float* y, int threads);

 private:
  std::mutex mu_;  // one kernel may run concurrently for several requests; guards the packed weights
  Tensor w_held_;  // keeps the packed weights' source alive so its address cannot be recycled
  const float* bias_src_ = nullptr;
  std::vector<float> packed_;  // [K*K][cpad] weights, then [cpad] bias
  std::vector<float> rings_;   // per thread: K zero-padded staged input rows of one channel block
  int64_t ring_key_ = 0;       // geometry the rings were zeroed for
  int64_t cpad_ = 0;
};

}  // namespace ferry
