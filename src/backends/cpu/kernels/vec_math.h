// vec_math.h — small float32 helpers that GCC vectorizes without -ffast-math, shared by the softmax, LayerNorm
// and attention kernels.
#pragma once

#include <bit>
#include <cstdint>

namespace ferry {

// exp(x) for float x <= 0 (not NaN), Cephes-style: 2^n * p(r) with r = x - n*ln2, relative error < 2e-7 down
// to -87.3 (below that it returns FLT_MIN-ish tiny values). The clamp compares bit patterns as unsigned ints,
// so GCC vectorizes the calling loops without -ffast-math (float compares would block if-conversion).
inline float exp_nonpos_f32(float x) {
  constexpr uint32_t kLo = std::bit_cast<uint32_t>(-87.33654f);
  uint32_t ux = std::bit_cast<uint32_t>(x);
  ux = ux > kLo ? kLo : ux;  // negative floats: larger pattern = more negative
  x = std::bit_cast<float>(ux);
  float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * r * r + r + 1.0f;
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  return y * std::bit_cast<float>(bits);
}

// Sum with 8 independent partial sums (vectorizable without -ffast-math).
inline float sum_f32(const float* p, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; ++k) acc[k] += p[j + k];
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; j < n; ++j) s += p[j];
  return s;
}

}  // namespace ferry
