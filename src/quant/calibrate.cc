// calibrate.cc — calibration: run the float model with the activations to observe as extra graph outputs, and
// turn what each observer saw into a range (minmax, percentile, entropy/KL, mse).
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/threadpool.h"
#include "quant/quantize.h"
#include "runtime/executor.h"
#include "runtime/shape_inference.h"

namespace ferry::quant {

Expected<CalibMethod> parse_calib_method(const std::string& s) {
  if (s == "minmax") return CalibMethod::kMinMax;
  if (s == "percentile") return CalibMethod::kPercentile;
  if (s == "entropy" || s == "kl") return CalibMethod::kEntropy;
  if (s == "mse") return CalibMethod::kMse;
  return invalid_argument("unknown calibration method '" + s + "' (minmax, percentile, entropy, mse)");
}

const char* calib_method_name(CalibMethod m) {
  switch (m) {
    case CalibMethod::kMinMax: return "minmax";
    case CalibMethod::kPercentile: return "percentile";
    case CalibMethod::kEntropy: return "entropy";
    case CalibMethod::kMse: return "mse";
  }
  return "?";
}

void Observer::observe_minmax(const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float v = x[i];
    if (!std::isfinite(v)) continue;
    if (!seen_) { lo_ = hi_ = v; seen_ = true; }
    lo_ = std::min(lo_, v);
    hi_ = std::max(hi_, v);
  }
}

void Observer::observe_histogram(const float* x, int64_t n) {
  if (hist_.empty()) hist_.assign(kBins, 0.0);
  double absmax = std::max(std::fabs(lo_), std::fabs(hi_));
  if (absmax <= 0) { hist_[0] += static_cast<double>(n); return; }
  double k = kBins / absmax;
  for (int64_t i = 0; i < n; ++i) {
    double a = std::fabs(static_cast<double>(x[i]));
    if (!std::isfinite(a)) continue;
    int b = static_cast<int>(a * k);
    hist_[static_cast<size_t>(std::clamp(b, 0, kBins - 1))] += 1.0;
  }
}

double percentile_threshold(const std::vector<double>& hist, double absmax, double percentile) {
  double total = 0;
  for (double h : hist) total += h;
  if (total <= 0 || hist.empty()) return absmax;
  double want = total * std::clamp(percentile, 0.0, 100.0) / 100.0, acc = 0;
  double width = absmax / static_cast<double>(hist.size());
  for (size_t i = 0; i < hist.size(); ++i) {
    acc += hist[i];
    if (acc >= want) return width * static_cast<double>(i + 1);
  }
  return absmax;
}

namespace {

// KL(p || q) of two unnormalized histograms over the same bins (q's zero bins where p > 0 cost a large penalty).
double kl_divergence(const std::vector<double>& p, const std::vector<double>& q) {
  double sp = 0, sq = 0;
  for (size_t i = 0; i < p.size(); ++i) { sp += p[i]; sq += q[i]; }
  if (sp <= 0 || sq <= 0) return std::numeric_limits<double>::infinity();
  double kl = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] <= 0) continue;
    double pi = p[i] / sp, qi = q[i] / sq;
    kl += qi > 0 ? pi * std::log(pi / qi) : pi * 20.0;
  }
  return kl;
}

}  // namespace

double entropy_threshold(const std::vector<double>& hist, double absmax, int levels) {
  const int bins = static_cast<int>(hist.size());
  if (bins <= levels) return absmax;
  double width = absmax / bins, best = std::numeric_limits<double>::infinity();
  int best_i = bins;
  std::vector<double> p, q;
  for (int i = levels; i <= bins; ++i) {
    p.assign(hist.begin(), hist.begin() + i);
    for (int k = i; k < bins; ++k) p[static_cast<size_t>(i - 1)] += hist[static_cast<size_t>(k)];  // outliers clip
    q.assign(static_cast<size_t>(i), 0.0);
    // Merge the i reference bins into `levels` quantized bins, spread each back over its nonzero sources.
    for (int j = 0; j < levels; ++j) {
      int start = static_cast<int>(static_cast<int64_t>(j) * i / levels);
      int stop = static_cast<int>(static_cast<int64_t>(j + 1) * i / levels);
      double sum = 0;
      int nonzero = 0;
      for (int k = start; k < stop; ++k) {
        sum += hist[static_cast<size_t>(k)];
        nonzero += hist[static_cast<size_t>(k)] > 0;
      }
      for (int k = start; k < stop; ++k)
        if (hist[static_cast<size_t>(k)] > 0) q[static_cast<size_t>(k)] = sum / nonzero;
    }
    double kl = kl_divergence(p, q);
    if (kl < best) { best = kl; best_i = i; }
  }
  return width * best_i;
}

double mse_threshold(const std::vector<double>& hist, double absmax, int levels) {
  const int bins = static_cast<int>(hist.size());
  if (bins == 0 || absmax <= 0) return absmax;
  double width = absmax / bins, best = std::numeric_limits<double>::infinity(), best_t = absmax;
  for (int i = std::max(1, bins / 64); i <= bins; i += std::max(1, bins / 512)) {
    double t = width * i, step = t / (levels - 1), err = 0;
    for (int b = 0; b < bins; ++b) {
      if (hist[static_cast<size_t>(b)] <= 0) continue;
      double c = width * (b + 0.5);
      double d = c > t ? c - t : c - std::round(c / step) * step;
      err += hist[static_cast<size_t>(b)] * d * d;
    }
    if (err < best) { best = err; best_t = t; }
  }
  return best_t;
}

Range Observer::range(CalibMethod method, double percentile, bool symmetric) const {
  double absmax = std::max(std::fabs(lo_), std::fabs(hi_));
  double t = absmax;
  if (method != CalibMethod::kMinMax && !hist_.empty() && absmax > 0) {
    if (method == CalibMethod::kPercentile) t = percentile_threshold(hist_, absmax, percentile);
    if (method == CalibMethod::kEntropy) t = entropy_threshold(hist_, absmax);
    if (method == CalibMethod::kMse) t = mse_threshold(hist_, absmax);
  }
  Range r;
  if (symmetric) {
    r.lo = static_cast<float>(-t);
    r.hi = static_cast<float>(t);
  } else {
    r.lo = std::min(0.0f, static_cast<float>(std::max<double>(lo_, -t)));
    r.hi = std::max(0.0f, static_cast<float>(std::min<double>(hi_, t)));
  }
  return r;
}

Status check_calibration_batches(const Graph& g, const std::vector<std::vector<Tensor>>& batches,
                                 const std::function<std::string(size_t)>& what) {
  if (batches.empty()) return invalid_argument("no calibration data: no batches found");
  for (size_t b = 0; b < batches.size(); ++b) {
    const auto& batch = batches[b];
    if (batch.size() != g.inputs.size())
      return invalid_argument("calibration " + what(b) + ": " + std::to_string(batch.size()) +
                              " tensors, but the model has " + std::to_string(g.inputs.size()) + " inputs");
    for (size_t i = 0; i < batch.size(); ++i) {
      const Tensor& t = batch[i];
      const std::string& name = g.inputs[i];
      const ValueType* vt = g.type_of(name);
      std::string where = "calibration " + what(b) + ", input '" + name + "'";
      if (vt && vt->dtype != DType::kUndefined && t.dtype() != vt->dtype)
        return invalid_argument(where + ": dtype " + dtype_name(t.dtype()) + ", expected " + dtype_name(vt->dtype));
      if (vt && vt->shape.rank_known) {
        if (t.rank() != vt->shape.rank())
          return invalid_argument(where + ": shape " + shape_to_string(t.shape()) + ", expected " +
                                  vt->shape.to_string());
        for (int k = 0; k < t.rank(); ++k)
          if (vt->shape.dims[static_cast<size_t>(k)].known() && vt->shape.dims[static_cast<size_t>(k)].value != t.dim(k))
            return invalid_argument(where + ": shape " + shape_to_string(t.shape()) + ", expected " +
                                    vt->shape.to_string());
      }
      if (t.dtype() == DType::kFloat) {
        const float* p = t.data<float>();
        for (int64_t k = 0; k < t.numel(); ++k)
          if (!std::isfinite(p[k]))
            return invalid_argument(where + ": element " + std::to_string(k) + " is " +
                                    (std::isnan(p[k]) ? "NaN" : "infinite") + " (calibration data must be finite)");
      }
    }
  }
  return Status::ok();
}

Expected<std::vector<std::vector<Tensor>>> run_batches(const Model& model,
                                                       const std::vector<std::vector<Tensor>>& batches, int threads) {
  Model m = model;
  Graph& g = m.graph;
  FERRY_RETURN_IF_ERROR(g.topo_sort());
  FERRY_RETURN_IF_ERROR(g.verify());
  auto report = infer_graph_types(g, {});
  if (!report) return report.status();
  FERRY_ASSIGN_OR_RETURN(auto plan, CompiledGraph::compile(g, {}));
  ThreadPool pool(threads);
  std::vector<std::vector<Tensor>> outs;
  for (const auto& b : batches) {
    FERRY_ASSIGN_OR_RETURN(auto o, plan->run(b, pool));
    outs.push_back(std::move(o));
  }
  return outs;
}

Expected<std::map<std::string, Range>> calibrate(const Model& model, const std::vector<std::string>& targets,
                                                 const std::vector<std::vector<Tensor>>& batches,
                                                 const QuantOptions& opt, const Progress& progress) {
  std::map<std::string, Range> ranges;
  if (targets.empty()) return ranges;
  Model m = model;
  Graph& g = m.graph;
  size_t first = g.outputs.size();
  for (const auto& t : targets) g.outputs.push_back(t);
  FERRY_RETURN_IF_ERROR(g.topo_sort());
  auto report = infer_graph_types(g, {});
  if (!report) return report.status();
  FERRY_ASSIGN_OR_RETURN(auto plan, CompiledGraph::compile(g, {}));
  ThreadPool pool(0);
  std::vector<Observer> obs(targets.size());
  const bool hist = opt.method != CalibMethod::kMinMax;
  const int passes = hist ? 2 : 1;
  for (int pass = 0; pass < passes; ++pass) {
    for (size_t b = 0; b < batches.size(); ++b) {
      auto outs = plan->run(batches[b], pool);
      if (!outs) return outs.status().with_context("calibration batch " + std::to_string(b));
      for (size_t k = 0; k < targets.size(); ++k) {
        const Tensor& t = (*outs)[first + k];
        if (t.dtype() != DType::kFloat) continue;
        if (pass == 0) obs[k].observe_minmax(t.data<float>(), t.numel());
        else obs[k].observe_histogram(t.data<float>(), t.numel());
      }
      if (progress) progress(pass * batches.size() + b + 1, passes * batches.size(), pass == 0 ? "ranges" : "histograms");
    }
  }
  for (size_t k = 0; k < targets.size(); ++k)
    ranges[targets[k]] = obs[k].range(opt.method, opt.percentile, opt.symmetric_activations);
  return ranges;
}

}  // namespace ferry::quant
