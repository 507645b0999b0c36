// shape_more.cc — CPU reference kernels of the shape family, part 2: Pad, CenterCropPad, DepthToSpace,
// SpaceToDepth, Range, EyeLike, Trilu, ReverseSequence.
#include <algorithm>
#include <cstring>

#include "backends/cpu/kernels/shape_util.h"
#include "ops/shape_params.h"

namespace ferry {
namespace {

// Input index read by output index o of a padded axis (n input elements, pb leading pads); -1 = constant.
int64_t pad_source(const std::string& mode, int64_t o, int64_t pb, int64_t n) {
  int64_t i = o - pb;
  if (i >= 0 && i < n) return i;
  if (mode == "constant" || n == 0) return -1;
  if (mode == "edge") return std::clamp<int64_t>(i, 0, n - 1);
  if (mode == "wrap") return ((i % n) + n) % n;
  // reflect (numpy style, repeated for pads larger than the axis)
  if (n == 1) return 0;
  int64_t period = 2 * (n - 1);
  i = ((i % period) + period) % period;
  return i < n ? i : period - i;
}

Status pad_kernel(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  std::string mode = ctx.node().attr_string("mode", "constant");
  std::vector<int64_t> pads, axes;
  Tensor fill_storage;
  const Tensor* fill = nullptr;
  if (ctx.opset() < 11) {
    pads = ctx.node().attr_ints(ctx.opset() < 2 ? "paddings" : "pads");
    float v = ctx.node().attr_float("value", 0.0f);
    if (v != 0.0f && x.dtype() != DType::kString) {
      fill_storage = from_double_vector(x.dtype(), {}, {static_cast<double>(v)});
      fill = &fill_storage;
    }
  } else {
    if (ctx.input(1) == nullptr) return ctx.error("missing pads");
    pads = to_int64_vector(*ctx.input(1));
    if (const Tensor* cv = ctx.input(2)) {
      if (cv->numel() != 1 || cv->dtype() != x.dtype()) return ctx.error("constant_value must be one element of the data type");
      fill = cv;
    }
    if (ctx.input(3) != nullptr) axes = to_int64_vector(*ctx.input(3));
  }
  auto p = resolve_pads(x.rank(), pads, axes);
  if (!p) return ctx.error(p.status().message());
  const int r = x.rank();
  Shape out_shape, st = contiguous_strides(x.shape());
  for (int d = 0; d < r; ++d) {
    int64_t m = x.dim(d) + (*p)[static_cast<size_t>(d)] + (*p)[static_cast<size_t>(d + r)];
    if (m < 0) return ctx.error("pads make axis " + std::to_string(d) + " negative");
    if (mode != "constant" && x.dim(d) == 0 && m > 0) return ctx.error("cannot " + mode + "-pad an empty axis");
    out_shape.push_back(m);
  }
  std::vector<std::vector<int64_t>> maps(static_cast<size_t>(r));
  for (int d = 0; d < r; ++d)
    for (int64_t o = 0; o < out_shape[static_cast<size_t>(d)]; ++o) {
      int64_t i = pad_source(mode, o, (*p)[static_cast<size_t>(d)], x.dim(d));
      maps[static_cast<size_t>(d)].push_back(i < 0 ? -1 : i * st[static_cast<size_t>(d)]);
    }
  Tensor* y = ctx.output(0, x.dtype(), out_shape);
  return copy_by_axis_maps(ctx, x, *y, maps, fill);
}

Status center_crop_pad_kernel(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  std::vector<int64_t> axes = ctx.node().attr_ints("axes");
  if (axes.empty())
    for (int i = 0; i < x.rank(); ++i) axes.push_back(i);
  auto na = normalize_axes(axes, x.rank());
  if (!na) return ctx.error(na.status().message());
  std::vector<int64_t> target = to_int64_vector(*ctx.input(1));
  if (target.size() != na->size()) return ctx.error("shape does not match axes");
  Shape out_shape = x.shape(), st = contiguous_strides(x.shape());
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] < 0) return ctx.error("negative target size");
    out_shape[static_cast<size_t>((*na)[i])] = target[i];
  }
  std::vector<std::vector<int64_t>> maps(static_cast<size_t>(x.rank()));
  for (int d = 0; d < x.rank(); ++d) {
    int64_t n = x.dim(d), m = out_shape[static_cast<size_t>(d)];
    int64_t shift = m <= n ? (n - m) / 2 : -((m - n) / 2);  // input index = o + shift
    for (int64_t o = 0; o < m; ++o) {
      int64_t i = o + shift;
      maps[static_cast<size_t>(d)].push_back(i >= 0 && i < n ? i * st[static_cast<size_t>(d)] : -1);
    }
  }
  Tensor* y = ctx.output(0, x.dtype(), out_shape);
  return copy_by_axis_maps(ctx, x, *y, maps, nullptr);
}

Status depth_space_kernel(KernelContext& ctx, bool to_space) {
  const Tensor& x = *ctx.input(0);
  int64_t b = ctx.node().attr_int("blocksize", 0);
  if (x.rank() != 4 || b <= 0) return ctx.error("needs a 4-D input and a positive blocksize");
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
  Tensor in_view, out_view;
  std::vector<int64_t> perm;
  if (to_space) {
    if (c % (b * b) != 0) return ctx.error("channels not divisible by blocksize^2");
    int64_t co = c / (b * b);
    if (ctx.node().attr_string("mode", "DCR") == "CRD") {
      in_view = x.reshaped({n, co, b, b, h, w});
      perm = {0, 1, 4, 2, 5, 3};
    } else {
      in_view = x.reshaped({n, b, b, co, h, w});
      perm = {0, 3, 4, 1, 5, 2};
    }
    out_view = y->reshaped({n, co, h, b, w, b});
  } else {
    if (h % b != 0 || w % b != 0) return ctx.error("spatial dims not divisible by blocksize");
    in_view = x.reshaped({n, c, h / b, b, w / b, b});
    perm = {0, 3, 5, 1, 2, 4};
    out_view = y->reshaped({n, b, b, c, h / b, w / b});
  }
  return transpose_into(ctx, in_view, out_view, perm);
}

Status range_kernel(KernelContext& ctx) {
  const Tensor &s = *ctx.input(0), &l = *ctx.input(1), &d = *ctx.input(2);
  auto n = range_count(s, l, d);
  if (!n) return ctx.error(n.status().message());
  Tensor* y = ctx.output(0, s.dtype(), {*n});
  if (dtype_is_integer(s.dtype())) {
    int64_t a = to_int64_vector(s)[0], dl = to_int64_vector(d)[0];
    return visit_dtype(s.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      if constexpr (std::is_integral_v<T>)
        for (int64_t i = 0; i < *n; ++i) y->data<T>()[i] = static_cast<T>(a + i * dl);
    });
  }
  if (!dtype_is_float(s.dtype())) return ctx.unsupported_error(std::string("Range of ") + dtype_name(s.dtype()));
  double a = load_double(s, 0), dl = load_double(d, 0);
  for (int64_t i = 0; i < *n; ++i) store_double(*y, i, a + static_cast<double>(i) * dl);
  return Status::ok();
}

Status eye_like_kernel(KernelContext& ctx) {
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  if (y->rank() != 2) return ctx.error("input must be 2-D");
  if (y->dtype() == DType::kString) return ctx.error("EyeLike of strings");
  FERRY_RETURN_IF_ERROR(visit_storage(y->dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    std::fill_n(y->data<T>(), y->numel(), T{});
  }));
  int64_t k = ctx.node().attr_int("k", 0), rows = y->dim(0), cols = y->dim(1);
  for (int64_t i = 0; i < rows; ++i) {
    int64_t j = i + k;
    if (j >= 0 && j < cols) store_double(*y, i * cols + j, 1.0);
  }
  return Status::ok();
}

Status trilu_kernel(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  if (x.rank() < 2) return ctx.error("input must have rank >= 2");
  int64_t k = 0;
  if (const Tensor* kt = ctx.input(1)) {
    if (kt->numel() != 1) return ctx.error("k must be a scalar");
    k = to_int64_vector(*kt)[0];
  }
  bool upper = ctx.node().attr_int("upper", 1) != 0;
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  int64_t rows = x.dim(x.rank() - 2), cols = x.dim(x.rank() - 1);
  int64_t mats = rows * cols == 0 ? 0 : x.numel() / (rows * cols);
  return visit_storage(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* src = x.data<T>();
    T* dst = y->data<T>();
    for (int64_t m = 0; m < mats; ++m)
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) {
          int64_t off = (m * rows + i) * cols + j;
          bool keep = upper ? (j - i >= k) : (j - i <= k);
          dst[off] = keep ? src[off] : T{};
        }
  });
}

Status reverse_sequence_kernel(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  int64_t ba = ctx.node().attr_int("batch_axis", 1), ta = ctx.node().attr_int("time_axis", 0);
  if (x.rank() < 2 || !((ba == 0 && ta == 1) || (ba == 1 && ta == 0))) return ctx.error("bad batch_axis/time_axis");
  int64_t batch = x.dim(static_cast<int>(ba)), time = x.dim(static_cast<int>(ta));
  std::vector<int64_t> lens = to_int64_vector(*ctx.input(1));
  if (static_cast<int64_t>(lens.size()) != batch) return ctx.error("sequence_lens must have batch_size values");
  for (int64_t l : lens)
    if (l < 0 || l > time) return ctx.error("sequence length " + std::to_string(l) + " out of range");
  int64_t inner = 1;
  for (int d = 2; d < x.rank(); ++d) inner *= x.dim(d);
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  // Element (t, b) block offset for either layout.
  auto block = [&](int64_t t, int64_t b) { return (ta == 0 ? t * batch + b : b * time + t) * inner; };
  return visit_storage(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* src = x.data<T>();
    T* dst = y->data<T>();
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t t = 0; t < time; ++t) {
        int64_t from = t < lens[static_cast<size_t>(b)] ? lens[static_cast<size_t>(b)] - 1 - t : t;
        std::copy(src + block(from, b), src + block(from, b) + inner, dst + block(t, b));
      }
  });
}

}  // namespace

void register_shape_more_kernels(KernelRegistry& r) {
  r.add_fn("", "Pad", pad_kernel);
  r.add_fn("", "CenterCropPad", center_crop_pad_kernel);
  r.add_fn("", "DepthToSpace", [](KernelContext& c) { return depth_space_kernel(c, true); });
  r.add_fn("", "SpaceToDepth", [](KernelContext& c) { return depth_space_kernel(c, false); });
  r.add_fn("", "Range", range_kernel);
  r.add_fn("", "EyeLike", eye_like_kernel);
  r.add_fn("", "Trilu", trilu_kernel);
  r.add_fn("", "ReverseSequence", reverse_sequence_kernel);
}

}  // namespace ferry
