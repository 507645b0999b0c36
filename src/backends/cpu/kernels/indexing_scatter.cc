// indexing_scatter.cc — CPU reference kernels of Scatter (opset 9-10), ScatterElements, ScatterND (with
// reduction none/add/mul/max/min) and TensorScatter. Each kernel first resolves every (destination, source)
// offset pair, validating all indices, then applies them in order (later duplicates win for "none").
#include <algorithm>
#include <type_traits>

#include "backends/cpu/kernels/shape_util.h"

namespace ferry {
namespace {

enum class Reduction { kNone, kAdd, kMul, kMax, kMin };

Expected<Reduction> parse_reduction(const KernelContext& ctx) {
  std::string s = ctx.node().attr_string("reduction", "none");
  if (s == "none") return Reduction::kNone;
  if (s == "add") return Reduction::kAdd;
  if (s == "mul") return Reduction::kMul;
  if (s == "max") return Reduction::kMax;
  if (s == "min") return Reduction::kMin;
  return ctx.error("unknown reduction '" + s + "'");
}

template <typename T>
T combine(Reduction red, T a, T b) {
  if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
    return elem_from_double<T>(static_cast<double>(combine<float>(red, to_float(a), to_float(b))));
  } else if constexpr (std::is_same_v<T, bool>) {
    switch (red) {
      case Reduction::kAdd: case Reduction::kMax: return a || b;
      case Reduction::kMul: case Reduction::kMin: return a && b;
      default: return b;
    }
  } else {
    switch (red) {
      case Reduction::kAdd: return static_cast<T>(a + b);
      case Reduction::kMul: return static_cast<T>(a * b);
      case Reduction::kMax: return std::max(a, b);
      case Reduction::kMin: return std::min(a, b);
      default: return b;
    }
  }
}

// out = data; then for each pair: out[dst + j] (op)= upd[src + j], j < slice.
Status apply_scatter(KernelContext& ctx, const Tensor& data, const Tensor& upd, Reduction red,
                     const std::vector<std::pair<int64_t, int64_t>>& pairs, int64_t slice) {
  if (upd.dtype() != data.dtype()) return ctx.error("updates and data have different element types");
  Tensor* y = ctx.output(0, data.dtype(), data.shape());
  if (red == Reduction::kNone) {
    return visit_storage(data.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* o = y->data<T>();
      const T* u = upd.data<T>();
      std::copy(data.data<T>(), data.data<T>() + data.numel(), o);
      for (const auto& [d, s] : pairs) std::copy(u + s, u + s + slice, o + d);
    });
  }
  if (data.dtype() == DType::kString) return ctx.error("reduction is not defined for strings");
  return visit_dtype(data.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!std::is_same_v<T, std::string>) {
      T* o = y->data<T>();
      const T* u = upd.data<T>();
      std::copy(data.data<T>(), data.data<T>() + data.numel(), o);
      for (const auto& [d, s] : pairs)
        for (int64_t j = 0; j < slice; ++j) o[d + j] = combine<T>(red, o[d + j], u[s + j]);
    }
  });
}

Status scatter_elements_kernel(KernelContext& ctx) {
  const Tensor &x = *ctx.input(0), &it = *ctx.input(1), &upd = *ctx.input(2);
  FERRY_ASSIGN_OR_RETURN(Reduction red, parse_reduction(ctx));
  const int r = x.rank();
  if (r < 1 || it.rank() != r) return ctx.error("data and indices must have the same rank >= 1");
  if (upd.shape() != it.shape()) return ctx.error("updates and indices must have the same shape");
  FERRY_ASSIGN_OR_RETURN(int axis, node_axis(ctx, ctx.node().attr_int("axis", 0), r));
  for (int d = 0; d < r; ++d)
    if (d != axis && it.dim(d) > x.dim(d)) return ctx.error("indices dim " + std::to_string(d) + " exceeds data dim");
  std::vector<int64_t> idx = to_int64_vector(it);
  Shape st = contiguous_strides(x.shape());
  std::vector<std::pair<int64_t, int64_t>> pairs;
  pairs.reserve(idx.size());
  std::vector<int64_t> pos(static_cast<size_t>(r), 0);
  for (int64_t k = 0; k < it.numel(); ++k) {
    int64_t w = wrap_index(idx[static_cast<size_t>(k)], x.dim(axis));
    if (w < 0)
      return ctx.error("index " + std::to_string(idx[static_cast<size_t>(k)]) + " out of range for axis of size " +
                       std::to_string(x.dim(axis)));
    int64_t off = 0;
    for (int d = 0; d < r; ++d) off += (d == axis ? w : pos[static_cast<size_t>(d)]) * st[static_cast<size_t>(d)];
    pairs.emplace_back(off, k);
    for (int d = r - 1; d >= 0; --d) {
      if (++pos[static_cast<size_t>(d)] < it.dim(d)) break;
      pos[static_cast<size_t>(d)] = 0;
    }
  }
  return apply_scatter(ctx, x, upd, red, pairs, 1);
}

Status scatter_nd_kernel(KernelContext& ctx) {
  const Tensor &x = *ctx.input(0), &it = *ctx.input(1), &upd = *ctx.input(2);
  FERRY_ASSIGN_OR_RETURN(Reduction red, parse_reduction(ctx));
  const int r = x.rank(), q = it.rank();
  if (r < 1 || q < 1) return ctx.error("data and indices must have rank >= 1");
  const int64_t k = it.dim(q - 1);
  if (k > r) return ctx.error("indices last dim exceeds data rank");
  Shape want(it.shape().begin(), it.shape().end() - 1);
  want.insert(want.end(), x.shape().begin() + k, x.shape().end());
  if (upd.shape() != want)
    return ctx.error("updates shape " + shape_to_string(upd.shape()) + ", expected " + shape_to_string(want));
  Shape st = contiguous_strides(x.shape());
  int64_t slice = 1;
  for (int d = static_cast<int>(k); d < r; ++d) slice *= x.dim(d);
  std::vector<int64_t> idx = to_int64_vector(it);
  const int64_t tuples = shape_numel(Shape(it.shape().begin(), it.shape().end() - 1));
  std::vector<std::pair<int64_t, int64_t>> pairs;
  for (int64_t t = 0; t < tuples; ++t) {
    int64_t off = 0;
    for (int j = 0; j < k; ++j) {
      int64_t v = idx[static_cast<size_t>(t * k + j)];
      int64_t w = wrap_index(v, x.dim(j));
      if (w < 0) return ctx.error("index " + std::to_string(v) + " out of range for axis of size " + std::to_string(x.dim(j)));
      off += w * st[static_cast<size_t>(j)];
    }
    pairs.emplace_back(off, t * slice);
  }
  return apply_scatter(ctx, x, upd, red, pairs, slice);
}

Status tensor_scatter_kernel(KernelContext& ctx) {
  const Tensor &past = *ctx.input(0), &upd = *ctx.input(1);
  const Tensor* wi = ctx.input(2);
  const int r = past.rank();
  if (r < 2 || upd.rank() != r) return ctx.error("past_cache and update must have the same rank >= 2");
  FERRY_ASSIGN_OR_RETURN(int axis, node_axis(ctx, ctx.node().attr_int("axis", -2), r));
  if (axis == 0) return ctx.error("axis cannot be the batch axis");
  for (int d = 0; d < r; ++d)
    if (d != axis && upd.dim(d) != past.dim(d)) return ctx.error("update shape does not match past_cache");
  const int64_t max_seq = past.dim(axis), seq = upd.dim(axis), batch = past.dim(0);
  if (seq > max_seq) return ctx.error("update sequence longer than the cache");
  bool circular = ctx.node().attr_string("mode", "linear") == "circular";
  std::vector<int64_t> w(static_cast<size_t>(batch), 0);
  if (wi != nullptr) {
    w = to_int64_vector(*wi);
    if (static_cast<int64_t>(w.size()) != batch) return ctx.error("write_indices must have batch_size values");
  }
  int64_t prefix = 1, per_batch = 1, inner = 1;
  for (int d = 0; d < axis; ++d) prefix *= past.dim(d);
  for (int d = 1; d < axis; ++d) per_batch *= past.dim(d);
  for (int d = axis + 1; d < r; ++d) inner *= past.dim(d);
  std::vector<std::pair<int64_t, int64_t>> pairs;
  for (int64_t p = 0; p < prefix; ++p) {
    int64_t b = p / per_batch;
    for (int64_t i = 0; i < seq; ++i) {
      int64_t pos = w[static_cast<size_t>(b)] + i;
      if (circular && max_seq > 0) pos = ((pos % max_seq) + max_seq) % max_seq;
      if (pos < 0 || pos >= max_seq)
        return ctx.error("write index " + std::to_string(pos) + " out of range for cache length " + std::to_string(max_seq));
      pairs.emplace_back((p * max_seq + pos) * inner, (p * seq + i) * inner);
    }
  }
  return apply_scatter(ctx, past, upd, Reduction::kNone, pairs, inner);
}

}  // namespace

void register_indexing_scatter_kernels(KernelRegistry& r) {
  r.add_fn("", "Scatter", scatter_elements_kernel);
  r.add_fn("", "ScatterElements", scatter_elements_kernel);
  r.add_fn("", "ScatterND", scatter_nd_kernel);
  r.add_fn("", "TensorScatter", tensor_scatter_kernel);
}

}  // namespace ferry
