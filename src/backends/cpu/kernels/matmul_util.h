// matmul_util.h — helpers shared by the matmul-family reference kernels.
#pragma once

#include <cstdint>
#include <type_traits>

#include "core/dtype_dispatch.h"

namespace ferry {

// Accumulator for dot products of element type T: double for floating types, uint64_t (wrap-around, the
// result of a C cast chain) for integers so that overflow is defined and matches modular arithmetic.
template <typename T>
struct DotAcc {
  static constexpr bool kFloat = std::is_floating_point_v<T> || std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;
  using type = std::conditional_t<kFloat, double, uint64_t>;
  static type load(T v) {
    if constexpr (kFloat) {
      return elem_to_double(v);
    } else if constexpr (std::is_signed_v<T>) {
      return static_cast<uint64_t>(static_cast<int64_t>(v));
    } else {
      return static_cast<uint64_t>(v);
    }
  }
  static T store(type v) {
    if constexpr (kFloat) {
      return elem_from_double<T>(v);
    } else if constexpr (std::is_signed_v<T>) {
      return static_cast<T>(static_cast<int64_t>(v));
    } else {
      return static_cast<T>(v);
    }
  }
};

}  // namespace ferry
