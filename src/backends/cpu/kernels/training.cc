// training.cc — CPU reference kernels of the ai.onnx.preview.training optimizers Adagrad, Momentum and Adam
// (formulas as in the ONNX spec; computed in double, stored in each tensor's own type).
#include <cmath>

#include "backends/cpu/kernel.h"
#include "core/dtype_dispatch.h"

namespace ferry {

namespace {

enum class Opt { kAdagrad, kMomentum, kAdam };

Status optimizer(KernelContext& ctx, Opt opt) {
  const Node& node = ctx.node();
  int groups = opt == Opt::kAdam ? 4 : 3;
  int rest = ctx.num_inputs() - 2;
  if (rest <= 0 || rest % groups != 0) return ctx.error("wrong number of inputs");
  int n = rest / groups;
  const Tensor* rt = ctx.input(0);
  const Tensor* tt = ctx.input(1);
  if (!rt || !tt || rt->numel() != 1 || tt->numel() != 1) return ctx.error("R and T must be scalars");
  if (!dtype_is_float(rt->dtype()) || !dtype_is_integer(tt->dtype())) return ctx.error("R must be float, T int64");
  double r = load_double(*rt, 0);
  int64_t t = to_int64_vector(*tt)[0];
  double norm = node.attr_float("norm_coefficient", 0.0f);
  for (int k = 0; k < n; ++k) {
    std::vector<const Tensor*> in;
    for (int g = 0; g < groups; ++g) {
      const Tensor* x = ctx.input(2 + g * n + k);
      if (!x) return ctx.error("input " + std::to_string(2 + g * n + k) + " is missing");
      if (!dtype_is_float(x->dtype())) return ctx.error("X, G and states must be float tensors");
      if (g > 0 && x->shape() != in[0]->shape()) return ctx.error("X, G and states must have the same shapes");
      in.push_back(x);
    }
    int64_t m = in[0]->numel();
    // Output slots: group 0 is X_new, then the state groups in input order.
    auto out = [&](int og) -> Tensor* {
      int o = og * n + k;
      if (o >= ctx.num_outputs() || !ctx.has_output(o)) return nullptr;
      const Tensor* src = in[static_cast<size_t>(og == 0 ? 0 : og + 1)];
      return ctx.output(o, src->dtype(), src->shape());
    };
    Tensor* x_new = out(0);
    Tensor* s1 = out(1);
    Tensor* s2 = opt == Opt::kAdam ? out(2) : nullptr;
    for (int64_t i = 0; i < m; ++i) {
      double x = load_double(*in[0], i), g = load_double(*in[1], i) + norm * x;
      if (opt == Opt::kAdagrad) {
        double decay = node.attr_float("decay_factor", 0.0f), eps = node.attr_float("epsilon", 0.0f);
        double lr = r / (1.0 + static_cast<double>(t) * decay);
        double h = load_double(*in[2], i) + g * g;
        if (x_new) store_double(*x_new, i, x - lr * g / (std::sqrt(h) + eps));
        if (s1) store_double(*s1, i, h);
      } else if (opt == Opt::kMomentum) {
        double alpha = node.attr_float("alpha", 0.0f), beta = t > 0 ? node.attr_float("beta", 0.0f) : 1.0;
        double v = alpha * load_double(*in[2], i) + beta * g;
        bool nesterov = node.attr_string("mode", "standard") == "nesterov";
        if (x_new) store_double(*x_new, i, nesterov ? x - r * (g + alpha * v) : x - r * v);
        if (s1) store_double(*s1, i, v);
      } else {
        double alpha = node.attr_float("alpha", 0.9f), beta = node.attr_float("beta", 0.999f);
        double eps = node.attr_float("epsilon", 0.0f), post = node.attr_float("norm_coefficient_post", 0.0f);
        double v = alpha * load_double(*in[2], i) + (1 - alpha) * g;
        double h = beta * load_double(*in[3], i) + (1 - beta) * g * g;
        double lr = t > 0 ? r * std::sqrt(1 - std::pow(beta, static_cast<double>(t))) /
                                (1 - std::pow(alpha, static_cast<double>(t)))
                          : r;
        if (x_new) store_double(*x_new, i, (1 - post) * (x - lr * v / (std::sqrt(h) + eps)));
        if (s1) store_double(*s1, i, v);
        if (s2) store_double(*s2, i, h);
      }
    }
  }
  return Status::ok();
}

Status adagrad(KernelContext& ctx) { return optimizer(ctx, Opt::kAdagrad); }
Status momentum(KernelContext& ctx) { return optimizer(ctx, Opt::kMomentum); }
Status adam(KernelContext& ctx) { return optimizer(ctx, Opt::kAdam); }

}  // namespace

void register_training_kernels(KernelRegistry& r) {
  const char* d = "ai.onnx.preview.training";
  r.add_fn(d, "Adagrad", adagrad);
  r.add_fn(d, "Momentum", momentum);
  r.add_fn(d, "Adam", adam);
}

}  // namespace ferry
