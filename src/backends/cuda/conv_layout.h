// conv_layout.h — host-side filter layouts of the CUDA convolutions (no CUDA headers; unit-tested without a GPU).
//
//   int64_t cp = padded_conv_channels(3, DType::kFloat16, 1);   // 8: NHWC FP16 stem convs take tensor cores
//   Tensor w_ohwi = filter_to_ohwi(w_oihw, cp);                   // [K, R, S, cp], zero filter channels >= C
//
// cuDNN's tensor-core NHWC kernels want the channel count a multiple of 8 halves (16 bytes); the 3-channel image
// convs at the start of every vision model otherwise run on slow non-tensor-core kernels (resnet50 conv1 was 29%
// of the batch-256 time). The program stores such an input as [N, H, W, cp] with zero channels (the upload kernel
// writes them) and the conv reads it with a filter whose extra input channels are zero, so results are unchanged.
//
// Space-to-depth (the stride-2 stem, resnet50's 7x7 conv1): an image x[N, C, H, W] with 4C <= 16 read only by
// stride-2 convs (odd kernel k, symmetric pad p, H + 2p and W + 2p even) is stored as s[N, (H+2p)/2, (W+2p)/2, 16]
// with s[n, y, x, (dy*2 + dx)*C + c] = x[n, c, 2y + dy - p, 2x + dx - p] (zero outside and past 4C), and the conv
// becomes a stride-1, unpadded conv with kernel (k+1)/2 on 16 channels (filter_to_s2d): the same sums, on
// channel counts tensor cores take (16 instead of 3 padded to 8, and a 4x4 instead of a 7x7 window).
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

constexpr int64_t kS2dChannels = 16;

// A float filter [K, C, R, S] for the space-to-depth input: [K, c_stored, (R+1)/2, (S+1)/2] (OIHW) with
// out[k, (dy*2 + dx)*C + c, i, j] = w[k, c, 2i + dy, 2j + dx] (zero past R, S and past 4C).
inline Tensor filter_to_s2d(const Tensor& w, int64_t c_stored = kS2dChannels) {
  const Shape& s = w.shape();
  const int64_t k = s[0], c = s[1], r = s[2], q = s[3], r2 = (r + 1) / 2, q2 = (q + 1) / 2;
  Tensor out = Tensor::zeros(DType::kFloat, {k, c_stored, r2, q2});
  const float* src = w.data<float>();
  float* dst = out.data<float>();
  for (int64_t o = 0; o < k; ++o)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t a = 0; a < r; ++a)
        for (int64_t b = 0; b < q; ++b) {
          const int64_t oc = ((a % 2) * 2 + b % 2) * c + ch;
          dst[((o * c_stored + oc) * r2 + a / 2) * q2 + b / 2] = src[((o * c + ch) * r + a) * q + b];
        }
  return out;
}

// True when a conv on x[N, C, H, W] (kernel r x q, strides, pads [top, left, bottom, right], dilations, group) may
// read a space-to-depth input (see the header comment); *pad receives p.
inline bool s2d_stem_fits(const Shape& x, int64_t r, int64_t q, const int64_t strides[2], const int64_t pads[4],
                          const int64_t dilations[2], int64_t group, DType precision, int64_t* pad) {
  if (x.size() != 4 || group != 1 || 4 * x[1] > kS2dChannels) return false;
  if (precision != DType::kFloat16 && precision != DType::kBFloat16) return false;
  const int64_t p = pads[0];
  if (strides[0] != 2 || strides[1] != 2 || dilations[0] != 1 || dilations[1] != 1 || r % 2 == 0 || q % 2 == 0)
    return false;
  if (pads[1] != p || pads[2] != p || pads[3] != p || p < 0 || (x[2] + 2 * p) % 2 != 0 || (x[3] + 2 * p) % 2 != 0)
    return false;
  *pad = p;
  return true;
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
