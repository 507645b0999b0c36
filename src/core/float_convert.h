// float_convert.h — conversions between float and the narrow floating formats ferry stores as bit patterns:
// IEEE half, bfloat16, the four float8 formats of ONNX (E4M3FN, E4M3FNUZ, E5M2, E5M2FNUZ), float8 E8M0 and
// float4 E2M1. Rounding is round-to-nearest-even; `saturate` follows ONNX Cast semantics (clamp to the
// largest finite value instead of producing inf/NaN for out-of-range finite inputs).
#pragma once

#include <cstddef>
#include <cstdint>

#include "ferry/tensor.h"

namespace ferry {

float half_to_float(uint16_t h);
uint16_t float_to_half(float f);
float bf16_to_float(uint16_t b);
uint16_t float_to_bf16(float f);

// Bulk float -> half / bfloat16 bit patterns, identical to the scalar functions element by element (the half one
// uses the CPU's F16C conversion when it has one: the GPU backend stages FP16 inputs and outputs with them).
void floats_to_halves(const float* src, uint16_t* dst, size_t n);
void floats_to_bf16s(const float* src, uint16_t* dst, size_t n);
void halves_to_floats(const uint16_t* src, float* dst, size_t n);
void bf16s_to_floats(const uint16_t* src, float* dst, size_t n);

inline float to_float(Half h) { return half_to_float(h.bits); }
inline float to_float(BFloat16 b) { return bf16_to_float(b.bits); }
inline Half half_from_float(float f) { return Half{float_to_half(f)}; }
inline BFloat16 bf16_from_float(float f) { return BFloat16{float_to_bf16(f)}; }

// Narrow formats addressed by their DType (kFloat8*, kFloat4E2M1), value in the low bits of a byte.
float narrow_float_to_float(DType t, uint8_t bits);
uint8_t float_to_narrow_float(DType t, float f, bool saturate);

}  // namespace ferry
