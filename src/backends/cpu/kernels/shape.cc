// shape.cc — CPU reference kernels of the shape family, part 1: views (Reshape, Flatten, Squeeze, Unsqueeze,
// Identity), Shape, Size, Constant, ConstantOfShape, Transpose, Concat, Split, Slice, Expand, Tile; plus the
// shared helpers of shape_util.h. Part 2 (Pad, Range, ...) is in shape_more.cc.
#include <algorithm>
#include <cstring>

#include "backends/cpu/kernels/shape_util.h"
#include "ops/shape_params.h"

namespace ferry {

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size(), 1);
  for (int i = static_cast<int>(s.size()) - 2; i >= 0; --i)
    st[static_cast<size_t>(i)] = st[static_cast<size_t>(i) + 1] * s[static_cast<size_t>(i) + 1];
  return st;
}

std::optional<std::vector<int64_t>> input_or_attr_ints(const KernelContext& ctx, int idx, const char* attr) {
  if (idx >= 0 && ctx.input(idx) != nullptr) return to_int64_vector(*ctx.input(idx));
  if (attr != nullptr) {
    if (const Attr* a = ctx.node().attr(attr))
      return a->kind == Attr::Kind::kInt ? std::vector<int64_t>{a->i} : a->ints;
  }
  return std::nullopt;
}

Expected<Shape> inferred_shape(const KernelContext& ctx, int i) {
  const SymShape& s = ctx.inferred(i).shape;
  if (!s.is_concrete()) return internal_error("node " + ctx.node().display_name() + ": output shape not inferred");
  return s.to_shape();
}

Status copy_by_axis_maps(KernelContext& ctx, const Tensor& in, Tensor& out,
                         const std::vector<std::vector<int64_t>>& maps, const Tensor* fill) {
  const int r = out.rank();
  const int64_t n = out.numel();
  if (n == 0) return Status::ok();
  return visit_storage(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* src = in.data<T>();
    T* dst = out.data<T>();
    const T fv = fill != nullptr ? fill->data<T>()[0] : T{};
    if (r == 0) {
      dst[0] = src[0];
      return;
    }
    const int64_t inner = out.dim(r - 1);
    const int64_t rows = n / inner;
    const std::vector<int64_t>& last = maps[static_cast<size_t>(r - 1)];
    ctx.pool().parallel_for(
        rows,
        [&](int64_t b, int64_t e) {
          std::vector<int64_t> idx(static_cast<size_t>(r - 1), 0);
          int64_t rem = b;
          for (int d = r - 2; d >= 0; --d) {
            idx[static_cast<size_t>(d)] = rem % out.dim(d);
            rem /= out.dim(d);
          }
          for (int64_t row = b; row < e; ++row) {
            int64_t base = 0;
            bool fill_row = false;
            for (int d = 0; d < r - 1; ++d) {
              int64_t m = maps[static_cast<size_t>(d)][static_cast<size_t>(idx[static_cast<size_t>(d)])];
              if (m < 0) fill_row = true;
              base += m;
            }
            T* o = dst + row * inner;
            if (fill_row) {
              for (int64_t j = 0; j < inner; ++j) o[j] = fv;
            } else {
              for (int64_t j = 0; j < inner; ++j) {
                int64_t m = last[static_cast<size_t>(j)];
                o[j] = m < 0 ? fv : src[base + m];
              }
            }
            for (int d = r - 2; d >= 0; --d) {
              if (++idx[static_cast<size_t>(d)] < out.dim(d)) break;
              idx[static_cast<size_t>(d)] = 0;
            }
          }
        },
        std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)));
  });
}

Status transpose_into(KernelContext& ctx, const Tensor& in, Tensor& out, const std::vector<int64_t>& perm) {
  Shape st = contiguous_strides(in.shape());
  std::vector<std::vector<int64_t>> maps(perm.size());
  for (size_t d = 0; d < perm.size(); ++d) {
    int64_t s = st[static_cast<size_t>(perm[d])];
    for (int64_t o = 0; o < out.dim(static_cast<int>(d)); ++o) maps[d].push_back(o * s);
  }
  return copy_by_axis_maps(ctx, in, out, maps, nullptr);
}

namespace {

// Reshape, Flatten, Squeeze, Unsqueeze: the inferred shape over the same storage.
Status view_kernel(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  FERRY_ASSIGN_OR_RETURN(Shape s, inferred_shape(ctx, 0));
  if (shape_numel(s) != x.numel())
    return ctx.error("cannot view " + shape_to_string(x.shape()) + " as " + shape_to_string(s));
  ctx.set_output(0, x.reshaped(s));
  return Status::ok();
}

Status identity_kernel(KernelContext& ctx) {
  ctx.set_output(0, *ctx.input(0));
  return Status::ok();
}

Status shape_kernel(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  int64_t r = x.rank();
  int64_t start = ctx.node().attr_int("start", 0), end = ctx.node().attr_int("end", r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = std::clamp<int64_t>(start, 0, r);
  end = std::clamp<int64_t>(end, 0, r);
  Tensor* y = ctx.output(0, DType::kInt64, {std::max<int64_t>(end - start, 0)});
  for (int64_t i = start; i < end; ++i) y->data<int64_t>()[i - start] = x.dim(static_cast<int>(i));
  return Status::ok();
}

Status size_kernel(KernelContext& ctx) {
  Tensor* y = ctx.output(0, DType::kInt64, {});
  y->data<int64_t>()[0] = ctx.input(0)->numel();
  return Status::ok();
}

Status constant_kernel(KernelContext& ctx) {
  const Node& n = ctx.node();
  if (const Tensor* t = n.attr_tensor("value")) {
    ctx.set_output(0, *t);
  } else if (const Attr* a = n.attr("value_float")) {
    ctx.set_output(0, Tensor::scalar_float(a->f));
  } else if (const Attr* a = n.attr("value_floats")) {
    ctx.set_output(0, Tensor::from_vector<float>(DType::kFloat, {static_cast<int64_t>(a->floats.size())}, a->floats));
  } else if (const Attr* a = n.attr("value_int")) {
    ctx.set_output(0, Tensor::scalar_int64(a->i));
  } else if (const Attr* a = n.attr("value_ints")) {
    ctx.set_output(0, Tensor::from_vector<int64_t>(DType::kInt64, {static_cast<int64_t>(a->ints.size())}, a->ints));
  } else if (const Attr* a = n.attr("value_string")) {
    ctx.set_output(0, Tensor::from_vector<std::string>(DType::kString, {}, {a->s}));
  } else if (const Attr* a = n.attr("value_strings")) {
    ctx.set_output(0,
                   Tensor::from_vector<std::string>(DType::kString, {static_cast<int64_t>(a->strings.size())}, a->strings));
  } else {
    return ctx.unsupported_error("Constant without a supported value attribute");
  }
  return Status::ok();
}

Status constant_of_shape_kernel(KernelContext& ctx) {
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  const Tensor* v = ctx.node().attr_tensor("value");
  if (v == nullptr) {
    std::fill_n(y->data<float>(), y->numel(), 0.0f);
    return Status::ok();
  }
  if (v->numel() != 1 || v->dtype() != y->dtype()) return ctx.error("value must be a one-element tensor");
  return visit_storage(y->dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    std::fill_n(y->data<T>(), y->numel(), v->data<T>()[0]);
  });
}

Status transpose_kernel(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  std::vector<int64_t> perm = ctx.node().attr_ints("perm");
  if (perm.empty())
    for (int i = x.rank() - 1; i >= 0; --i) perm.push_back(i);
  // A perm that only moves size-1 axes keeps the element order ([1,S,C] -> [S,1,C] at batch 1): a view, no copy.
  if (static_cast<int>(perm.size()) == x.rank() && x.dtype() != DType::kString) {
    Shape shape;
    int64_t last = -1;
    bool order_kept = true;
    for (int64_t a : perm) {
      if (a < 0 || a >= x.rank()) {
        order_kept = false;
        break;
      }
      shape.push_back(x.dim(static_cast<int>(a)));
      if (x.dim(static_cast<int>(a)) == 1) continue;
      order_kept = order_kept && a > last;
      last = a;
    }
    if (order_kept && ctx.inferred(0).shape.is_concrete() && ctx.inferred(0).shape.to_shape() == shape) {
      ctx.set_output(0, x.reshaped(shape));
      return Status::ok();
    }
  }
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  if (static_cast<int>(perm.size()) != x.rank() || y->rank() != x.rank()) return ctx.error("perm does not match rank");
  return transpose_into(ctx, x, *y, perm);
}

Status concat_kernel(KernelContext& ctx) {
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  int r = y->rank();
  FERRY_ASSIGN_OR_RETURN(int axis, node_axis(ctx, ctx.node().attr_int("axis", ctx.opset() < 4 ? 1 : 0), r));
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= y->dim(d);
  for (int d = axis + 1; d < r; ++d) inner *= y->dim(d);
  int64_t total = 0;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    const Tensor* x = ctx.input(i);
    if (x == nullptr || x->rank() != r || x->dtype() != y->dtype()) return ctx.error("inputs do not match");
    for (int d = 0; d < r; ++d)
      if (d != axis && x->dim(d) != y->dim(d)) return ctx.error("input " + std::to_string(i) + " shape does not match");
    total += x->dim(axis);
  }
  if (total != y->dim(axis)) return ctx.error("inputs do not match the output");
  const int64_t out_block = y->dim(axis) * inner;
  return visit_storage(y->dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    int64_t offset = 0;
    for (int i = 0; i < ctx.num_inputs(); ++i) {
      const Tensor* x = ctx.input(i);
      const int64_t block = x->dim(axis) * inner;
      const T* src = x->data<T>();
      T* dst = y->data<T>() + offset;
      if (block > 0)
        for (int64_t o = 0; o < outer; ++o) std::copy(src + o * block, src + (o + 1) * block, dst + o * out_block);
      offset += block;
    }
  });
}

Status split_kernel(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  if (x.rank() < 1) return ctx.error("cannot split a scalar");
  FERRY_ASSIGN_OR_RETURN(int axis, node_axis(ctx, ctx.node().attr_int("axis", 0), x.rank()));
  std::optional<std::vector<int64_t>> split =
      ctx.opset() >= 13 ? input_or_attr_ints(ctx, 1, nullptr) : input_or_attr_ints(ctx, 1, "split");
  if (ctx.opset() < 13 && ctx.node().attr("split")) split = ctx.node().attr_ints("split");
  auto sizes = resolve_split(x.dim(axis), ctx.num_outputs(), split, ctx.node().attr_int("num_outputs", 0));
  if (!sizes) return ctx.error(sizes.status().message());
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= x.dim(d);
  for (int d = axis + 1; d < x.rank(); ++d) inner *= x.dim(d);
  const int64_t in_block = x.dim(axis) * inner;
  int64_t offset = 0;
  for (int i = 0; i < ctx.num_outputs(); ++i) {
    int64_t len = (*sizes)[static_cast<size_t>(i)];
    Shape s = x.shape();
    s[static_cast<size_t>(axis)] = len;
    if (ctx.has_output(i)) {
      Tensor* y = ctx.output(i, x.dtype(), s);
      FERRY_RETURN_IF_ERROR(visit_storage(x.dtype(), [&](auto tag) {
        using T = typename decltype(tag)::type;
        const T* src = x.data<T>() + offset;
        T* dst = y->data<T>();
        const int64_t block = len * inner;
        if (block > 0)
          for (int64_t o = 0; o < outer; ++o) std::copy(src + o * in_block, src + o * in_block + block, dst + o * block);
      }));
    }
    offset += len * inner;
  }
  return Status::ok();
}

Status slice_kernel(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  bool v10 = ctx.opset() >= 10;
  auto starts = input_or_attr_ints(ctx, v10 ? 1 : -1, v10 ? nullptr : "starts");
  auto ends = input_or_attr_ints(ctx, v10 ? 2 : -1, v10 ? nullptr : "ends");
  auto axes = input_or_attr_ints(ctx, v10 ? 3 : -1, v10 ? nullptr : "axes");
  auto steps = input_or_attr_ints(ctx, v10 ? 4 : -1, nullptr);
  if (!starts || !ends) return ctx.error("missing starts or ends");
  auto params = resolve_slice(x.shape(), *starts, *ends, axes.value_or(std::vector<int64_t>{}),
                              steps.value_or(std::vector<int64_t>{}));
  if (!params) return ctx.error(params.status().message());
  Shape out_shape;
  for (const SliceAxis& a : *params) out_shape.push_back(a.len);
  Tensor* y = ctx.output(0, x.dtype(), out_shape);
  Shape st = contiguous_strides(x.shape());
  // Unit step on the last axis: each output row is one contiguous run of the input (the Q/K/V split of a packed
  // projection): memcpy rows instead of the per-element gather.
  const int rank = static_cast<int>(params->size());
  if (rank >= 1 && x.dtype() != DType::kString && (*params)[rank - 1].step == 1 && y->numel() > 0) {
    const size_t es = dtype_size(x.dtype());
    const int64_t len = (*params)[rank - 1].len, rows = y->numel() / len;
    const char* src = static_cast<const char*>(x.raw_data());
    char* dst = static_cast<char*>(y->raw_data());
    std::vector<int64_t> idx(static_cast<size_t>(rank), 0);
    for (int64_t r = 0; r < rows; ++r) {
      int64_t off = (*params)[rank - 1].start;
      for (int d = 0; d + 1 < rank; ++d) off += ((*params)[d].start + idx[d] * (*params)[d].step) * st[d];
      std::memcpy(dst + r * len * es, src + off * static_cast<int64_t>(es), static_cast<size_t>(len) * es);
      for (int d = rank - 2; d >= 0 && ++idx[d] == (*params)[d].len; --d) idx[d] = 0;
    }
    return Status::ok();
  }
  std::vector<std::vector<int64_t>> maps(params->size());
  for (size_t d = 0; d < params->size(); ++d) {
    const SliceAxis& a = (*params)[d];
    for (int64_t o = 0; o < a.len; ++o) maps[d].push_back((a.start + o * a.step) * st[d]);
  }
  return copy_by_axis_maps(ctx, x, *y, maps, nullptr);
}

Status expand_kernel(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  int r = y->rank(), off = r - x.rank();
  if (off < 0) return ctx.error("output rank below input rank");
  Shape st = contiguous_strides(x.shape());
  std::vector<std::vector<int64_t>> maps(static_cast<size_t>(r));
  for (int d = 0; d < r; ++d) {
    int64_t in_dim = d >= off ? x.dim(d - off) : 1;
    if (in_dim != 1 && in_dim != y->dim(d)) return ctx.error("input does not broadcast to the output");
    for (int64_t o = 0; o < y->dim(d); ++o)
      maps[static_cast<size_t>(d)].push_back(in_dim == 1 ? 0 : o * st[static_cast<size_t>(d - off)]);
  }
  return copy_by_axis_maps(ctx, x, *y, maps, nullptr);
}

Status tile_kernel(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  if (y->rank() != x.rank()) return ctx.error("repeats do not match the input rank");
  Shape st = contiguous_strides(x.shape());
  std::vector<std::vector<int64_t>> maps(static_cast<size_t>(x.rank()));
  for (int d = 0; d < x.rank(); ++d) {
    if (x.dim(d) == 0) continue;
    for (int64_t o = 0; o < y->dim(d); ++o) maps[static_cast<size_t>(d)].push_back((o % x.dim(d)) * st[static_cast<size_t>(d)]);
  }
  return copy_by_axis_maps(ctx, x, *y, maps, nullptr);
}

}  // namespace

void register_shape_more_kernels(KernelRegistry& r);  // shape_more.cc

void register_shape_kernels(KernelRegistry& r) {
  r.add_fn("", "Reshape", view_kernel);
  r.add_fn("", "Flatten", view_kernel);
  r.add_fn("", "Squeeze", view_kernel);
  r.add_fn("", "Unsqueeze", view_kernel);
  r.add_fn("", "Identity", identity_kernel);
  r.add_fn("", "Shape", shape_kernel);
  r.add_fn("", "Size", size_kernel);
  r.add_fn("", "Constant", constant_kernel);
  r.add_fn("", "ConstantOfShape", constant_of_shape_kernel);
  r.add_fn("", "Transpose", transpose_kernel);
  r.add_fn("", "Concat", concat_kernel);
  r.add_fn("", "Split", split_kernel);
  r.add_fn("", "Slice", slice_kernel);
  r.add_fn("", "Expand", expand_kernel);
  r.add_fn("", "Tile", tile_kernel);
  register_shape_more_kernels(r);
}

}  // namespace ferry
