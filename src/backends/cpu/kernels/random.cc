// random.cc — CPU reference kernels of the random family. Each node owns a generator (std::mt19937_64), seeded
// from the `seed` attribute when given (reproducible across sessions) or from std::random_device otherwise;
// successive runs continue the sequence.
#include <algorithm>
#include <cmath>
#include <mutex>
#include <random>

#include "backends/cpu/kernel.h"
#include "core/dtype_dispatch.h"

namespace ferry {

namespace {

enum class Kind { kNormal, kUniform, kNormalLike, kUniformLike, kBernoulli, kMultinomial };

class RandomKernel : public CpuKernel {
 public:
  RandomKernel(const Node& n, Kind kind) : kind_(kind) {
    if (const Attr* s = n.attr("seed")) {
      gen_.seed(static_cast<uint64_t>(static_cast<int64_t>(s->kind == Attr::Kind::kFloat ? s->f : s->i)));
    } else {
      std::random_device rd;
      gen_.seed((static_cast<uint64_t>(rd()) << 32) ^ rd());
    }
    a_ = n.attr_float(kind == Kind::kNormal || kind == Kind::kNormalLike ? "mean" : "low", 0.0f);
    b_ = n.attr_float(kind == Kind::kNormal || kind == Kind::kNormalLike ? "scale" : "high", 1.0f);
  }

  Status run(KernelContext& ctx) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (kind_ == Kind::kMultinomial) return multinomial(ctx);
    FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
    int64_t n = y->numel();
    if (kind_ == Kind::kBernoulli) {
      const Tensor& p = *ctx.input(0);
      std::uniform_real_distribution<double> u(0.0, 1.0);
      for (int64_t i = 0; i < n; ++i) {
        double prob = load_double(p, i);
        if (!(prob >= 0.0 && prob <= 1.0)) return ctx.error("probabilities must be in [0, 1]");
        store_double(*y, i, u(gen_) < prob ? 1.0 : 0.0);
      }
      return Status::ok();
    }
    if (kind_ == Kind::kNormal || kind_ == Kind::kNormalLike) {
      if (!(b_ >= 0)) return ctx.error("scale must be >= 0");
      std::normal_distribution<double> d(a_, b_);
      for (int64_t i = 0; i < n; ++i) store_double(*y, i, d(gen_));
    } else {
      if (!(b_ >= a_)) return ctx.error("high must be >= low");
      std::uniform_real_distribution<double> d(a_, b_);
      for (int64_t i = 0; i < n; ++i) store_double(*y, i, d(gen_));
    }
    return Status::ok();
  }

 private:
  // Samples class indices from unnormalized log-probabilities, one row per batch entry.
  Status multinomial(KernelContext& ctx) {
    const Tensor& x = *ctx.input(0);
    if (x.rank() != 2) return ctx.error("input must be [batch_size, class_size]");
    FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
    int64_t batch = x.dim(0), classes = x.dim(1), samples = y->dim(1);
    if (classes == 0 && samples > 0) return ctx.error("class_size must be > 0");
    std::vector<double> cdf(static_cast<size_t>(classes));
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (int64_t b = 0; b < batch; ++b) {
      double mx = -INFINITY;
      for (int64_t c = 0; c < classes; ++c) mx = std::max(mx, load_double(x, b * classes + c));
      double acc = 0;
      for (int64_t c = 0; c < classes; ++c) {
        double v = load_double(x, b * classes + c);
        acc += std::isfinite(mx) ? std::exp(v - mx) : 0.0;
        cdf[static_cast<size_t>(c)] = acc;
      }
      for (int64_t s = 0; s < samples; ++s) {
        double r = u(gen_) * acc;
        int64_t k = std::upper_bound(cdf.begin(), cdf.end(), r) - cdf.begin();
        store_double(*y, b * samples + s, static_cast<double>(std::min(k, classes - 1)));
      }
    }
    return Status::ok();
  }

  Kind kind_;
  double a_ = 0, b_ = 1;
  std::mt19937_64 gen_;
  std::mutex mu_;
};

CpuKernelFactory factory(Kind kind) {
  return [kind](const Node& n) -> Expected<std::unique_ptr<CpuKernel>> {
    return std::unique_ptr<CpuKernel>(new RandomKernel(n, kind));
  };
}

}  // namespace

void register_random_kernels(KernelRegistry& r) {
  r.add("", "RandomNormal", factory(Kind::kNormal));
  r.add("", "RandomUniform", factory(Kind::kUniform));
  r.add("", "RandomNormalLike", factory(Kind::kNormalLike));
  r.add("", "RandomUniformLike", factory(Kind::kUniformLike));
  r.add("", "Bernoulli", factory(Kind::kBernoulli));
  r.add("", "Multinomial", factory(Kind::kMultinomial));
}

}  // namespace ferry
