// loss.cc — CPU reference kernels of the loss family: NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss.
//
// Both reduce to one NLL over log-probabilities viewed as [N, C, D] (D = prod(d1..dk)) in double:
// loss[n,d] = -w[t] * logp[n, t, d] with t = target[n,d]; entries equal to ignore_index contribute 0 with weight
// 0. "mean" divides by the summed weights of the non-ignored entries (their count without a weight input), as
// the ONNX reference does; a target outside [0, C) that is not ignore_index is an error.
#include <cmath>
#include <limits>

#include "backends/cpu/kernel.h"
#include "core/dtype_dispatch.h"

namespace ferry {

namespace {

Status nll(KernelContext& ctx, const std::vector<double>& logp, const Shape& in_shape, Tensor* loss_out) {
  const Tensor& target = *ctx.input(1);
  const Tensor* weight = ctx.input(2);
  const Node& node = ctx.node();
  std::string reduction = node.attr_string("reduction", "mean");
  const Attr* ii_attr = node.attr("ignore_index");
  bool has_ii = ii_attr != nullptr;
  int64_t ii = has_ii ? ii_attr->i : 0;
  if (in_shape.size() < 2) return ctx.error("input must have rank >= 2 ([N, C, ...])");
  int64_t N = in_shape[0], C = in_shape[1];
  int64_t D = 1;
  for (size_t i = 2; i < in_shape.size(); ++i) D *= in_shape[i];
  if (target.numel() != N * D) return ctx.error("target shape does not match input shape");
  std::vector<int64_t> tg = to_int64_vector(target);
  std::vector<double> w;
  if (weight) {
    if (weight->numel() != C) return ctx.error("weight must have shape [C]");
    w = to_double_vector(*weight);
  }
  std::vector<double> loss(static_cast<size_t>(N * D), 0.0);
  double sum = 0, wsum = 0;
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t d = 0; d < D; ++d) {
      int64_t i = n * D + d;
      int64_t t = tg[static_cast<size_t>(i)];
      if (has_ii && t == ii) continue;
      if (t < 0 || t >= C)
        return ctx.error("target value " + std::to_string(t) + " out of range [0, " + std::to_string(C) + ")");
      double wt = weight ? w[static_cast<size_t>(t)] : 1.0;
      double l = -wt * logp[static_cast<size_t>((n * C + t) * D + d)];
      loss[static_cast<size_t>(i)] = l;
      sum += l;
      wsum += wt;
    }
  }
  if (reduction == "none") {
    if (loss_out->numel() != N * D) return ctx.error("internal: loss output size mismatch");
    for (int64_t i = 0; i < N * D; ++i) store_double(*loss_out, i, loss[static_cast<size_t>(i)]);
  } else if (reduction == "sum") {
    store_double(*loss_out, 0, sum);
  } else if (reduction == "mean") {
    store_double(*loss_out, 0, sum / wsum);
  } else {
    return ctx.error("reduction must be none, sum or mean, got '" + reduction + "'");
  }
  return Status::ok();
}

Status check_input(KernelContext& ctx, const Tensor& x) {
  if (x.dtype() != DType::kFloat && x.dtype() != DType::kDouble && x.dtype() != DType::kFloat16 &&
      x.dtype() != DType::kBFloat16)
    return ctx.unsupported_error(std::string("input type ") + dtype_name(x.dtype()) + " not supported");
  if (x.rank() < 2) return ctx.error("input must have rank >= 2 ([N, C, ...])");
  const Tensor& t = *ctx.input(1);
  if (t.dtype() != DType::kInt32 && t.dtype() != DType::kInt64) return ctx.error("target must be int32 or int64");
  if (t.rank() != x.rank() - 1) return ctx.error("target rank must be input rank - 1");
  for (int i = 0; i < t.rank(); ++i)
    if (t.dim(i) != x.dim(i == 0 ? 0 : i + 1)) return ctx.error("target shape does not match input shape");
  return Status::ok();
}

Status nll_loss(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  FERRY_RETURN_IF_ERROR(check_input(ctx, x));
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  return nll(ctx, to_double_vector(x), x.shape(), y);
}

Status sce_loss(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  FERRY_RETURN_IF_ERROR(check_input(ctx, x));
  std::vector<double> v = to_double_vector(x);
  int64_t N = x.dim(0), C = x.dim(1), D = x.numel() / std::max<int64_t>(1, N * C);
  // log_softmax over axis 1 in place.
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t d = 0; d < D; ++d) {
      double m = -std::numeric_limits<double>::infinity();
      for (int64_t c = 0; c < C; ++c) m = std::max(m, v[static_cast<size_t>((n * C + c) * D + d)]);
      if (std::isinf(m) && m < 0) m = 0;
      double s = 0;
      for (int64_t c = 0; c < C; ++c) s += std::exp(v[static_cast<size_t>((n * C + c) * D + d)] - m);
      double lse = m + std::log(s);
      for (int64_t c = 0; c < C; ++c) v[static_cast<size_t>((n * C + c) * D + d)] -= lse;
    }
  }
  FERRY_ASSIGN_OR_RETURN(Tensor * y, ctx.output(0));
  FERRY_RETURN_IF_ERROR(nll(ctx, v, x.shape(), y));
  if (ctx.has_output(1)) {
    FERRY_ASSIGN_OR_RETURN(Tensor * lp, ctx.output(1));
    if (lp->numel() != x.numel()) return ctx.error("internal: log_prob output size mismatch");
    for (int64_t i = 0; i < x.numel(); ++i) store_double(*lp, i, v[static_cast<size_t>(i)]);
  }
  return Status::ok();
}

}  // namespace

void register_loss_kernels(KernelRegistry& r) {
  r.add_fn("", "NegativeLogLikelihoodLoss", nll_loss);
  r.add_fn("", "SoftmaxCrossEntropyLoss", sce_loss);
}

}  // namespace ferry
