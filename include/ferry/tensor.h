// ferry/tensor.h — element types and the dense Tensor.
//
// DType values are the ONNX TensorProto.DataType numbers, so they round-trip through files unchanged.
// A Tensor is a dense, row-major, 64-byte aligned n-d array with shared ownership of its storage
// (copying a Tensor is cheap and aliases; clone() copies the data). Every element occupies at least one
// byte in memory: 4-bit and 2-bit types are stored unpacked, one value per byte (low bits), and are
// packed only when written to a file. float16/bfloat16/float8 are stored as their raw bit patterns
// (ferry::Half, ferry::BFloat16, uint8_t); STRING tensors hold std::string objects.
//
//   ferry::Tensor t = ferry::Tensor::zeros(ferry::DType::kFloat, {2, 3});
//   float* p = t.data<float>();
//   p[4] = 1.0f;                       // element (1, 1)
//   ferry::Tensor v = t.reshaped({6});  // same storage, new shape
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ferry {

enum class DType : int32_t {
  kUndefined = 0,
  kFloat = 1,
  kUInt8 = 2,
  kInt8 = 3,
  kUInt16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kFloat16 = 10,
  kDouble = 11,
  kUInt32 = 12,
  kUInt64 = 13,
  kComplex64 = 14,
  kComplex128 = 15,
  kBFloat16 = 16,
  kFloat8E4M3FN = 17,
  kFloat8E4M3FNUZ = 18,
  kFloat8E5M2 = 19,
  kFloat8E5M2FNUZ = 20,
  kUInt4 = 21,
  kInt4 = 22,
  kFloat4E2M1 = 23,
  kFloat8E8M0 = 24,
  kUInt2 = 25,
  kInt2 = 26,
};

// Bytes one element takes in memory (sub-byte types: 1, unpacked). 0 for kUndefined / unknown values.
size_t dtype_size(DType t);
// ONNX spelling: "float", "int64", "float16", "bfloat16", "float8e4m3fn", "string", ...
const char* dtype_name(DType t);
bool dtype_is_valid(int32_t onnx_type);
bool dtype_is_float(DType t);    // any floating type incl. float8/float4/e8m0
bool dtype_is_integer(DType t);  // signed or unsigned integers incl. 4/2-bit (not bool)
bool dtype_is_signed(DType t);
int dtype_bits(DType t);  // bits in the file format: 4 for int4, 32 for float, ...

// IEEE half and bfloat16 bit patterns; convert with to_float()/from_float() in src/core/float_convert.h.
struct Half { uint16_t bits; };
struct BFloat16 { uint16_t bits; };

using Shape = std::vector<int64_t>;
int64_t shape_numel(const Shape& s);        // product of dims; 1 for a scalar
std::string shape_to_string(const Shape& s);  // "[1,3,224,224]"

class Tensor {
 public:
  Tensor() = default;
  // Uninitialized storage (strings are empty). Negative dims are a caller bug (asserted).
  static Tensor empty(DType dtype, Shape shape);
  static Tensor zeros(DType dtype, Shape shape);
  template <typename T>
  static Tensor from_vector(DType dtype, Shape shape, const std::vector<T>& values);
  static Tensor scalar_float(float v);
  static Tensor scalar_int64(int64_t v);
  // A tensor over memory someone else allocated (e.g. an offset in a planned arena): `data` must stay valid
  // and large enough while `owner` lives; the tensor shares owner's ownership through the shared_ptr aliasing
  // constructor, so creating one allocates no storage. `data` should be 64-byte aligned. Not for kString.
  static Tensor view(DType dtype, Shape shape, const std::shared_ptr<void>& owner, void* data) {
    Tensor t;
    t.dtype_ = dtype;
    t.shape_ = std::move(shape);
    t.storage_ = std::shared_ptr<void>(owner, data);
    return t;
  }

  bool defined() const { return dtype_ != DType::kUndefined; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_[static_cast<size_t>(i)]; }
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }

  void* raw_data() { return static_cast<char*>(storage_.get()) + offset_; }
  const void* raw_data() const { return static_cast<const char*>(storage_.get()) + offset_; }
  template <typename T>
  T* data() { return static_cast<T*>(raw_data()); }
  template <typename T>
  const T* data() const { return static_cast<const T*>(raw_data()); }

  // Same storage, new shape with the same element count (asserted).
  Tensor reshaped(Shape shape) const;
  // Deep copy.
  Tensor clone() const;
  // True when both share storage.
  bool shares_storage_with(const Tensor& other) const { return storage_ == other.storage_; }

 private:
  DType dtype_ = DType::kUndefined;
  Shape shape_;
  std::shared_ptr<void> storage_;
  size_t offset_ = 0;
};

template <typename T>
Tensor Tensor::from_vector(DType dtype, Shape shape, const std::vector<T>& values) {
  Tensor t = empty(dtype, std::move(shape));
  T* p = t.data<T>();
  for (size_t i = 0; i < values.size() && static_cast<int64_t>(i) < t.numel(); ++i) p[i] = values[i];
  return t;
}

}  // namespace ferry
