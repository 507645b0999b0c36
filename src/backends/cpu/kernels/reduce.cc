// reduce.cc — CPU reference kernels of the reduce family: ReduceSum/Mean/Max/Min/Prod/L1/L2/LogSum/LogSumExp/
// SumSquare. ArgMax/ArgMin and CumSum/CumProd live in reduce_scan.cc.
//
// A reduction is described by a ReduceLayout: the input dims split into kept and reduced groups, adjacent dims
// of the same group merged and size-1 dims dropped. Output element o (row-major over kept dims, which is the
// output's own order whether or not keepdims) accumulates every input element of its reduced set. The
// accumulator is double for floating types, int64/uint64 for integers (exact for big int64 sums).
// float32 Sum/Mean over trailing axes (the transformer case) has a vectorizable fast path.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "backends/cpu/kernel.h"
#include "core/dtype_dispatch.h"
#include "ops/reduce_util.h"

namespace ferry {

void register_reduce_scan_kernels(KernelRegistry& r);  // reduce_scan.cc

namespace {

enum class ROp { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kLogSum, kLogSumExp, kSumSquare };

struct ReduceLayout {
  std::vector<int64_t> kept_dims, kept_strides;  // outer-to-inner
  std::vector<int64_t> red_dims, red_strides;    // outer-to-inner
  int64_t outputs = 1, reduced = 1;
};

ReduceLayout make_layout(const Shape& shape, const std::vector<bool>& reduce) {
  ReduceLayout L;
  int rank = static_cast<int>(shape.size());
  std::vector<int64_t> strides(shape.size(), 1);
  for (int i = rank - 2; i >= 0; --i) strides[i] = strides[i + 1] * shape[i + 1];
  int last_kind = -1;  // 0 kept, 1 reduced
  for (int i = 0; i < rank; ++i) {
    int64_t d = shape[i];
    bool red = reduce[i];
    if (red) L.reduced *= d; else L.outputs *= d;
    if (d == 1) continue;
    auto& dims = red ? L.red_dims : L.kept_dims;
    auto& st = red ? L.red_strides : L.kept_strides;
    if (last_kind == static_cast<int>(red) && !dims.empty()) {
      dims.back() *= d;  // contiguous with the previous dim of the same group
      st.back() = strides[i];
    } else {
      dims.push_back(d);
      st.push_back(strides[i]);
    }
    last_kind = red;
  }
  return L;
}

int64_t kept_offset(const ReduceLayout& L, int64_t o) {
  int64_t off = 0;
  for (int k = static_cast<int>(L.kept_dims.size()) - 1; k >= 0; --k) {
    off += (o % L.kept_dims[k]) * L.kept_strides[k];
    o /= L.kept_dims[k];
  }
  return off;
}

// Calls f(offset) for every element of the reduced set starting at `base` (an odometer over reduced dims).
template <typename F>
inline void for_each_reduced(const ReduceLayout& L, int64_t base, F&& f) {
  if (L.reduced == 0) return;
  size_t nd = L.red_dims.size();
  if (nd == 0) {
    f(base);
    return;
  }
  int64_t inner_n = L.red_dims[nd - 1], inner_s = L.red_strides[nd - 1];
  if (nd == 1) {
    for (int64_t j = 0; j < inner_n; ++j) f(base + j * inner_s);
    return;
  }
  std::vector<int64_t> idx(nd - 1, 0);
  int64_t off = base;
  for (;;) {
    for (int64_t j = 0; j < inner_n; ++j) f(off + j * inner_s);
    int k = static_cast<int>(nd) - 2;
    for (; k >= 0; --k) {
      off += L.red_strides[k];
      if (++idx[k] < L.red_dims[k]) break;
      off -= L.red_strides[k] * L.red_dims[k];
      idx[k] = 0;
    }
    if (k < 0) return;
  }
}

template <typename T>
constexpr bool kIsFloat = std::is_floating_point_v<T> || std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;

template <typename T>
using AccT = std::conditional_t<kIsFloat<T>, double,
                                std::conditional_t<std::is_unsigned_v<T> && !std::is_same_v<T, bool>, uint64_t, int64_t>>;

template <typename T>
inline AccT<T> to_acc(T v) {
  if constexpr (kIsFloat<T>) {
    return elem_to_double(v);
  } else {
    return static_cast<AccT<T>>(v);
  }
}

template <typename T>
inline T from_acc(AccT<T> v) {
  if constexpr (kIsFloat<T>) {
    return elem_from_double<T>(v);
  } else if constexpr (std::is_same_v<T, bool>) {
    return v != 0;
  } else {
    return static_cast<T>(v);
  }
}

template <typename T>
inline T from_double_result(double v) {
  if constexpr (kIsFloat<T>) {
    return elem_from_double<T>(v);
  } else {
    if (std::isnan(v)) return T(0);
    if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
    if (v <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
    return static_cast<T>(v);
  }
}

template <typename T>
void reduce_typed(ROp op, const T* x, T* y, const ReduceLayout& L, ThreadPool& pool) {
  using Acc = AccT<T>;
  const int64_t R = L.reduced;
  int64_t min_chunk = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, R));
  pool.parallel_for(
      L.outputs,
      [&](int64_t b, int64_t e) {
        for (int64_t o = b; o < e; ++o) {
          int64_t base = kept_offset(L, o);
          switch (op) {
            case ROp::kSum:
            case ROp::kMean: {
              Acc a = 0;
              for_each_reduced(L, base, [&](int64_t i) { a += to_acc(x[i]); });
              if (op == ROp::kSum) {
                y[o] = from_acc<T>(a);
              } else if constexpr (kIsFloat<T>) {
                y[o] = from_acc<T>(a / static_cast<double>(R));
              } else {
                y[o] = R == 0 ? T(0) : from_acc<T>(a / static_cast<Acc>(R));
              }
              break;
            }
            case ROp::kSumSquare: {
              Acc a = 0;
              for_each_reduced(L, base, [&](int64_t i) { Acc v = to_acc(x[i]); a += v * v; });
              y[o] = from_acc<T>(a);
              break;
            }
            case ROp::kL1: {
              Acc a = 0;
              for_each_reduced(L, base, [&](int64_t i) {
                Acc v = to_acc(x[i]);
                if constexpr (std::is_signed_v<Acc>) {
                  a += v < 0 ? -v : v;
                } else {
                  a += v;
                }
              });
              y[o] = from_acc<T>(a);
              break;
            }
            case ROp::kL2: {
              double a = 0;
              for_each_reduced(L, base, [&](int64_t i) { double v = elem_to_double(x[i]); a += v * v; });
              y[o] = from_double_result<T>(std::sqrt(a));
              break;
            }
            case ROp::kLogSum: {
              double a = 0;
              for_each_reduced(L, base, [&](int64_t i) { a += elem_to_double(x[i]); });
              y[o] = from_double_result<T>(std::log(a));
              break;
            }
            case ROp::kLogSumExp: {
              double m = -std::numeric_limits<double>::infinity();
              for_each_reduced(L, base, [&](int64_t i) {
                double v = elem_to_double(x[i]);
                if (v > m || std::isnan(v)) m = v;
              });
              if (std::isinf(m) || std::isnan(m)) {
                y[o] = from_double_result<T>(m);
                break;
              }
              double s = 0;
              for_each_reduced(L, base, [&](int64_t i) { s += std::exp(elem_to_double(x[i]) - m); });
              y[o] = from_double_result<T>(m + std::log(s));
              break;
            }
            case ROp::kProd: {
              Acc a = 1;
              for_each_reduced(L, base, [&](int64_t i) { a *= to_acc(x[i]); });
              y[o] = from_acc<T>(a);
              break;
            }
            case ROp::kMax:
            case ROp::kMin: {
              bool is_max = op == ROp::kMax;
              Acc a;
              if constexpr (kIsFloat<T>) {
                a = is_max ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
              } else if constexpr (std::is_same_v<T, bool>) {
                a = is_max ? 0 : 1;
              } else {
                a = is_max ? static_cast<Acc>(std::numeric_limits<T>::lowest())
                           : static_cast<Acc>(std::numeric_limits<T>::max());
              }
              bool nan = false;
              for_each_reduced(L, base, [&](int64_t i) {
                Acc v = to_acc(x[i]);
                if constexpr (kIsFloat<T>) {
                  if (v != v) nan = true;
                }
                if (is_max ? v > a : v < a) a = v;
              });
              if constexpr (kIsFloat<T>) {
                if (nan) a = std::numeric_limits<double>::quiet_NaN();
              }
              y[o] = from_acc<T>(a);
              break;
            }
          }
        }
      },
      min_chunk);
}

// float32 Sum/Mean where the reduced set is the trailing contiguous block of each row.
void reduce_rows_f32(bool mean, const float* x, float* y, int64_t rows, int64_t n, ThreadPool& pool) {
  double scale = mean ? 1.0 / static_cast<double>(n) : 1.0;
  pool.parallel_for(
      rows,
      [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; ++r) {
          const float* p = x + r * n;
          double total = 0;  // float partial sums per 4096 elements, flushed into double
          for (int64_t j0 = 0; j0 < n; j0 += 4096) {
            int64_t m = std::min<int64_t>(n - j0, 4096);
            const float* q = p + j0;
            float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            int64_t j = 0;
            for (; j + 8 <= m; j += 8)
              for (int k = 0; k < 8; ++k) acc[k] += q[j + k];
            float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
            for (; j < m; ++j) s += q[j];
            total += s;
          }
          y[r] = static_cast<float>(total * scale);
        }
      },
      std::max<int64_t>(1, 16384 / std::max<int64_t>(1, n)));
}

// float32 Sum/Mean over the middle of [A, R, B] (B > 1, contiguous): rows of B are added into double
// accumulators so memory is read sequentially; parallel over A, or over column blocks of B when A is small.
void reduce_middle_f32(bool mean, const float* x, float* y, int64_t A, int64_t R, int64_t B, ThreadPool& pool) {
  const int64_t kBlock = std::min<int64_t>(B, 2048);  // wide strips: sequential reads, few TLB misses
  int64_t blocks = (B + kBlock - 1) / kBlock;
  double scale = mean ? 1.0 / static_cast<double>(R) : 1.0;
  pool.parallel_for(
      A * blocks,
      [&](int64_t b, int64_t e) {
        // float partial sums over up to 64 rows, flushed into double: fast and accurate for any R.
        std::vector<double> acc(static_cast<size_t>(kBlock));
        std::vector<float> part(static_cast<size_t>(kBlock));
        for (int64_t t = b; t < e; ++t) {
          int64_t a = t / blocks, c0 = (t % blocks) * kBlock, w = std::min(kBlock, B - c0);
          for (int64_t c = 0; c < w; ++c) acc[c] = 0;
          const float* base = x + a * R * B + c0;
          for (int64_t r0 = 0; r0 < R; r0 += 64) {
            for (int64_t c = 0; c < w; ++c) part[c] = 0;
            for (int64_t r = r0; r < std::min(R, r0 + 64); ++r) {
              const float* row = base + r * B;
              for (int64_t c = 0; c < w; ++c) part[c] += row[c];
            }
            for (int64_t c = 0; c < w; ++c) acc[c] += part[c];
          }
          float* out = y + a * B + c0;
          for (int64_t c = 0; c < w; ++c) out[c] = static_cast<float>(acc[c] * scale);
        }
      },
      std::max<int64_t>(1, 16384 / std::max<int64_t>(1, R * kBlock)));
}

class ReduceKernel : public CpuKernel {
 public:
  explicit ReduceKernel(ROp op) : op_(op) {}

  Status run(KernelContext& ctx) override {
    const Tensor& x = *ctx.input(0);
    auto axes = resolve_reduce_axes(ctx.node(), ctx.input(1), x.rank());
    if (!axes) return ctx.error(axes.status().message());
    FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
    if (axes->noop) {
      if (y->nbytes() != x.nbytes()) return ctx.error("internal: noop output size mismatch");
      if (x.nbytes() > 0) std::memcpy(y->raw_data(), x.raw_data(), x.nbytes());
      return Status::ok();
    }
    ReduceLayout L = make_layout(x.shape(), axes->reduce);
    if (y->numel() != L.outputs) return ctx.error("internal: output size mismatch");
    if (L.outputs == 0) return Status::ok();
    bool trailing = L.red_dims.size() == 1 && L.red_strides[0] == 1;
    if (x.dtype() == DType::kFloat && (op_ == ROp::kSum || op_ == ROp::kMean) && trailing && L.reduced > 0) {
      reduce_rows_f32(op_ == ROp::kMean, x.data<float>(), y->data<float>(), L.outputs, L.reduced, ctx.pool());
      return Status::ok();
    }
    if (x.dtype() == DType::kFloat && (op_ == ROp::kSum || op_ == ROp::kMean) && L.reduced > 0 &&
        L.red_dims.size() == 1 && !L.kept_dims.empty() && L.kept_strides.back() == 1 &&
        (L.kept_dims.size() == 1 || (L.kept_dims.size() == 2 && L.red_strides[0] == L.kept_dims[1]))) {
      int64_t B = L.kept_dims.back(), A = L.outputs / B;
      reduce_middle_f32(op_ == ROp::kMean, x.data<float>(), y->data<float>(), A, L.reduced, B, ctx.pool());
      return Status::ok();
    }
    if (x.dtype() == DType::kBool && op_ != ROp::kMax && op_ != ROp::kMin)
      return ctx.unsupported_error("bool input is only supported by ReduceMax/ReduceMin");
    if (x.dtype() == DType::kString) return ctx.unsupported_error("string input not supported");
    return visit_dtype(x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      if constexpr (!std::is_same_v<T, std::string>) {
        reduce_typed<T>(op_, x.data<T>(), y->data<T>(), L, ctx.pool());
      }
    });
  }

 private:
  ROp op_;
};

}  // namespace

void register_reduce_kernels(KernelRegistry& r) {
  const std::pair<const char*, ROp> ops[] = {
      {"ReduceSum", ROp::kSum},       {"ReduceMean", ROp::kMean},         {"ReduceMax", ROp::kMax},
      {"ReduceMin", ROp::kMin},       {"ReduceProd", ROp::kProd},         {"ReduceL1", ROp::kL1},
      {"ReduceL2", ROp::kL2},         {"ReduceLogSum", ROp::kLogSum},     {"ReduceLogSumExp", ROp::kLogSumExp},
      {"ReduceSumSquare", ROp::kSumSquare}};
  for (const auto& [name, op] : ops) {
    ROp o = op;
    r.add("", name, [o](const Node&) -> Expected<std::unique_ptr<CpuKernel>> {
      return std::unique_ptr<CpuKernel>(std::make_unique<ReduceKernel>(o));
    });
  }
  register_reduce_scan_kernels(r);
}

}  // namespace ferry
