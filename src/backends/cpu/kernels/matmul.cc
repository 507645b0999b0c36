// matmul.cc — CPU kernels of the matmul family: MatMul, Gemm (float32 through sgemm, others through the
// typed reference loops), Einsum and Det (generic references).
#include <cmath>
#include <string>
#include <vector>

#include "backends/cpu/kernel.h"
#include "backends/cpu/kernels/gemm.h"
#include "backends/cpu/kernels/matmul_util.h"
#include "core/dtype_dispatch.h"
#include "ops/matmul_einsum.h"

namespace ferry {
namespace {

bool is_plain_numeric(DType t) { return t != DType::kString && t != DType::kBool && t != DType::kUndefined; }

// Typed reference C[m,n] = sum_k A[m,k] * B[k,n] (row-major, contiguous) for one batch.
template <typename T>
void matmul_ref_2d(const T* a, const T* b, T* c, int64_t m, int64_t n, int64_t k) {
  using Acc = DotAcc<T>;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      typename Acc::type acc = 0;
      for (int64_t p = 0; p < k; ++p) acc += Acc::load(a[i * k + p]) * Acc::load(b[p * n + j]);
      c[i * n + j] = Acc::store(acc);
    }
}

// Batch offsets (in matrices) of A and B for every output batch index under numpy broadcasting.
void batch_offsets(const Shape& abatch, const Shape& bbatch, const Shape& obatch, std::vector<int64_t>* aoff,
                   std::vector<int64_t>* boff) {
  size_t r = obatch.size();
  auto strides = [&](const Shape& s) {
    std::vector<int64_t> st(r, 0);
    int64_t acc = 1;
    for (size_t i = 0; i < s.size(); ++i) {
      size_t d = s.size() - 1 - i;
      size_t o = r - 1 - i;
      st[o] = s[d] == 1 ? 0 : acc;
      acc *= s[d];
    }
    return st;
  };
  std::vector<int64_t> as = strides(abatch), bs = strides(bbatch);
  int64_t total = shape_numel(obatch);
  aoff->assign(static_cast<size_t>(total), 0);
  boff->assign(static_cast<size_t>(total), 0);
  std::vector<int64_t> idx(r, 0);
  for (int64_t t = 0; t < total; ++t) {
    int64_t ao = 0, bo = 0;
    for (size_t d = 0; d < r; ++d) {
      ao += idx[d] * as[d];
      bo += idx[d] * bs[d];
    }
    (*aoff)[static_cast<size_t>(t)] = ao;
    (*boff)[static_cast<size_t>(t)] = bo;
    for (size_t d = r; d-- > 0;) {
      if (++idx[d] < obatch[d]) break;
      idx[d] = 0;
    }
  }
}

Status matmul_kernel(KernelContext& ctx) {
  const Tensor& a = *ctx.input(0);
  const Tensor& b = *ctx.input(1);
  if (a.dtype() != b.dtype()) return ctx.error("MatMul input types differ");
  if (!is_plain_numeric(a.dtype())) return ctx.unsupported_error(std::string("MatMul on ") + dtype_name(a.dtype()));
  if (a.rank() < 1 || b.rank() < 1) return ctx.error("MatMul inputs must have rank >= 1");
  Shape as = a.shape(), bs = b.shape();
  if (as.size() == 1) as.insert(as.begin(), 1);
  if (bs.size() == 1) bs.push_back(1);
  int64_t m = as[as.size() - 2], k = as.back(), n = bs.back();
  if (bs[bs.size() - 2] != k) return ctx.error("MatMul inner dimensions differ: " + shape_to_string(a.shape()) + " x " + shape_to_string(b.shape()));
  Shape abatch(as.begin(), as.end() - 2), bbatch(bs.begin(), bs.end() - 2);
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  size_t r = std::max(abatch.size(), bbatch.size());
  Shape obatch(r, 1);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i + abatch.size() >= r ? abatch[i + abatch.size() - r] : 1;
    int64_t db = i + bbatch.size() >= r ? bbatch[i + bbatch.size() - r] : 1;
    if (da != db && da != 1 && db != 1) return ctx.error("MatMul batch dims cannot be broadcast");
    obatch[i] = da == 1 ? db : da;
  }
  int64_t nbatch = shape_numel(obatch);
  if (y->numel() != nbatch * m * n) return ctx.error("MatMul output size disagrees with inference");
  if (y->numel() == 0) return Status::ok();
  if (a.dtype() == DType::kFloat) {
    const float* pa = a.data<float>();
    const float* pb = b.data<float>();
    float* py = y->data<float>();
    if (shape_numel(bbatch) == 1 && shape_numel(abatch) == nbatch) {
      // B shared by every batch: one GEMM with the batches of A stacked along M.
      sgemm(false, false, nbatch * m, n, k, 1.f, pa, k, pb, n, 0.f, py, n, &ctx.pool());
      return Status::ok();
    }
    std::vector<int64_t> aoff, boff;
    batch_offsets(abatch, bbatch, obatch, &aoff, &boff);
    for (int64_t t = 0; t < nbatch; ++t)
      sgemm(false, false, m, n, k, 1.f, pa + aoff[t] * m * k, k, pb + boff[t] * k * n, n, 0.f, py + t * m * n, n,
            &ctx.pool());
    return Status::ok();
  }
  std::vector<int64_t> aoff, boff;
  batch_offsets(abatch, bbatch, obatch, &aoff, &boff);
  return visit_dtype(a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!std::is_same_v<T, std::string> && !std::is_same_v<T, bool>) {
      const T* pa = a.data<T>();
      const T* pb = b.data<T>();
      T* py = y->data<T>();
      ctx.pool().parallel_for(nbatch, [&](int64_t b0, int64_t b1) {
        for (int64_t t = b0; t < b1; ++t)
          matmul_ref_2d<T>(pa + aoff[t] * m * k, pb + boff[t] * k * n, py + t * m * n, m, n, k);
      });
    }
  });
}

// ---- Gemm ----
Status gemm_kernel(KernelContext& ctx) {
  const Tensor& a = *ctx.input(0);
  const Tensor& b = *ctx.input(1);
  const Tensor* c = ctx.input(2);
  const Node& node = ctx.node();
  bool ta = node.attr_int("transA", 0) != 0, tb = node.attr_int("transB", 0) != 0;
  float alpha = node.attr_float("alpha", 1.f), beta = node.attr_float("beta", 1.f);
  if (a.rank() != 2 || b.rank() != 2) return ctx.error("Gemm A and B must be 2-D");
  if (a.dtype() != b.dtype() || (c && c->dtype() != a.dtype())) return ctx.error("Gemm input types differ");
  if (!is_plain_numeric(a.dtype())) return ctx.unsupported_error(std::string("Gemm on ") + dtype_name(a.dtype()));
  int64_t m = ta ? a.dim(1) : a.dim(0), k = ta ? a.dim(0) : a.dim(1);
  int64_t kb = tb ? b.dim(1) : b.dim(0), n = tb ? b.dim(0) : b.dim(1);
  if (k != kb) return ctx.error("Gemm inner dimensions differ");
  // C broadcast strides over (M, N).
  int64_t cs_m = 0, cs_n = 0;
  if (c) {
    if (c->rank() > 2) return ctx.error("Gemm C must have rank <= 2");
    Shape cs = c->shape();
    while (cs.size() < 2) cs.insert(cs.begin(), 1);
    if ((cs[0] != 1 && cs[0] != m) || (cs[1] != 1 && cs[1] != n))
      return ctx.error("Gemm C of shape " + shape_to_string(c->shape()) + " cannot be broadcast to [M,N]");
    cs_n = cs[1] == 1 ? 0 : 1;
    cs_m = cs[0] == 1 ? 0 : cs[1];
  }
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  if (y->numel() != m * n) return ctx.error("Gemm output size disagrees with inference");
  if (a.dtype() == DType::kFloat) {
    float* py = y->data<float>();
    float bt = 0.f;
    if (c && beta != 0.f) {
      const float* pc = c->data<float>();
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) py[i * n + j] = beta * pc[i * cs_m + j * cs_n];
      bt = 1.f;
    }
    sgemm(ta, tb, m, n, k, alpha, a.data<float>(), a.dim(1), b.data<float>(), b.dim(1), bt, py, n, &ctx.pool());
    return Status::ok();
  }
  return visit_dtype(a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!std::is_same_v<T, std::string> && !std::is_same_v<T, bool>) {
      using Acc = DotAcc<T>;
      const T* pa = a.data<T>();
      const T* pb = b.data<T>();
      T* py = y->data<T>();
      int64_t lda = a.dim(1), ldb = b.dim(1);
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          typename Acc::type acc = 0;
          for (int64_t p = 0; p < k; ++p) {
            T av = ta ? pa[p * lda + i] : pa[i * lda + p];
            T bv = tb ? pb[j * ldb + p] : pb[p * ldb + j];
            acc += Acc::load(av) * Acc::load(bv);
          }
          if constexpr (Acc::kFloat) {
            double v = alpha * acc;
            if (c) v += beta * elem_to_double(c->data<T>()[i * cs_m + j * cs_n]);
            py[i * n + j] = Acc::store(v);
          } else {
            // Integer Gemm: alpha/beta are applied in double as the ONNX reference does (numpy casts).
            double v = alpha * static_cast<double>(Acc::store(acc));
            if (c) v += beta * static_cast<double>(c->data<T>()[i * cs_m + j * cs_n]);
            py[i * n + j] = static_cast<T>(v);
          }
        }
    }
  });
}

// ---- Einsum ----
Status einsum_kernel(KernelContext& ctx) {
  std::string eq = ctx.node().attr_string("equation", "");
  int nin = ctx.num_inputs();
  std::vector<int> ranks;
  for (int i = 0; i < nin; ++i) {
    if (!ctx.input(i)) return ctx.error("Einsum input " + std::to_string(i) + " is missing");
    ranks.push_back(ctx.input(i)->rank());
  }
  EinsumSpec spec;
  Status st = parse_einsum(eq, ranks, &spec);
  if (!st.is_ok()) return ctx.error(st.message());
  // Every distinct label, output labels first then the summed ones.
  std::vector<int> labels = spec.output;
  for (auto& in : spec.inputs)
    for (int l : in)
      if (std::find(labels.begin(), labels.end(), l) == labels.end()) labels.push_back(l);
  size_t nl = labels.size(), nout = spec.output.size();
  std::vector<int64_t> size(nl, 1);
  for (int i = 0; i < nin; ++i)
    for (size_t d = 0; d < spec.inputs[i].size(); ++d) {
      size_t li = std::find(labels.begin(), labels.end(), spec.inputs[i][d]) - labels.begin();
      int64_t v = ctx.input(i)->dim(static_cast<int>(d));
      if (size[li] == 1) size[li] = v;
      else if (v != 1 && v != size[li]) return ctx.error("Einsum label sizes disagree");
    }
  // Per input, the element stride contributed by each label (repeated labels add up: diagonals).
  std::vector<std::vector<int64_t>> stride(static_cast<size_t>(nin), std::vector<int64_t>(nl, 0));
  for (int i = 0; i < nin; ++i) {
    const Shape& s = ctx.input(i)->shape();
    int64_t acc = 1;
    for (size_t d = s.size(); d-- > 0;) {
      size_t li = std::find(labels.begin(), labels.end(), spec.inputs[i][d]) - labels.begin();
      if (s[d] != 1) stride[i][li] += acc;
      acc *= s[d];
    }
  }
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  int64_t out_n = 1, sum_n = 1;
  for (size_t l = 0; l < nl; ++l) (l < nout ? out_n : sum_n) *= size[l];
  if (y->numel() != out_n) return ctx.error("Einsum output size disagrees with inference");
  DType t = ctx.input(0)->dtype();
  for (int i = 0; i < nin; ++i)
    if (ctx.input(i)->dtype() != t) return ctx.error("Einsum inputs have different types");
  if (!is_plain_numeric(t)) return ctx.unsupported_error(std::string("Einsum on ") + dtype_name(t));
  return visit_dtype(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!std::is_same_v<T, std::string> && !std::is_same_v<T, bool>) {
      using Acc = DotAcc<T>;
      std::vector<const T*> ptr(static_cast<size_t>(nin));
      for (int i = 0; i < nin; ++i) ptr[i] = ctx.input(i)->template data<T>();
      T* py = y->data<T>();
      ctx.pool().parallel_for(out_n, [&](int64_t o0, int64_t o1) {
        std::vector<int64_t> idx(nl, 0);
        for (int64_t o = o0; o < o1; ++o) {
          int64_t rem = o;
          for (size_t l = nout; l-- > 0;) {
            idx[l] = rem % size[l];
            rem /= size[l];
          }
          std::vector<int64_t> base(static_cast<size_t>(nin), 0);
          for (int i = 0; i < nin; ++i)
            for (size_t l = 0; l < nout; ++l) base[i] += idx[l] * stride[i][l];
          typename Acc::type acc = 0;
          for (int64_t s = 0; s < sum_n; ++s) {
            int64_t r = s;
            typename Acc::type prod = 1;
            for (int i = 0; i < nin; ++i) {
              int64_t off = base[i];
              r = s;
              for (size_t l = nl; l-- > nout;) {
                off += (r % size[l]) * stride[i][l];
                r /= size[l];
              }
              prod *= Acc::load(ptr[i][off]);
            }
            acc += prod;
          }
          py[o] = Acc::store(acc);
        }
      });
    }
  });
}

// ---- Det ----
double det_lu(std::vector<double>& a, int64_t n) {
  double det = 1;
  for (int64_t col = 0; col < n; ++col) {
    int64_t piv = col;
    for (int64_t r = col + 1; r < n; ++r)
      if (std::fabs(a[r * n + col]) > std::fabs(a[piv * n + col])) piv = r;
    if (a[piv * n + col] == 0) return 0;
    if (piv != col) {
      for (int64_t j = 0; j < n; ++j) std::swap(a[col * n + j], a[piv * n + j]);
      det = -det;
    }
    double p = a[col * n + col];
    det *= p;
    for (int64_t r = col + 1; r < n; ++r) {
      double f = a[r * n + col] / p;
      for (int64_t j = col; j < n; ++j) a[r * n + j] -= f * a[col * n + j];
    }
  }
  return det;
}

Status det_kernel(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  if (x.rank() < 2 || x.dim(x.rank() - 1) != x.dim(x.rank() - 2))
    return ctx.error("Det input must be [..., M, M], got " + shape_to_string(x.shape()));
  if (!dtype_is_float(x.dtype())) return ctx.error(std::string("Det needs a float type, got ") + dtype_name(x.dtype()));
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  int64_t n = x.dim(x.rank() - 1);
  int64_t batches = y->numel();
  std::vector<double> mat(static_cast<size_t>(n * n));
  for (int64_t b = 0; b < batches; ++b) {
    for (int64_t i = 0; i < n * n; ++i) mat[i] = load_double(x, b * n * n + i);
    store_double(*y, b, det_lu(mat, n));
  }
  return Status::ok();
}

}  // namespace

void register_matmul_kernels(KernelRegistry& r) {
  r.add_fn("", "MatMul", matmul_kernel);
  r.add_fn("", "Gemm", gemm_kernel);
  r.add_fn("", "Einsum", einsum_kernel);
  r.add_fn("", "Det", det_kernel);
}

}  // namespace ferry
