// conv_layout.h — host-side filter layouts of the CUDA convolutions (no CUDA headers; unit-tested without a GPU).
//
//   int64_t cp = padded_conv_channels(3, DType::kFloat16, 1);   // 8: NHWC FP16 stem convs take tensor cores
//   Tensor w_ohwi = filter_to_ohwi(w_oihw, cp);                   // [K, R, S, cp], zero filter channels >= C
//
// cuDNN's tensor-core NHWC kernels want the channel count a multiple of 8 halves (16 bytes); the 3-channel image
// convs at the start of every vision model otherwise run on slow non-tensor-core kernels (resnet50 conv1 was 29%
// of the batch-256 time). The program stores such an input as [N, H, W, cp] with zero channels (the upload kernel
// writes them) and the conv reads it with a filter whose extra input channels are zero, so results are unchanged.
#pragma once

#include <cstdint>

#include "ferry/tensor.h"

namespace ferry::cuda {

constexpr int64_t kConvChannelAlign = 8;

// Stored channel count for a conv input of `c` channels: c rounded up to 8 for ungrouped FP16/BF16 convs with
// fewer than 8 channels, else c unchanged (FP32 keeps exact CPU results and needs no padding).
inline int64_t padded_conv_channels(int64_t c, DType precision, int64_t group) {
  if (group != 1 || c <= 0 || c >= kConvChannelAlign) return c;
  if (precision != DType::kFloat16 && precision != DType::kBFloat16) return c;
  return kConvChannelAlign;
}

// A float OIHW filter [K, C, R, S] as OHWI [K, R, S, c_stored] (cuDNN's NHWC filter layout); input channels
// C..c_stored-1 are zero. c_stored < C (or <= 0) means c_stored = C. C is the filter's own channel count (C / group
// of the input for grouped convs): pass the padded count only for a padded input, never the input's C.
inline Tensor filter_to_ohwi(const Tensor& w, int64_t c_stored = 0) {
  const Shape& s = w.shape();
  const int64_t k = s[0], c = s[1], r = s[2], q = s[3];
  const int64_t cs = c_stored < c ? c : c_stored;
  Tensor out = Tensor::zeros(DType::kFloat, {k, r, q, cs});
  const float* src = w.data<float>();
  float* dst = out.data<float>();
  for (int64_t o = 0; o < k; ++o)
    for (int64_t i = 0; i < c; ++i)
      for (int64_t h = 0; h < r; ++h)
        for (int64_t x = 0; x < q; ++x) dst[((o * r + h) * q + x) * cs + i] = src[((o * c + i) * r + h) * q + x];
  return out;
}

// A float depthwise filter [C, 1, R, S] as [R, S, C] (the own depthwise kernel's layout: one 16-byte load per tap
// covers 8 channels).
inline Tensor filter_to_rsc(const Tensor& w) {
  const Shape& s = w.shape();
  const int64_t c = s[0], r = s[2], q = s[3];
  Tensor out = Tensor::empty(DType::kFloat, {r, q, c});
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t i = 0; i < r * q; ++i) out.data<float>()[i * c + ch] = w.data<float>()[ch * r * q + i];
  return out;
}

}  // namespace ferry::cuda
