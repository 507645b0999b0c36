// squeeze_excite.cc — CPU kernel of ferry.SqueezeExcite (semantics: src/ops/squeeze_excite.cc).
//
// Two passes over X per image: the channel means (each thread owns a range of channels and walks all rows,
// accumulating rows in blocks of 256 so that no running sum grows over more than 256 terms), then, after the
// two tiny 1x1 convs as dot products on the caller, Y = X * gate one row at a time. Both passes run on
// oneDNN's OpenMP team (conv_act.h: omp_team_run), the threads the surrounding convs keep awake. The unfused
// graph ran four nodes here: ReduceMean, two oneDNN 1x1 convs on a 1x1 image (each a primitive call and an
// OpenMP fork for a few thousand multiply-adds) and a broadcasting Mul on ferry's ThreadPool.
// SiLU and sigmoid use the same formulas as conv_act.cc (x / (1 + exp(-x)) and 1 / (1 + exp(-x))).
#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>
#include <vector>

#include "backends/cpu/kernel.h"
#include "backends/cpu/kernels/conv_act.h"
#include "backends/cpu/kernels/vec_avx512.h"

namespace ferry {

namespace {

enum class SeAct { kNone, kRelu, kSilu };

bool has_avx512() {
  static const bool v = __builtin_cpu_supports("avx512f");
  return v;
}

FERRY_AVX512 inline __mmask16 tail_mask(int64_t left) {
  return left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1);
}

// acc[c] += x[r * stride + c] for r < rows, c < n (n floats per row).
FERRY_AVX512 void add_rows_avx512(const float* x, int64_t rows, int64_t stride, int64_t n, float* acc) {
  for (int64_t c = 0; c < n; c += 16) {
    const __mmask16 m = tail_mask(n - c);
    __m512 s = _mm512_setzero_ps();
    for (int64_t r = 0; r < rows; ++r) s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(m, x + r * stride + c));
    _mm512_mask_storeu_ps(acc + c, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, acc + c), s));
  }
}

void add_rows(const float* x, int64_t rows, int64_t stride, int64_t n, float* acc) {
  if (has_avx512()) return add_rows_avx512(x, rows, stride, n, acc);
  for (int64_t c = 0; c < n; ++c) {
    float s = 0;
    for (int64_t r = 0; r < rows; ++r) s += x[r * stride + c];
    acc[c] += s;
  }
}

// y[r * n + c] = x[r * n + c] * g[c] for r < rows.
FERRY_AVX512 void scale_rows_avx512(const float* x, int64_t rows, int64_t n, const float* g, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    int64_t c = 0;
    for (; c + 16 <= n; c += 16)
      _mm512_storeu_ps(yr + c, _mm512_mul_ps(_mm512_loadu_ps(xr + c), _mm512_loadu_ps(g + c)));
    if (c < n) {
      const __mmask16 m = tail_mask(n - c);
      _mm512_mask_storeu_ps(yr + c, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, xr + c), _mm512_maskz_loadu_ps(m, g + c)));
    }
  }
}

void scale_rows(const float* x, int64_t rows, int64_t n, const float* g, float* y) {
  if (has_avx512()) return scale_rows_avx512(x, rows, n, g, y);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < n; ++c) y[r * n + c] = x[r * n + c] * g[c];
}

// out[i] = act(b[i] + dot(w[i, :], v)) for i < m; w is [m, k] row-major. act: 0 none, 1 relu, 2 silu, 3 sigmoid.
FERRY_AVX512 void matvec_act_avx512(const float* w, const float* b, const float* v, int64_t m, int64_t k, int act,
                                    float* out) {
  for (int64_t i = 0; i < m; ++i) {
    __m512 s = _mm512_setzero_ps();
    for (int64_t j = 0; j < k; j += 16) {
      const __mmask16 mk = tail_mask(k - j);
      s = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, w + i * k + j), _mm512_maskz_loadu_ps(mk, v + j), s);
    }
    out[i] = b[i] + _mm512_reduce_add_ps(s);
  }
  if (act == 0) return;
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < m; i += 16) {
    const __mmask16 mk = tail_mask(m - i);
    const __m512 x = _mm512_maskz_loadu_ps(mk, out + i);
    __m512 r;
    if (act == 1) {
      r = _mm512_max_ps(x, _mm512_setzero_ps());
    } else {
      const __m512 d = _mm512_add_ps(one, exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), x)));
      r = act == 2 ? _mm512_div_ps(x, d) : _mm512_div_ps(one, d);
      r = _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x);  // NaN stays NaN
    }
    _mm512_mask_storeu_ps(out + i, mk, r);
  }
}

void matvec_act(const float* w, const float* b, const float* v, int64_t m, int64_t k, int act, float* out) {
  if (has_avx512()) return matvec_act_avx512(w, b, v, m, k, act, out);
  for (int64_t i = 0; i < m; ++i) {
    float s = 0;
    for (int64_t j = 0; j < k; ++j) s += w[i * k + j] * v[j];
    const float x = b[i] + s;
    out[i] = act == 0 ? x : act == 1 ? (x > 0 ? x : 0.f) : act == 2 ? x / (1.f + std::exp(-x)) : 1.f / (1.f + std::exp(-x));
  }
}

class SqueezeExciteKernel : public CpuKernel {
 public:
  explicit SqueezeExciteKernel(SeAct act) : act_(act) {}

  Status run(KernelContext& ctx) override {
    const Tensor* in[5];
    for (int i = 0; i < 5; ++i) {
      in[i] = ctx.input(i);
      if (!in[i] || in[i]->dtype() != DType::kFloat) return ctx.error("inputs X, W1, B1, W2, B2 must be float32");
    }
    const Tensor& x = *in[0];
    if (x.rank() != 4) return ctx.error("X must be [N, H, W, C], got " + shape_to_string(x.shape()));
    const int64_t n = x.dim(0), rows = x.dim(1) * x.dim(2), c = x.dim(3);
    const int64_t r = in[1]->rank() == 4 ? in[1]->dim(0) : -1;
    if (r < 0 || in[1]->numel() != r * c || in[2]->numel() != r || in[3]->numel() != c * r || in[4]->numel() != c)
      return ctx.error("weights W1 " + shape_to_string(in[1]->shape()) + " / W2 " + shape_to_string(in[3]->shape()) +
                       " do not match X " + shape_to_string(x.shape()));
    FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
    if (y->numel() != x.numel()) return internal_error("node " + ctx.node().display_name() + ": bad Y shape");
    if (x.numel() == 0) return Status::ok();
    if (rows == 0) return ctx.error("X has no spatial elements to average");
    std::lock_guard<std::mutex> lock(mu_);  // scratch_ is shared by concurrent runs of the session
    if (static_cast<int64_t>(scratch_.size()) < 2 * c + r) scratch_.assign(static_cast<size_t>(2 * c + r), 0.f);
    float* mean = scratch_.data();
    float* gate = mean + c;
    float* hidden = gate + c;
    const float* w1 = in[1]->data<float>();
    const float* b1 = in[2]->data<float>();
    const float* w2 = in[3]->data<float>();
    const float* b2 = in[4]->data<float>();
    // Below ~32K elements a pass takes a few microseconds: one thread (no fork/join).
    const int threads = rows * c >= (int64_t{1} << 15) ? ctx.pool().threads() : 1;
    for (int64_t b = 0; b < n; ++b) {
      const float* xb = x.data<float>() + b * rows * c;
      float* yb = y->data<float>() + b * rows * c;
      std::fill(mean, mean + c, 0.f);
      omp_team_run(threads, [&](int t, int nt) {
        const int64_t blocks = (c + 15) / 16;
        const int64_t c0 = std::min(c, blocks * t / nt * 16), c1 = std::min(c, blocks * (t + 1) / nt * 16);
        for (int64_t r0 = 0; r0 < rows && c1 > c0; r0 += 256)
          add_rows(xb + r0 * c + c0, std::min<int64_t>(256, rows - r0), c, c1 - c0, mean + c0);
      });
      const float inv = 1.f / static_cast<float>(rows);
      for (int64_t k = 0; k < c; ++k) mean[k] *= inv;
      matvec_act(w1, b1, mean, r, c, static_cast<int>(act_), hidden);
      matvec_act(w2, b2, hidden, c, r, 3, gate);
      omp_team_run(threads, [&](int t, int nt) {
        const int64_t lo = rows * t / nt, hi = rows * (t + 1) / nt;
        if (hi > lo) scale_rows(xb + lo * c, hi - lo, c, gate, yb + lo * c);
      });
    }
    return Status::ok();
  }

 private:
  SeAct act_;
  std::mutex mu_;
  std::vector<float> scratch_;  // mean [C], gate [C], hidden [R]; sized on the first run
};

}  // namespace

void register_squeeze_excite_kernels(KernelRegistry& r) {
  r.add("ferry", "SqueezeExcite", [](const Node& n) -> Expected<std::unique_ptr<CpuKernel>> {
    const std::string a = n.attr_string("activation", "none");
    SeAct act;
    if (a == "none") act = SeAct::kNone;
    else if (a == "relu") act = SeAct::kRelu;
    else if (a == "silu") act = SeAct::kSilu;
    else return invalid_argument("node " + n.display_name() + ": unknown activation '" + a + "'");
    return std::unique_ptr<CpuKernel>(new SqueezeExciteKernel(act));
  });
}

}  // namespace ferry
