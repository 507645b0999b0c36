// indexing.cc — CPU reference kernels of the indexing family, part 1: Gather, GatherElements, GatherND, OneHot,
// NonZero, Compress. Scatter* are in indexing_scatter.cc, Unique/TopK in indexing_sort.cc.
// Every index is validated before any memory is touched: a bad index is an error, never an out-of-bounds access.
#include <algorithm>
#include <cmath>

#include "backends/cpu/kernels/shape_util.h"

namespace ferry {
namespace {

int64_t prod(const Shape& s, int from, int to) {
  int64_t p = 1;
  for (int i = from; i < to; ++i) p *= s[static_cast<size_t>(i)];
  return p;
}

Status bad_index(const KernelContext& ctx, int64_t v, int64_t dim) {
  return ctx.error("index " + std::to_string(v) + " out of range for axis of size " + std::to_string(dim));
}

Status gather_kernel(KernelContext& ctx) {
  const Tensor &x = *ctx.input(0), &it = *ctx.input(1);
  if (x.rank() < 1) return ctx.error("data must have rank >= 1");
  FERRY_ASSIGN_OR_RETURN(int axis, node_axis(ctx, ctx.node().attr_int("axis", 0), x.rank()));
  const int64_t dim = x.dim(axis);
  std::vector<int64_t> idx = to_int64_vector(it);
  for (int64_t& v : idx) {
    int64_t w = wrap_index(v, dim);
    if (w < 0) return bad_index(ctx, v, dim);
    v = w;
  }
  Shape out_shape(x.shape().begin(), x.shape().begin() + axis);
  out_shape.insert(out_shape.end(), it.shape().begin(), it.shape().end());
  out_shape.insert(out_shape.end(), x.shape().begin() + axis + 1, x.shape().end());
  Tensor* y = ctx.output(0, x.dtype(), out_shape);
  const int64_t outer = prod(x.shape(), 0, axis), inner = prod(x.shape(), axis + 1, x.rank());
  const int64_t n = static_cast<int64_t>(idx.size());
  return visit_storage(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* src = x.data<T>();
    T* dst = y->data<T>();
    ctx.pool().parallel_for(outer * n, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        int64_t o = k / n, j = k % n;
        const T* s = src + (o * dim + idx[static_cast<size_t>(j)]) * inner;
        std::copy(s, s + inner, dst + k * inner);
      }
    }, std::max<int64_t>(1, 4096 / std::max<int64_t>(inner, 1)));
  });
}

Status gather_elements_kernel(KernelContext& ctx) {
  const Tensor &x = *ctx.input(0), &it = *ctx.input(1);
  const int r = x.rank();
  if (r < 1 || it.rank() != r) return ctx.error("data and indices must have the same rank >= 1");
  FERRY_ASSIGN_OR_RETURN(int axis, node_axis(ctx, ctx.node().attr_int("axis", 0), r));
  for (int d = 0; d < r; ++d)
    if (d != axis && it.dim(d) > x.dim(d)) return ctx.error("indices dim " + std::to_string(d) + " exceeds data dim");
  std::vector<int64_t> idx = to_int64_vector(it);
  const int64_t dim = x.dim(axis);
  for (int64_t& v : idx) {
    int64_t w = wrap_index(v, dim);
    if (w < 0) return bad_index(ctx, v, dim);
    v = w;
  }
  Tensor* y = ctx.output(0, x.dtype(), it.shape());
  Shape st = contiguous_strides(x.shape());
  return visit_storage(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* src = x.data<T>();
    T* dst = y->data<T>();
    std::vector<int64_t> pos(static_cast<size_t>(r), 0);
    for (int64_t k = 0; k < it.numel(); ++k) {
      int64_t off = 0;
      for (int d = 0; d < r; ++d)
        off += (d == axis ? idx[static_cast<size_t>(k)] : pos[static_cast<size_t>(d)]) * st[static_cast<size_t>(d)];
      dst[k] = src[off];
      for (int d = r - 1; d >= 0; --d) {
        if (++pos[static_cast<size_t>(d)] < it.dim(d)) break;
        pos[static_cast<size_t>(d)] = 0;
      }
    }
  });
}

Status gather_nd_kernel(KernelContext& ctx) {
  const Tensor &x = *ctx.input(0), &it = *ctx.input(1);
  const int r = x.rank(), q = it.rank();
  const int64_t b = ctx.node().attr_int("batch_dims", 0);
  if (q < 1 || r < 1) return ctx.error("data and indices must have rank >= 1");
  if (b < 0 || b >= std::min(r, q)) return ctx.error("batch_dims out of range");
  const int64_t k = it.dim(q - 1);
  if (k < 1 || b + k > r) return ctx.error("indices last dim " + std::to_string(k) + " too large for data rank");
  for (int i = 0; i < b; ++i)
    if (it.dim(i) != x.dim(i)) return ctx.error("batch dims of data and indices differ");
  const int bi = static_cast<int>(b), ki = static_cast<int>(k);
  const int64_t batches = prod(x.shape(), 0, bi), tuples = prod(it.shape(), bi, q - 1);
  const int64_t slice = prod(x.shape(), bi + ki, r), batch_stride = prod(x.shape(), bi, r);
  Shape st = contiguous_strides(x.shape());
  std::vector<int64_t> idx = to_int64_vector(it);
  std::vector<int64_t> offs(static_cast<size_t>(batches * tuples));
  for (int64_t t = 0; t < batches * tuples; ++t) {
    int64_t off = (t / std::max<int64_t>(tuples, 1)) * batch_stride;
    for (int j = 0; j < ki; ++j) {
      int64_t v = idx[static_cast<size_t>(t * k + j)], dim = x.dim(bi + j);
      int64_t w = wrap_index(v, dim);
      if (w < 0) return bad_index(ctx, v, dim);
      off += w * st[static_cast<size_t>(bi + j)];
    }
    offs[static_cast<size_t>(t)] = off;
  }
  Shape out_shape(it.shape().begin(), it.shape().end() - 1);
  out_shape.insert(out_shape.end(), x.shape().begin() + bi + ki, x.shape().end());
  Tensor* y = ctx.output(0, x.dtype(), out_shape);
  return visit_storage(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* src = x.data<T>();
    T* dst = y->data<T>();
    for (size_t t = 0; t < offs.size(); ++t) std::copy(src + offs[t], src + offs[t] + slice, dst + t * slice);
  });
}

Status one_hot_kernel(KernelContext& ctx) {
  const Tensor &it = *ctx.input(0), &dt = *ctx.input(1), &vals = *ctx.input(2);
  if (vals.numel() != 2) return ctx.error("values must have 2 elements [off, on]");
  if (dt.numel() != 1 || dt.dtype() == DType::kString || it.dtype() == DType::kString)
    return ctx.error("depth must be a numeric scalar");
  double dv = load_double(dt, 0);
  if (!(dv >= 1) || dv > 1e12) return ctx.error("depth must be positive");
  const int64_t depth = static_cast<int64_t>(dv);
  const int out_rank = it.rank() + 1;
  int64_t axis = ctx.node().attr_int("axis", -1);
  if (axis < -out_rank || axis >= out_rank) return ctx.error("axis out of range");
  if (axis < 0) axis += out_rank;
  Shape out_shape = it.shape();
  out_shape.insert(out_shape.begin() + axis, depth);
  Tensor* y = ctx.output(0, vals.dtype(), out_shape);
  const int64_t inner = prod(it.shape(), static_cast<int>(axis), it.rank());
  const int64_t n = it.numel();
  return visit_storage(vals.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* dst = y->data<T>();
    const T off = vals.data<T>()[0], on = vals.data<T>()[1];
    std::fill_n(dst, y->numel(), off);
    for (int64_t k = 0; k < n; ++k) {
      double v = std::trunc(load_double(it, k));
      if (!(v >= -static_cast<double>(depth) && v < static_cast<double>(depth))) continue;
      int64_t c = static_cast<int64_t>(v);
      if (c < 0) c += depth;
      int64_t o = k / inner, i = k % inner;
      dst[(o * depth + c) * inner + i] = on;
    }
  });
}

Status non_zero_kernel(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  std::vector<int64_t> hits;
  if (x.dtype() == DType::kString) {
    for (int64_t i = 0; i < x.numel(); ++i)
      if (!x.data<std::string>()[i].empty()) hits.push_back(i);
  } else {
    for (int64_t i = 0; i < x.numel(); ++i)
      if (load_double(x, i) != 0.0) hits.push_back(i);
  }
  const int r = x.rank();
  const int64_t nnz = static_cast<int64_t>(hits.size());
  Tensor* y = ctx.output(0, DType::kInt64, {r, nnz});
  Shape st = contiguous_strides(x.shape());
  int64_t* p = y->data<int64_t>();
  for (int64_t j = 0; j < nnz; ++j) {
    int64_t rem = hits[static_cast<size_t>(j)];
    for (int d = 0; d < r; ++d) {
      p[d * nnz + j] = rem / st[static_cast<size_t>(d)];
      rem %= st[static_cast<size_t>(d)];
    }
  }
  return Status::ok();
}

Status compress_kernel(KernelContext& ctx) {
  const Tensor &x = *ctx.input(0), &cond = *ctx.input(1);
  if (cond.dtype() != DType::kBool || cond.rank() != 1) return ctx.error("condition must be a 1-D bool tensor");
  const Attr* a = ctx.node().attr("axis");
  Tensor flat = x;
  int axis = 0;
  if (a == nullptr) {
    flat = x.reshaped({x.numel()});
  } else {
    if (x.rank() < 1) return ctx.error("cannot compress a scalar along an axis");
    FERRY_ASSIGN_OR_RETURN(axis, node_axis(ctx, a->i, x.rank()));
  }
  const int64_t dim = flat.dim(axis);
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < cond.numel(); ++i) {
    if (!cond.data<bool>()[i]) continue;
    if (i >= dim) return ctx.error("condition selects index " + std::to_string(i) + " beyond axis size " + std::to_string(dim));
    keep.push_back(i);
  }
  Shape out_shape = flat.shape();
  out_shape[static_cast<size_t>(axis)] = static_cast<int64_t>(keep.size());
  Tensor* y = ctx.output(0, x.dtype(), out_shape);
  const int64_t outer = prod(flat.shape(), 0, axis), inner = prod(flat.shape(), axis + 1, flat.rank());
  const int64_t m = static_cast<int64_t>(keep.size());
  return visit_storage(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* src = flat.data<T>();
    T* dst = y->data<T>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < m; ++j) {
        const T* s = src + (o * dim + keep[static_cast<size_t>(j)]) * inner;
        std::copy(s, s + inner, dst + (o * m + j) * inner);
      }
  });
}

}  // namespace

void register_indexing_scatter_kernels(KernelRegistry& r);  // indexing_scatter.cc
void register_indexing_sort_kernels(KernelRegistry& r);     // indexing_sort.cc

void register_indexing_kernels(KernelRegistry& r) {
  r.add_fn("", "Gather", gather_kernel);
  r.add_fn("", "GatherElements", gather_elements_kernel);
  r.add_fn("", "GatherND", gather_nd_kernel);
  r.add_fn("", "OneHot", one_hot_kernel);
  r.add_fn("", "NonZero", non_zero_kernel);
  r.add_fn("", "Compress", compress_kernel);
  register_indexing_scatter_kernels(r);
  register_indexing_sort_kernels(r);
}

}  // namespace ferry
