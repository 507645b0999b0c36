// softmax.cc — CPU reference kernels of the softmax family: Softmax, LogSoftmax, Hardmax.
//
// The input is viewed as [outer, n, inner]; each (outer, inner) line of n elements is normalized on its own.
// Before opset 13, n covers every dim from `axis` on (coerce to 2-D) and inner is 1. Lines are computed in
// double for every float type, except float32 with inner == 1 (axis last: the transformer case), which has a
// row-parallel float path.
#include <cmath>
#include <bit>
#include <algorithm>
#include <limits>
#include <type_traits>

#include "backends/cpu/kernel.h"
#include "backends/cpu/kernels/vec_math.h"
#include "core/dtype_dispatch.h"

namespace ferry {

namespace {

enum class SKind { kSoftmax, kLogSoftmax, kHardmax };

struct LineView {
  int64_t outer = 1, n = 1, inner = 1;
};

Expected<LineView> line_view(const KernelContext& ctx, const Shape& s) {
  int rank = static_cast<int>(s.size());
  bool legacy = ctx.opset() < 13;
  int64_t axis = ctx.node().attr_int("axis", legacy ? 1 : -1);
  bool ok = legacy ? (axis >= -rank && axis <= rank) : (axis >= -rank && axis < rank);
  if (!ok) return ctx.error("axis " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
  if (axis < 0) axis += rank;
  LineView v;
  for (int i = 0; i < rank; ++i) {
    if (i < axis) v.outer *= s[i];
    else if (i == axis || legacy) v.n *= s[i];
    else v.inner *= s[i];
  }
  return v;
}

template <typename T>
void lines_generic(SKind kind, const T* x, T* y, const LineView& v, ThreadPool& pool) {
  pool.parallel_for(
      v.outer * v.inner,
      [&](int64_t b, int64_t e) {
        std::vector<double> buf(static_cast<size_t>(v.n));
        for (int64_t line = b; line < e; ++line) {
          int64_t base = (line / v.inner) * v.n * v.inner + line % v.inner;
          double m = -std::numeric_limits<double>::infinity();
          int64_t mi = 0;
          for (int64_t j = 0; j < v.n; ++j) {
            buf[j] = elem_to_double(x[base + j * v.inner]);
            if (buf[j] > m) {
              m = buf[j];
              mi = j;
            }
          }
          if (kind == SKind::kHardmax) {
            for (int64_t j = 0; j < v.n; ++j) y[base + j * v.inner] = elem_from_double<T>(j == mi ? 1.0 : 0.0);
            continue;
          }
          if (std::isinf(m) && m < 0) m = 0;
          double s = 0;
          for (int64_t j = 0; j < v.n; ++j) s += std::exp(buf[j] - m);
          double c = m + std::log(s);
          for (int64_t j = 0; j < v.n; ++j) {
            double r = kind == SKind::kSoftmax ? std::exp(buf[j] - c) : buf[j] - c;
            y[base + j * v.inner] = elem_from_double<T>(r);
          }
        }
      },
      std::max<int64_t>(1, 4096 / std::max<int64_t>(1, v.n)));
}

inline float max_f32(const float* p, int64_t n) {
  float acc[8];
  for (int k = 0; k < 8; ++k) acc[k] = -std::numeric_limits<float>::infinity();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int k = 0; k < 8; ++k) acc[k] = p[j + k] > acc[k] ? p[j + k] : acc[k];
  float m = acc[0];
  for (int k = 1; k < 8; ++k) m = acc[k] > m ? acc[k] : m;
  for (; j < n; ++j) m = p[j] > m ? p[j] : m;
  return m;
}

// float32 rows (inner == 1): the transformer case. Rows with NaN or +inf take the double path.
void rows_f32(SKind kind, const float* x, float* y, int64_t rows, int64_t n, ThreadPool& pool) {
  pool.parallel_for(
      rows,
      [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; ++r) {
          const float* p = x + r * n;
          float* q = y + r * n;
          if (kind == SKind::kHardmax) {
            float m = -std::numeric_limits<float>::infinity();
            int64_t mi = 0;
            for (int64_t j = 0; j < n; ++j) {
              if (p[j] > m) {
                m = p[j];
                mi = j;
              }
            }
            for (int64_t j = 0; j < n; ++j) q[j] = 0.0f;
            q[mi] = 1.0f;
            continue;
          }
          float m = max_f32(p, n);
          float check = sum_f32(p, n);  // NaN if any element is NaN or +/-inf appear together
          if (!std::isfinite(m) || !std::isfinite(check)) {
            LineView one{1, n, 1};
            lines_generic<float>(kind, p, q, one, pool);
            continue;
          }
          for (int64_t j = 0; j < n; ++j) q[j] = exp_nonpos_f32(p[j] - m);
          float s = sum_f32(q, n);
          if (kind == SKind::kSoftmax) {
            float inv = 1.0f / s;
            for (int64_t j = 0; j < n; ++j) q[j] *= inv;
          } else {
            float c = m + std::log(s);
            for (int64_t j = 0; j < n; ++j) q[j] = p[j] - c;
          }
        }
      },
      std::max<int64_t>(1, 8192 / std::max<int64_t>(1, n)));
}

template <SKind kKind>
Status softmax_kernel(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  FERRY_ASSIGN_OR_RETURN(LineView v, line_view(ctx, x.shape()));
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  if (y->numel() != x.numel()) return ctx.error("internal: output size mismatch");
  if (x.numel() == 0) return Status::ok();
  switch (x.dtype()) {
    case DType::kFloat:
      if (v.inner == 1) {
        rows_f32(kKind, x.data<float>(), y->data<float>(), v.outer, v.n, ctx.pool());
      } else {
        lines_generic<float>(kKind, x.data<float>(), y->data<float>(), v, ctx.pool());
      }
      return Status::ok();
    case DType::kDouble: lines_generic<double>(kKind, x.data<double>(), y->data<double>(), v, ctx.pool()); break;
    case DType::kFloat16: lines_generic<Half>(kKind, x.data<Half>(), y->data<Half>(), v, ctx.pool()); break;
    case DType::kBFloat16:
      lines_generic<BFloat16>(kKind, x.data<BFloat16>(), y->data<BFloat16>(), v, ctx.pool());
      break;
    default:
      return ctx.unsupported_error(std::string("input type ") + dtype_name(x.dtype()) + " not supported");
  }
  return Status::ok();
}

}  // namespace

void register_softmax_kernels(KernelRegistry& r) {
  r.add_fn("", "Softmax", softmax_kernel<SKind::kSoftmax>);
  r.add_fn("", "LogSoftmax", softmax_kernel<SKind::kLogSoftmax>);
  r.add_fn("", "Hardmax", softmax_kernel<SKind::kHardmax>);
}

}  // namespace ferry
