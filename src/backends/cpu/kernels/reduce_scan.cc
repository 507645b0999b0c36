// reduce_scan.cc — CPU reference kernels for single-axis reductions and scans: ArgMax, ArgMin, CumSum, CumProd.
// The input is viewed as [outer, n, inner] around the axis; each (outer, inner) pair is one independent line.
#include <type_traits>

#include "backends/cpu/kernel.h"
#include "core/dtype_dispatch.h"
#include "ops/op_registry.h"

namespace ferry {

namespace {

struct AxisView {
  int64_t outer = 1, n = 1, inner = 1;
};

AxisView axis_view(const Shape& s, int axis) {
  AxisView v;
  for (int i = 0; i < static_cast<int>(s.size()); ++i) {
    if (i < axis) v.outer *= s[i];
    else if (i == axis) v.n = s[i];
    else v.inner *= s[i];
  }
  return v;
}

template <typename T>
constexpr bool kIsFloat = std::is_floating_point_v<T> || std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;

template <typename T>
inline auto num(T v) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
    return to_float(v);
  } else {
    return v;
  }
}

Status arg_kernel(KernelContext& ctx, bool is_max) {
  const Tensor& x = *ctx.input(0);
  if (x.rank() == 0) return ctx.error("input must have rank >= 1");
  auto ax = normalize_axis(ctx.node().attr_int("axis", 0), x.rank());
  if (!ax) return ctx.error(ax.status().message());
  bool last = ctx.node().attr_int("select_last_index", 0) != 0;
  AxisView v = axis_view(x.shape(), *ax);
  if (v.n == 0 && v.outer * v.inner > 0) return ctx.error("cannot take ArgMax/ArgMin over an empty axis");
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  if (y->numel() != v.outer * v.inner) return ctx.error("internal: output size mismatch");
  int64_t* out = y->data<int64_t>();
  if (x.dtype() == DType::kString || x.dtype() == DType::kBool)
    return ctx.unsupported_error(std::string("input type ") + dtype_name(x.dtype()) + " not supported");
  return visit_dtype(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!std::is_same_v<T, std::string> && !std::is_same_v<T, bool>) {
      const T* p = x.data<T>();
      ctx.pool().parallel_for(
          v.outer * v.inner,
          [&](int64_t b, int64_t e) {
            for (int64_t line = b; line < e; ++line) {
              int64_t o = line / v.inner, in = line % v.inner;
              const T* q = p + o * v.n * v.inner + in;
              auto best = num(q[0]);
              int64_t bi = 0;
              for (int64_t j = 1; j < v.n; ++j) {
                auto cur = num(q[j * v.inner]);
                bool better = is_max ? (last ? cur >= best : cur > best) : (last ? cur <= best : cur < best);
                if (better) {
                  best = cur;
                  bi = j;
                }
              }
              out[line] = bi;
            }
          },
          std::max<int64_t>(1, 4096 / std::max<int64_t>(1, v.n)));
    }
  });
}

Status argmax(KernelContext& ctx) { return arg_kernel(ctx, true); }
Status argmin(KernelContext& ctx) { return arg_kernel(ctx, false); }

Status cum_kernel(KernelContext& ctx, bool is_prod) {
  const Tensor& x = *ctx.input(0);
  const Tensor& a = *ctx.input(1);
  if (a.dtype() != DType::kInt32 && a.dtype() != DType::kInt64) return ctx.error("axis must be int32 or int64");
  if (a.numel() != 1 || a.rank() > 1) return ctx.error("axis must be a scalar");
  int64_t axis = to_int64_vector(a)[0];
  if (x.rank() == 0 || axis < -x.rank() || axis >= x.rank())
    return ctx.error("axis " + std::to_string(axis) + " out of range for rank " + std::to_string(x.rank()));
  if (axis < 0) axis += x.rank();
  bool exclusive = ctx.node().attr_int("exclusive", 0) != 0;
  bool reverse = ctx.node().attr_int("reverse", 0) != 0;
  AxisView v = axis_view(x.shape(), static_cast<int>(axis));
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  if (x.dtype() == DType::kString || x.dtype() == DType::kBool)
    return ctx.unsupported_error(std::string("input type ") + dtype_name(x.dtype()) + " not supported");
  return visit_dtype(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!std::is_same_v<T, std::string> && !std::is_same_v<T, bool>) {
      using Acc = std::conditional_t<kIsFloat<T>, double, T>;
      const T* p = x.data<T>();
      T* q = y->data<T>();
      ctx.pool().parallel_for(
          v.outer * v.inner,
          [&](int64_t b, int64_t e) {
            for (int64_t line = b; line < e; ++line) {
              int64_t o = line / v.inner, in = line % v.inner;
              int64_t base = o * v.n * v.inner + in;
              Acc acc = is_prod ? Acc(1) : Acc(0);
              for (int64_t k = 0; k < v.n; ++k) {
                int64_t j = reverse ? v.n - 1 - k : k;
                int64_t idx = base + j * v.inner;
                Acc val;
                if constexpr (kIsFloat<T>) {
                  val = elem_to_double(p[idx]);
                } else {
                  val = p[idx];
                }
                if (!exclusive) acc = is_prod ? Acc(acc * val) : Acc(acc + val);
                if constexpr (kIsFloat<T>) {
                  q[idx] = elem_from_double<T>(acc);
                } else {
                  q[idx] = acc;
                }
                if (exclusive) acc = is_prod ? Acc(acc * val) : Acc(acc + val);
              }
            }
          },
          std::max<int64_t>(1, 4096 / std::max<int64_t>(1, v.n)));
    }
  });
}

Status cumsum(KernelContext& ctx) { return cum_kernel(ctx, false); }
Status cumprod(KernelContext& ctx) { return cum_kernel(ctx, true); }

}  // namespace

void register_reduce_scan_kernels(KernelRegistry& r) {
  r.add_fn("", "ArgMax", argmax);
  r.add_fn("", "ArgMin", argmin);
  r.add_fn("", "CumSum", cumsum);
  r.add_fn("", "CumProd", cumprod);
}

}  // namespace ferry
