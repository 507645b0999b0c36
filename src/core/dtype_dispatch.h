// dtype_dispatch.h — helpers that let a reference kernel be written once for many element types.
//
//   visit_dtype(t, [&](auto tag) { using T = typename decltype(tag)::type; ... });
// calls the lambda with a TypeTag<T> for T in {float, double, int8_t..uint64_t, bool, Half, BFloat16,
// std::string} and returns Status unsupported for the rest (narrow floats, sub-byte ints, complex).
//
// For kernels where speed does not matter, load_double()/store_double() read and write any numeric element
// (all floats incl. float8/float4, all ints incl. 4/2-bit, bool) through double; int64/uint64 beyond 2^53
// must use the typed path instead.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "core/float_convert.h"
#include "ferry/status.h"
#include "ferry/tensor.h"

namespace ferry {

template <typename T>
struct TypeTag {
  using type = T;
};

template <typename F>
Status visit_dtype(DType t, F&& f) {
  switch (t) {
    case DType::kFloat: f(TypeTag<float>{}); return Status::ok();
    case DType::kDouble: f(TypeTag<double>{}); return Status::ok();
    case DType::kInt8: f(TypeTag<int8_t>{}); return Status::ok();
    case DType::kInt16: f(TypeTag<int16_t>{}); return Status::ok();
    case DType::kInt32: f(TypeTag<int32_t>{}); return Status::ok();
    case DType::kInt64: f(TypeTag<int64_t>{}); return Status::ok();
    case DType::kUInt8: f(TypeTag<uint8_t>{}); return Status::ok();
    case DType::kUInt16: f(TypeTag<uint16_t>{}); return Status::ok();
    case DType::kUInt32: f(TypeTag<uint32_t>{}); return Status::ok();
    case DType::kUInt64: f(TypeTag<uint64_t>{}); return Status::ok();
    case DType::kBool: f(TypeTag<bool>{}); return Status::ok();
    case DType::kFloat16: f(TypeTag<Half>{}); return Status::ok();
    case DType::kBFloat16: f(TypeTag<BFloat16>{}); return Status::ok();
    case DType::kString: f(TypeTag<std::string>{}); return Status::ok();
    default: return unsupported(std::string("element type ") + dtype_name(t) + " not supported here");
  }
}

// Converts an element value of any arithmetic-like storage type to double and back.
template <typename T>
inline double elem_to_double(T v) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
    return static_cast<double>(to_float(v));
  } else {
    return static_cast<double>(v);
  }
}
template <typename T>
inline T elem_from_double(double v) {
  if constexpr (std::is_same_v<T, Half>) {
    return half_from_float(static_cast<float>(v));
  } else if constexpr (std::is_same_v<T, BFloat16>) {
    return bf16_from_float(static_cast<float>(v));
  } else if constexpr (std::is_same_v<T, bool>) {
    return v != 0.0;
  } else {
    return static_cast<T>(v);
  }
}

// Element i of any numeric tensor as double (see header comment for limits).
double load_double(const Tensor& t, int64_t i);
// Stores v into element i, rounding/wrapping as a C cast would (floats round-to-nearest-even; no saturation
// for float8 — use Cast for ONNX saturation rules).
void store_double(Tensor& t, int64_t i, double v);
std::vector<double> to_double_vector(const Tensor& t);
Tensor from_double_vector(DType dtype, Shape shape, const std::vector<double>& values);
// Integer tensors (any int type, bool) as int64 values.
std::vector<int64_t> to_int64_vector(const Tensor& t);

}  // namespace ferry
