// indexing_sort.cc — CPU reference kernels of TopK and Unique (comparison-based indexing ops).
// Ties are broken by index (the lower index first), so results are deterministic; NaN sorts above every number.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <type_traits>

#include "backends/cpu/kernels/shape_util.h"

namespace ferry {
namespace {

// A totally ordered key for an element: float for half types, the value itself otherwise.
template <typename T>
auto key_of(const T& v) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) return to_float(v);
  else return v;
}

template <typename K>
bool key_less(const K& a, const K& b) {
  if constexpr (std::is_floating_point_v<K>) {
    if (std::isnan(b)) return !std::isnan(a);
    if (std::isnan(a)) return false;
  }
  return a < b;
}

Status topk_kernel(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  if (x.rank() < 1) return ctx.error("input must have rank >= 1");
  FERRY_ASSIGN_OR_RETURN(int axis, node_axis(ctx, ctx.node().attr_int("axis", -1), x.rank()));
  int64_t k = 0;
  if (ctx.opset() < 10) {
    k = ctx.node().attr_int("k", -1);
  } else {
    const Tensor* kt = ctx.input(1);
    if (kt == nullptr || kt->numel() != 1) return ctx.error("K must be a one-element tensor");
    k = to_int64_vector(*kt)[0];
  }
  const int64_t dim = x.dim(axis);
  if (k < 0 || k > dim) return ctx.error("K=" + std::to_string(k) + " out of range for axis of size " + std::to_string(dim));
  const bool largest = ctx.node().attr_int("largest", 1) != 0;
  Shape out_shape = x.shape();
  out_shape[static_cast<size_t>(axis)] = k;
  Tensor* vals = ctx.output(0, x.dtype(), out_shape);
  Tensor* inds = ctx.output(1, DType::kInt64, out_shape);
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= x.dim(d);
  for (int d = axis + 1; d < x.rank(); ++d) inner *= x.dim(d);
  if (x.dtype() == DType::kString) return ctx.error("TopK of strings");
  return visit_dtype(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!std::is_same_v<T, std::string>) {
      const T* src = x.data<T>();
      T* vo = vals->data<T>();
      int64_t* io = inds->data<int64_t>();
      ctx.pool().parallel_for(outer * inner, [&](int64_t b, int64_t e) {
        std::vector<int64_t> order(static_cast<size_t>(dim));
        for (int64_t row = b; row < e; ++row) {
          int64_t o = row / inner, i = row % inner;
          const T* base = src + o * dim * inner + i;
          std::iota(order.begin(), order.end(), 0);
          auto cmp = [&](int64_t p, int64_t q) {
            auto a = key_of(base[p * inner]), c = key_of(base[q * inner]);
            if (largest ? key_less(c, a) : key_less(a, c)) return true;
            if (largest ? key_less(a, c) : key_less(c, a)) return false;
            return p < q;
          };
          std::partial_sort(order.begin(), order.begin() + k, order.end(), cmp);
          for (int64_t j = 0; j < k; ++j) {
            int64_t off = (o * k + j) * inner + i;
            vo[off] = base[order[static_cast<size_t>(j)] * inner];
            io[off] = order[static_cast<size_t>(j)];
          }
        }
      });
    }
  });
}

Status unique_kernel(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  const Attr* a = ctx.node().attr("axis");
  const bool sorted = ctx.node().attr_int("sorted", 1) != 0;
  int axis = 0;
  Tensor v = x;
  if (a == nullptr) {
    v = x.reshaped({x.numel()});
  } else {
    if (x.rank() < 1) return ctx.error("axis given for a scalar");
    FERRY_ASSIGN_OR_RETURN(axis, node_axis(ctx, a->i, x.rank()));
  }
  const int64_t dim = v.dim(axis);
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= v.dim(d);
  for (int d = axis + 1; d < v.rank(); ++d) inner *= v.dim(d);
  // Slices sorted (stably) by value, then grouped.
  std::vector<int64_t> order(static_cast<size_t>(dim));
  std::iota(order.begin(), order.end(), 0);
  std::vector<int64_t> group_of(static_cast<size_t>(dim));  // group index (in sorted order) of each slice
  std::vector<int64_t> first, count;                        // per sorted group
  FERRY_RETURN_IF_ERROR(visit_dtype(v.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* src = v.data<T>();
    auto cmp3 = [&](int64_t p, int64_t q) {  // -1, 0, 1 lexicographic over the slice
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
          auto ka = key_of(src[(o * dim + p) * inner + i]), kb = key_of(src[(o * dim + q) * inner + i]);
          if (key_less(ka, kb)) return -1;
          if (key_less(kb, ka)) return 1;
        }
      return 0;
    };
    std::stable_sort(order.begin(), order.end(), [&](int64_t p, int64_t q) { return cmp3(p, q) < 0; });
    for (size_t j = 0; j < order.size(); ++j) {
      if (j == 0 || cmp3(order[j - 1], order[j]) != 0) {
        first.push_back(order[j]);
        count.push_back(0);
      }
      group_of[static_cast<size_t>(order[j])] = static_cast<int64_t>(first.size()) - 1;
      ++count.back();
    }
  }));
  const int64_t u = static_cast<int64_t>(first.size());
  // Output position of each sorted group.
  std::vector<int64_t> gorder(static_cast<size_t>(u));
  std::iota(gorder.begin(), gorder.end(), 0);
  if (!sorted) std::sort(gorder.begin(), gorder.end(), [&](int64_t p, int64_t q) { return first[p] < first[q]; });
  std::vector<int64_t> pos_of(static_cast<size_t>(u));
  for (int64_t j = 0; j < u; ++j) pos_of[static_cast<size_t>(gorder[static_cast<size_t>(j)])] = j;

  Shape ys = v.shape();
  ys[static_cast<size_t>(axis)] = u;
  Tensor* y = ctx.output(0, x.dtype(), ys);
  FERRY_RETURN_IF_ERROR(visit_storage(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* src = v.data<T>();
    T* dst = y->data<T>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < u; ++j) {
        const T* s = src + (o * dim + first[static_cast<size_t>(gorder[static_cast<size_t>(j)])]) * inner;
        std::copy(s, s + inner, dst + (o * u + j) * inner);
      }
  }));
  if (ctx.has_output(1)) {
    int64_t* p = ctx.output(1, DType::kInt64, {u})->data<int64_t>();
    for (int64_t j = 0; j < u; ++j) p[j] = first[static_cast<size_t>(gorder[static_cast<size_t>(j)])];
  }
  if (ctx.has_output(2)) {
    int64_t* p = ctx.output(2, DType::kInt64, {dim})->data<int64_t>();
    for (int64_t j = 0; j < dim; ++j) p[j] = pos_of[static_cast<size_t>(group_of[static_cast<size_t>(j)])];
  }
  if (ctx.has_output(3)) {
    int64_t* p = ctx.output(3, DType::kInt64, {u})->data<int64_t>();
    for (int64_t j = 0; j < u; ++j) p[j] = count[static_cast<size_t>(gorder[static_cast<size_t>(j)])];
  }
  return Status::ok();
}

}  // namespace

void register_indexing_sort_kernels(KernelRegistry& r) {
  r.add_fn("", "TopK", topk_kernel);
  r.add_fn("", "Unique", unique_kernel);
}

}  // namespace ferry
