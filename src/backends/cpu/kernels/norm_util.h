// norm_util.h — helpers shared by the norm and resize reference kernels: dispatch over the four floating
// storage types, element load/store through a compute type, and unidirectional broadcast index maps.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "core/dtype_dispatch.h"
#include "ferry/status.h"
#include "ferry/tensor.h"

namespace ferry::normk {

// Calls f(TypeTag<T>) for T in {float, double, Half, BFloat16}; unsupported for every other type.
template <typename F>
Status visit_float(DType t, F&& f) {
  switch (t) {
    case DType::kFloat: f(TypeTag<float>{}); return Status::ok();
    case DType::kDouble: f(TypeTag<double>{}); return Status::ok();
    case DType::kFloat16: f(TypeTag<Half>{}); return Status::ok();
    case DType::kBFloat16: f(TypeTag<BFloat16>{}); return Status::ok();
    default: return unsupported(std::string("element type ") + dtype_name(t) + " not supported (expected a float type)");
  }
}

// Compute type of a storage type: double for double, float otherwise.
template <typename T>
using Acc = std::conditional_t<std::is_same_v<T, double>, double, float>;

template <typename T>
inline Acc<T> ld(T v) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
    return to_float(v);
  } else {
    return v;
  }
}
template <typename T>
inline T st(double v) {
  return elem_from_double<T>(v);
}

// For every flat index of `to`, the flat index of `from` under numpy unidirectional broadcasting of
// `from` to `to`. Returns an empty vector when the mapping is the identity (same element count and
// layout). Error when `from` cannot be broadcast to `to`.
inline Expected<std::vector<int64_t>> broadcast_index(const Shape& from, const Shape& to) {
  {
    // Same dims after dropping leading 1s -> identity.
    size_t a = 0, b = 0;
    while (a < from.size() && from[a] == 1) ++a;
    while (b < to.size() && to[b] == 1) ++b;
    if (std::vector<int64_t>(from.begin() + a, from.end()) == std::vector<int64_t>(to.begin() + b, to.end()))
      return std::vector<int64_t>{};
  }
  int rf = static_cast<int>(from.size()), rt = static_cast<int>(to.size());
  for (int i = 0; i < rf - rt; ++i)
    if (from[static_cast<size_t>(i)] != 1)
      return invalid_argument("shape " + shape_to_string(from) + " cannot be broadcast to " + shape_to_string(to));
  std::vector<int64_t> fstride(static_cast<size_t>(rt), 0);
  int64_t s = 1;
  for (int k = rt - 1; k >= 0; --k) {
    int kf = k - (rt - rf);
    if (kf < 0) continue;
    int64_t fd = from[static_cast<size_t>(kf)];
    int64_t td = to[static_cast<size_t>(k)];
    if (fd != 1 && fd != td)
      return invalid_argument("shape " + shape_to_string(from) + " cannot be broadcast to " + shape_to_string(to));
    fstride[static_cast<size_t>(k)] = fd == 1 ? 0 : s;
    s *= fd;
  }
  int64_t n = shape_numel(to);
  std::vector<int64_t> map(static_cast<size_t>(n));
  std::vector<int64_t> idx(static_cast<size_t>(rt), 0);
  int64_t off = 0;
  for (int64_t i = 0; i < n; ++i) {
    map[static_cast<size_t>(i)] = off;
    for (int k = rt - 1; k >= 0; --k) {
      size_t ku = static_cast<size_t>(k);
      if (++idx[ku] < to[ku]) {
        off += fstride[ku];
        break;
      }
      off -= fstride[ku] * (to[ku] - 1);
      idx[ku] = 0;
    }
  }
  return map;
}

}  // namespace ferry::normk
