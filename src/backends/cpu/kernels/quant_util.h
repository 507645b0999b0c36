// quant_util.h — small numeric helpers shared by the quant family's reference kernels.
//
//   auto r = quant_int_range(DType::kInt4);          // {-8, 7}
//   double q = round_to_precision(x / s, DType::kFloat16);  // emulates a float16 division
#pragma once

#include <string>
#include <utility>

#include "core/float_convert.h"
#include "ferry/status.h"
#include "ferry/tensor.h"

namespace ferry {

// Saturation range of an integer quantized type.
inline Expected<std::pair<double, double>> quant_int_range(DType t) {
  switch (t) {
    case DType::kUInt8: return std::pair<double, double>{0, 255};
    case DType::kInt8: return std::pair<double, double>{-128, 127};
    case DType::kUInt16: return std::pair<double, double>{0, 65535};
    case DType::kInt16: return std::pair<double, double>{-32768, 32767};
    case DType::kUInt4: return std::pair<double, double>{0, 15};
    case DType::kInt4: return std::pair<double, double>{-8, 7};
    case DType::kUInt2: return std::pair<double, double>{0, 3};
    case DType::kInt2: return std::pair<double, double>{-2, 1};
    case DType::kInt32: return std::pair<double, double>{-2147483648.0, 2147483647.0};
    default: return unsupported(std::string("quantized type ") + dtype_name(t) + " not supported");
  }
}

// Rounds v to the nearest value representable in floating type t (float, float16, bfloat16; double: as is),
// so a computation done in double reproduces one done in t.
inline double round_to_precision(double v, DType t) {
  switch (t) {
    case DType::kFloat: return static_cast<double>(static_cast<float>(v));
    case DType::kFloat16: return half_to_float(float_to_half(static_cast<float>(v)));
    case DType::kBFloat16: return bf16_to_float(float_to_bf16(static_cast<float>(v)));
    default: return v;
  }
}

}  // namespace ferry
