#include <cassert>
#include <cstdlib>
#include <cstring>
#include <new>

#include "ferry/tensor.h"

namespace ferry {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::kFloat: case DType::kInt32: case DType::kUInt32: return 4;
    case DType::kDouble: case DType::kInt64: case DType::kUInt64: case DType::kComplex64: return 8;
    case DType::kComplex128: return 16;
    case DType::kFloat16: case DType::kBFloat16: case DType::kInt16: case DType::kUInt16: return 2;
    case DType::kUInt8: case DType::kInt8: case DType::kBool: case DType::kFloat8E4M3FN: case DType::kFloat8E4M3FNUZ:
    case DType::kFloat8E5M2: case DType::kFloat8E5M2FNUZ: case DType::kUInt4: case DType::kInt4:
    case DType::kFloat4E2M1: case DType::kFloat8E8M0: case DType::kUInt2: case DType::kInt2: return 1;
    case DType::kString: return sizeof(std::string);
    case DType::kUndefined: return 0;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::kUndefined: return "undefined";
    case DType::kFloat: return "float";
    case DType::kUInt8: return "uint8";
    case DType::kInt8: return "int8";
    case DType::kUInt16: return "uint16";
    case DType::kInt16: return "int16";
    case DType::kInt32: return "int32";
    case DType::kInt64: return "int64";
    case DType::kString: return "string";
    case DType::kBool: return "bool";
    case DType::kFloat16: return "float16";
    case DType::kDouble: return "double";
    case DType::kUInt32: return "uint32";
    case DType::kUInt64: return "uint64";
    case DType::kComplex64: return "complex64";
    case DType::kComplex128: return "complex128";
    case DType::kBFloat16: return "bfloat16";
    case DType::kFloat8E4M3FN: return "float8e4m3fn";
    case DType::kFloat8E4M3FNUZ: return "float8e4m3fnuz";
    case DType::kFloat8E5M2: return "float8e5m2";
    case DType::kFloat8E5M2FNUZ: return "float8e5m2fnuz";
    case DType::kUInt4: return "uint4";
    case DType::kInt4: return "int4";
    case DType::kFloat4E2M1: return "float4e2m1";
    case DType::kFloat8E8M0: return "float8e8m0";
    case DType::kUInt2: return "uint2";
    case DType::kInt2: return "int2";
  }
  return "invalid";
}

bool dtype_is_valid(int32_t v) { return v >= 1 && v <= 26; }

bool dtype_is_float(DType t) {
  switch (t) {
    case DType::kFloat: case DType::kDouble: case DType::kFloat16: case DType::kBFloat16: case DType::kFloat8E4M3FN:
    case DType::kFloat8E4M3FNUZ: case DType::kFloat8E5M2: case DType::kFloat8E5M2FNUZ: case DType::kFloat4E2M1:
    case DType::kFloat8E8M0: return true;
    default: return false;
  }
}

bool dtype_is_integer(DType t) {
  switch (t) {
    case DType::kUInt8: case DType::kInt8: case DType::kUInt16: case DType::kInt16: case DType::kInt32:
    case DType::kInt64: case DType::kUInt32: case DType::kUInt64: case DType::kUInt4: case DType::kInt4:
    case DType::kUInt2: case DType::kInt2: return true;
    default: return false;
  }
}

bool dtype_is_signed(DType t) {
  switch (t) {
    case DType::kInt8: case DType::kInt16: case DType::kInt32: case DType::kInt64: case DType::kInt4: case DType::kInt2:
      return true;
    default: return dtype_is_float(t);
  }
}

int dtype_bits(DType t) {
  switch (t) {
    case DType::kUInt4: case DType::kInt4: case DType::kFloat4E2M1: return 4;
    case DType::kUInt2: case DType::kInt2: return 2;
    case DType::kBool: return 8;
    default: return static_cast<int>(dtype_size(t) * 8);
  }
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shape_to_string(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ",";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

namespace {
constexpr size_t kAlign = 64;

std::shared_ptr<void> allocate_storage(DType dtype, int64_t numel, bool zero) {
  size_t n = static_cast<size_t>(numel);
  if (dtype == DType::kString) {
    auto* strings = new std::string[n > 0 ? n : 1];
    return std::shared_ptr<void>(strings, [](void* p) { delete[] static_cast<std::string*>(p); });
  }
  size_t bytes = n * dtype_size(dtype);
  size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
  if (rounded == 0) rounded = kAlign;
  void* p = std::aligned_alloc(kAlign, rounded);
  if (!p) throw std::bad_alloc();  // the session converts this into an OutOfMemory status
  if (zero) std::memset(p, 0, rounded);
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}
}  // namespace

Tensor Tensor::empty(DType dtype, Shape shape) {
  for (int64_t d : shape) assert(d >= 0);
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.storage_ = allocate_storage(dtype, t.numel(), false);
  return t;
}

Tensor Tensor::zeros(DType dtype, Shape shape) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.storage_ = allocate_storage(dtype, t.numel(), true);
  return t;
}

Tensor Tensor::scalar_float(float v) { return from_vector<float>(DType::kFloat, {}, {v}); }
Tensor Tensor::scalar_int64(int64_t v) { return from_vector<int64_t>(DType::kInt64, {}, {v}); }

Tensor Tensor::reshaped(Shape shape) const {
  assert(shape_numel(shape) == numel());
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::clone() const {
  if (!defined()) return Tensor();
  Tensor t = empty(dtype_, shape_);
  if (dtype_ == DType::kString) {
    const auto* src = data<std::string>();
    auto* dst = t.data<std::string>();
    for (int64_t i = 0; i < numel(); ++i) dst[i] = src[i];
  } else if (nbytes() > 0) {
    std::memcpy(t.raw_data(), raw_data(), nbytes());
  }
  return t;
}

}  // namespace ferry
