// training.cc — op semantics of the ai.onnx.preview.training optimizers: Adagrad, Momentum, Adam.
// Inputs are R (learning rate), T (update count), then n tensors per group: X, G, and the optimizer's state
// (Adagrad: H; Momentum: V; Adam: V, H). Outputs are the updated X and state groups, each shaped like its input.
#include "ops/op_registry.h"

namespace ferry {

namespace {

// `groups`: input groups after R and T (X, G, states...); `out_groups`: which input group each output group mirrors.
Status infer_optimizer(InferContext& c, int groups, const std::vector<int>& out_groups) {
  int rest = c.num_inputs() - 2;
  if (rest <= 0 || rest % groups != 0)
    return c.error("expects R, T and " + std::to_string(groups) + " equally sized groups of tensors");
  int n = rest / groups;
  if (c.num_outputs() > n * static_cast<int>(out_groups.size()))
    return c.error("expects at most " + std::to_string(n * static_cast<int>(out_groups.size())) + " outputs");
  DType rt = c.input_dtype(0), tt = c.input_dtype(1);
  if (rt != DType::kUndefined && rt != DType::kFloat && rt != DType::kDouble) return c.error("R must be float or double");
  if (tt != DType::kUndefined && tt != DType::kInt64) return c.error("T must be int64");
  for (int k = 0; k < n; ++k) {
    for (int g = 1; g < groups; ++g) {
      const SymShape& a = c.input_shape(2 + k);
      const SymShape& b = c.input_shape(2 + g * n + k);
      if (a.is_concrete() && b.is_concrete() && a.to_shape() != b.to_shape())
        return c.error("tensor " + std::to_string(k) + " of group " + std::to_string(g) + " has shape " +
                       b.to_string() + ", expected " + a.to_string());
    }
  }
  for (int o = 0; o < c.num_outputs(); ++o) {
    int in = 2 + out_groups[static_cast<size_t>(o / n)] * n + o % n;
    c.set_output(o, c.input_dtype(in), c.input_shape(in));
  }
  return Status::ok();
}

}  // namespace

void register_training(OpRegistry& r) {
  const char* d = "ai.onnx.preview.training";
  r.add({d, "Adagrad", 3, -1, 1, -1, [](InferContext& c) { return infer_optimizer(c, 3, {0, 2}); }});
  r.add({d, "Momentum", 3, -1, 1, -1, [](InferContext& c) {
           std::string mode = c.node().attr_string("mode", "standard");
           if (mode != "standard" && mode != "nesterov") return c.error("mode must be 'standard' or 'nesterov'");
           return infer_optimizer(c, 3, {0, 2});
         }});
  r.add({d, "Adam", 3, -1, 1, -1, [](InferContext& c) { return infer_optimizer(c, 4, {0, 2, 3}); }});
}

}  // namespace ferry
