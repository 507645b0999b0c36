#include "core/dtype_dispatch.h"

namespace ferry {

double load_double(const Tensor& t, int64_t i) {
  const void* p = t.raw_data();
  switch (t.dtype()) {
    case DType::kFloat: return static_cast<const float*>(p)[i];
    case DType::kDouble: return static_cast<const double*>(p)[i];
    case DType::kInt8: return static_cast<const int8_t*>(p)[i];
    case DType::kInt16: return static_cast<const int16_t*>(p)[i];
    case DType::kInt32: return static_cast<const int32_t*>(p)[i];
    case DType::kInt64: return static_cast<double>(static_cast<const int64_t*>(p)[i]);
    case DType::kUInt8: return static_cast<const uint8_t*>(p)[i];
    case DType::kUInt16: return static_cast<const uint16_t*>(p)[i];
    case DType::kUInt32: return static_cast<const uint32_t*>(p)[i];
    case DType::kUInt64: return static_cast<double>(static_cast<const uint64_t*>(p)[i]);
    case DType::kBool: return static_cast<const bool*>(p)[i] ? 1.0 : 0.0;
    case DType::kFloat16: return half_to_float(static_cast<const uint16_t*>(p)[i]);
    case DType::kBFloat16: return bf16_to_float(static_cast<const uint16_t*>(p)[i]);
    case DType::kInt4: case DType::kInt2: return static_cast<const int8_t*>(p)[i];
    case DType::kUInt4: case DType::kUInt2: return static_cast<const uint8_t*>(p)[i];
    case DType::kFloat8E4M3FN: case DType::kFloat8E4M3FNUZ: case DType::kFloat8E5M2: case DType::kFloat8E5M2FNUZ:
    case DType::kFloat4E2M1: case DType::kFloat8E8M0:
      return narrow_float_to_float(t.dtype(), static_cast<const uint8_t*>(p)[i]);
    default: return 0.0;
  }
}

void store_double(Tensor& t, int64_t i, double v) {
  void* p = t.raw_data();
  switch (t.dtype()) {
    case DType::kFloat: static_cast<float*>(p)[i] = static_cast<float>(v); break;
    case DType::kDouble: static_cast<double*>(p)[i] = v; break;
    case DType::kInt8: static_cast<int8_t*>(p)[i] = static_cast<int8_t>(static_cast<int64_t>(v)); break;
    case DType::kInt16: static_cast<int16_t*>(p)[i] = static_cast<int16_t>(static_cast<int64_t>(v)); break;
    case DType::kInt32: static_cast<int32_t*>(p)[i] = static_cast<int32_t>(static_cast<int64_t>(v)); break;
    case DType::kInt64: static_cast<int64_t*>(p)[i] = static_cast<int64_t>(v); break;
    case DType::kUInt8: static_cast<uint8_t*>(p)[i] = static_cast<uint8_t>(static_cast<int64_t>(v)); break;
    case DType::kUInt16: static_cast<uint16_t*>(p)[i] = static_cast<uint16_t>(static_cast<int64_t>(v)); break;
    case DType::kUInt32: static_cast<uint32_t*>(p)[i] = static_cast<uint32_t>(static_cast<int64_t>(v)); break;
    case DType::kUInt64: static_cast<uint64_t*>(p)[i] = static_cast<uint64_t>(v); break;
    case DType::kBool: static_cast<bool*>(p)[i] = v != 0.0; break;
    case DType::kFloat16: static_cast<uint16_t*>(p)[i] = float_to_half(static_cast<float>(v)); break;
    case DType::kBFloat16: static_cast<uint16_t*>(p)[i] = float_to_bf16(static_cast<float>(v)); break;
    case DType::kInt4: case DType::kInt2:
      static_cast<int8_t*>(p)[i] = static_cast<int8_t>(static_cast<int64_t>(v));
      break;
    case DType::kUInt4: case DType::kUInt2:
      static_cast<uint8_t*>(p)[i] = static_cast<uint8_t>(static_cast<int64_t>(v));
      break;
    case DType::kFloat8E4M3FN: case DType::kFloat8E4M3FNUZ: case DType::kFloat8E5M2: case DType::kFloat8E5M2FNUZ:
    case DType::kFloat4E2M1: case DType::kFloat8E8M0:
      static_cast<uint8_t*>(p)[i] = float_to_narrow_float(t.dtype(), static_cast<float>(v), false);
      break;
    default: break;
  }
}

std::vector<double> to_double_vector(const Tensor& t) {
  std::vector<double> out(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) out[static_cast<size_t>(i)] = load_double(t, i);
  return out;
}

Tensor from_double_vector(DType dtype, Shape shape, const std::vector<double>& values) {
  Tensor t = Tensor::empty(dtype, std::move(shape));
  for (int64_t i = 0; i < t.numel() && i < static_cast<int64_t>(values.size()); ++i)
    store_double(t, i, values[static_cast<size_t>(i)]);
  return t;
}

std::vector<int64_t> to_int64_vector(const Tensor& t) {
  std::vector<int64_t> out(static_cast<size_t>(t.numel()));
  const void* p = t.raw_data();
  for (int64_t i = 0; i < t.numel(); ++i) {
    int64_t v;
    switch (t.dtype()) {
      case DType::kInt64: v = static_cast<const int64_t*>(p)[i]; break;
      case DType::kUInt64: v = static_cast<int64_t>(static_cast<const uint64_t*>(p)[i]); break;
      default: v = static_cast<int64_t>(load_double(t, i)); break;
    }
    out[static_cast<size_t>(i)] = v;
  }
  return out;
}

}  // namespace ferry
