// elementwise_util.h — shared helpers of the elementwise kernels: numpy broadcasting plans, per-type compute
// types (Half/BFloat16 compute in float) and safe numeric conversions.
//
//   BroadcastPlan p = make_broadcast_plan({&a.shape(), &b.shape()}, y->shape());
//   for_each_run(p, 0, y->numel(), [&](int64_t out, const int64_t* in, int64_t len, const int64_t* step) {
//     for (int64_t i = 0; i < len; ++i) y[out + i] = a[in[0] + i * step[0]] + b[in[1] + i * step[1]];
//   });
// A run is a contiguous stretch of the output's innermost (collapsed) dimension; each input advances by
// step[k] (0 when broadcast along it, 1 otherwise).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "backends/cpu/kernel.h"
#include "core/dtype_dispatch.h"

namespace ferry {

struct BroadcastPlan {
  std::vector<int64_t> dims;                  // collapsed output dims (at least one)
  std::vector<std::vector<int64_t>> strides;  // per input, per collapsed dim (0 where broadcast)
  int64_t inner = 1;                          // dims.back()
  int64_t rows = 0;                           // numel / inner
};

// Inputs must be broadcast-compatible with `out` (inference checked it).
inline BroadcastPlan make_broadcast_plan(const std::vector<const Shape*>& ins, const Shape& out) {
  const size_t rank = out.size();
  const size_t n = ins.size();
  std::vector<std::vector<int64_t>> full(n, std::vector<int64_t>(rank, 0));
  for (size_t k = 0; k < n; ++k) {
    const Shape& s = *ins[k];
    int64_t stride = 1;
    for (size_t j = s.size(); j-- > 0;) {
      size_t od = rank - s.size() + j;
      full[k][od] = (s[j] == 1 && out[od] != 1) ? 0 : stride;
      stride *= s[j];
    }
  }
  BroadcastPlan p;
  p.strides.assign(n, {});
  for (size_t d = 0; d < rank; ++d) {
    if (out[d] == 1) continue;  // size-1 dims never move any index
    bool merge = !p.dims.empty();
    if (merge) {
      for (size_t k = 0; k < n; ++k)
        if (p.strides[k].back() != full[k][d] * out[d]) merge = false;
    }
    if (merge) {
      p.dims.back() *= out[d];
      for (size_t k = 0; k < n; ++k) p.strides[k].back() = full[k][d];
    } else {
      p.dims.push_back(out[d]);
      for (size_t k = 0; k < n; ++k) p.strides[k].push_back(full[k][d]);
    }
  }
  if (p.dims.empty()) {
    p.dims.push_back(1);
    for (size_t k = 0; k < n; ++k) p.strides[k].push_back(0);
  }
  p.inner = p.dims.back();
  int64_t total = 1;
  for (int64_t d : p.dims) total *= d;
  p.rows = p.inner == 0 ? 0 : total / p.inner;
  return p;
}

// Visits output elements [begin, end) of the plan as runs along the innermost collapsed dimension:
// fn(out_offset, in_offsets, len, steps) with in_offsets[k] the element offset of input k at out_offset.
template <typename F>
void for_each_run(const BroadcastPlan& p, int64_t begin, int64_t end, F&& fn) {
  if (p.inner <= 0 || begin >= end) return;
  const size_t n = p.strides.size();
  const int outer = static_cast<int>(p.dims.size()) - 1;
  int64_t offs[8];
  int64_t steps[8];
  std::vector<int64_t> offs_big, steps_big;
  int64_t* o = offs;
  int64_t* st = steps;
  if (n > 8) {
    offs_big.resize(n);
    steps_big.resize(n);
    o = offs_big.data();
    st = steps_big.data();
  }
  for (size_t k = 0; k < n; ++k) st[k] = p.strides[k].back();
  int64_t r = begin / p.inner, c = begin % p.inner;
  while (begin < end) {
    int64_t rem = r;
    for (size_t k = 0; k < n; ++k) o[k] = c * st[k];
    for (int d = outer - 1; d >= 0; --d) {
      int64_t idx = rem % p.dims[static_cast<size_t>(d)];
      rem /= p.dims[static_cast<size_t>(d)];
      for (size_t k = 0; k < n; ++k) o[k] += idx * p.strides[k][static_cast<size_t>(d)];
    }
    int64_t len = std::min(p.inner - c, end - begin);
    fn(begin, static_cast<const int64_t*>(o), len, static_cast<const int64_t*>(st));
    begin += len;
    c = 0;
    ++r;
  }
}

// Runs fn(begin, end) over [0, n) flat elements, in parallel for large n.
template <typename F>
void parallel_elems(KernelContext& ctx, int64_t n, F&& fn) {
  if (n < (1 << 16)) {
    fn(int64_t{0}, n);
    return;
  }
  ctx.pool().parallel_for(n, [&](int64_t b, int64_t e) { fn(b, e); }, 1 << 14);
}

// Compute type of a storage type: Half/BFloat16 compute in float, the rest in themselves.
template <typename T>
struct ComputeOf {
  using type = T;
};
template <>
struct ComputeOf<Half> {
  using type = float;
};
template <>
struct ComputeOf<BFloat16> {
  using type = float;
};
template <typename T>
using compute_t = typename ComputeOf<T>::type;

template <typename T>
inline compute_t<T> to_compute(T v) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
    return to_float(v);
  } else {
    return v;
  }
}
template <typename T>
inline T from_compute(compute_t<T> v) {
  if constexpr (std::is_same_v<T, Half>) {
    return half_from_float(v);
  } else if constexpr (std::is_same_v<T, BFloat16>) {
    return bf16_from_float(v);
  } else {
    return v;
  }
}

template <typename T>
constexpr bool is_float_storage_v = std::is_floating_point_v<T> || std::is_same_v<T, Half> ||
                                    std::is_same_v<T, BFloat16>;

// double -> integer without undefined behaviour: NaN -> 0, out-of-range values saturate.
template <typename I>
inline I saturate_to_int(double v) {
  if (std::isnan(v)) return I(0);
  if constexpr (std::is_same_v<I, bool>) {
    return v != 0.0;
  } else {
    constexpr double lo = static_cast<double>(std::numeric_limits<I>::lowest());
    constexpr double hi = static_cast<double>(std::numeric_limits<I>::max());
    if (v <= lo) return std::numeric_limits<I>::lowest();
    if (v >= hi) return std::numeric_limits<I>::max();
    return static_cast<I>(v);
  }
}

// double -> any storage type of visit_dtype (except string): floats round, integers saturate.
template <typename T>
inline T cast_from_double(double v) {
  if constexpr (is_float_storage_v<T>) {
    return elem_from_double<T>(v);
  } else {
    return saturate_to_int<T>(v);
  }
}

}  // namespace ferry
