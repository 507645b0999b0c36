// layer_norm_avx512.h — the AVX-512 row kernel of ferry.LayerNorm: y = (x - mean) / sqrt(var + eps) * g (+ b) over
// one row of c floats, three passes over the row (mean, squared deviations, output) with 16 lanes x 2 partial sums.
//
//   if (layer_norm_avx512_available()) layer_norm_row_avx512(x, g, b_or_null, y, c, eps);
//
// Results equal the scalar loop up to float summation order (the mean and variance are summed in 32 lanes).
#pragma once

#include <cstdint>

namespace ferry {

// True when the CPU has AVX-512F (checked once).
bool layer_norm_avx512_available();
// One row: x, y of c floats (may alias), g of c floats, b of c floats or null.
void layer_norm_row_avx512(const float* x, const float* g, const float* b, float* y, int64_t c, float eps);

}  // namespace ferry
