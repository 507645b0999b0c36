// conv_pool_util.h — small helpers shared by the conv and pool reference kernels.
#pragma once

#include <cstdint>
#include <vector>

#include "core/dtype_dispatch.h"
#include "ferry/tensor.h"

namespace ferry {

// Product of shape[from:].
inline int64_t prod_from(const Shape& s, size_t from) {
  int64_t p = 1;
  for (size_t i = from; i < s.size(); ++i) p *= s[i];
  return p;
}

// Row-major multi-index of every flat position in `dims` (small: kernel windows), as a [count][rank] table.
inline std::vector<std::vector<int64_t>> index_table(const std::vector<int64_t>& dims) {
  int64_t count = 1;
  for (int64_t d : dims) count *= d;
  std::vector<std::vector<int64_t>> t(static_cast<size_t>(count), std::vector<int64_t>(dims.size()));
  for (int64_t f = 0; f < count; ++f) {
    int64_t r = f;
    for (size_t k = dims.size(); k-- > 0;) {
      t[static_cast<size_t>(f)][k] = r % dims[k];
      r /= dims[k];
    }
  }
  return t;
}

// Decomposes flat index f over `dims` into `idx` (row-major).
inline void unflatten(int64_t f, const std::vector<int64_t>& dims, int64_t* idx) {
  for (size_t k = dims.size(); k-- > 0;) {
    idx[k] = f % dims[k];
    f /= dims[k];
  }
}

// Writes doubles into a float-typed tensor (float, double, float16, bfloat16) or any numeric one.
inline void write_doubles(Tensor& t, const std::vector<double>& v) {
  const int64_t n = t.numel();
  switch (t.dtype()) {
    case DType::kFloat: {
      float* p = t.data<float>();
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(v[static_cast<size_t>(i)]);
      break;
    }
    case DType::kDouble: {
      double* p = t.data<double>();
      for (int64_t i = 0; i < n; ++i) p[i] = v[static_cast<size_t>(i)];
      break;
    }
    default:
      for (int64_t i = 0; i < n; ++i) store_double(t, i, v[static_cast<size_t>(i)]);
  }
}

// Reads any numeric tensor as doubles (fast path for float/double).
inline std::vector<double> read_doubles(const Tensor& t) {
  const int64_t n = t.numel();
  if (t.dtype() == DType::kFloat) {
    const float* p = t.data<float>();
    return std::vector<double>(p, p + n);
  }
  if (t.dtype() == DType::kDouble) {
    const double* p = t.data<double>();
    return std::vector<double>(p, p + n);
  }
  return to_double_vector(t);
}

}  // namespace ferry
