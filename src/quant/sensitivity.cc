// sensitivity.cc — per-layer sensitivity (quantize one layer, measure the outputs) and accuracy-budget fallback.
#include <algorithm>
#include <cmath>

#include "quant/quantize.h"

namespace ferry::quant {

OutputError compare_outputs(const std::vector<std::vector<Tensor>>& ref, const std::vector<std::vector<Tensor>>& test) {
  double sig = 0, noise = 0, dot = 0, nr = 0, nt = 0, max_abs = 0;
  for (size_t b = 0; b < ref.size() && b < test.size(); ++b)
    for (size_t k = 0; k < ref[b].size() && k < test[b].size(); ++k) {
      const Tensor& r = ref[b][k];
      const Tensor& t = test[b][k];
      if (r.dtype() != DType::kFloat || t.dtype() != DType::kFloat || r.numel() != t.numel()) continue;
      const float* pr = r.data<float>();
      const float* pt = t.data<float>();
      for (int64_t i = 0; i < r.numel(); ++i) {
        double a = pr[i], c = pt[i], d = a - c;
        sig += a * a;
        noise += d * d;
        dot += a * c;
        nr += a * a;
        nt += c * c;
        max_abs = std::max(max_abs, std::fabs(d));
      }
    }
  OutputError e;
  e.snr_db = noise <= 0 ? 200.0 : sig <= 0 ? -200.0 : std::min(200.0, 10.0 * std::log10(sig / noise));
  e.cosine = nr > 0 && nt > 0 ? dot / std::sqrt(nr * nt) : (nr == nt ? 1.0 : 0.0);
  e.max_abs = max_abs;
  return e;
}

namespace {

Expected<OutputError> evaluate(const Model& model, const std::map<std::string, Range>& ranges,
                               const std::vector<std::vector<Tensor>>& batches,
                               const std::vector<std::vector<Tensor>>& reference, const QuantOptions& opt,
                               const std::set<std::string>& only) {
  Model m = model;
  auto rep = insert_qdq(m, ranges, opt, only);
  if (!rep) return rep.status();
  FERRY_ASSIGN_OR_RETURN(auto outs, run_batches(m, batches));
  return compare_outputs(reference, outs);
}

}  // namespace

Expected<std::vector<LayerSensitivity>> analyze_layers(const Model& model, const std::map<std::string, Range>& ranges,
                                                       const std::vector<std::vector<Tensor>>& batches,
                                                       const std::vector<std::vector<Tensor>>& reference,
                                                       const QuantOptions& opt, const Progress& progress) {
  std::vector<LayerSensitivity> out;
  auto nodes = quantizable_nodes(model.graph, opt);
  for (size_t k = 0; k < nodes.size(); ++k) {
    const Node* n = nodes[k];
    if (n->name.empty()) continue;  // only named nodes can be selected (and excluded) by name
    FERRY_ASSIGN_OR_RETURN(OutputError e, evaluate(model, ranges, batches, reference, opt, {n->name}));
    out.push_back({n->name, n->op_type, e});
    if (progress) progress(k + 1, nodes.size(), "layers");
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const LayerSensitivity& a, const LayerSensitivity& b) { return a.error.snr_db < b.error.snr_db; });
  return out;
}

Expected<FallbackResult> fallback_until_budget(const Model& model, const std::map<std::string, Range>& ranges,
                                               const std::vector<std::vector<Tensor>>& batches,
                                               const std::vector<std::vector<Tensor>>& reference,
                                               QuantOptions& opt, const std::vector<LayerSensitivity>& sensitivity,
                                               const Budget& budget, const Progress& progress) {
  FallbackResult r;
  FERRY_ASSIGN_OR_RETURN(r.before, evaluate(model, ranges, batches, reference, opt, {}));
  r.after = r.before;
  r.met = budget.met(r.after);
  for (size_t k = 0; k < sensitivity.size() && !r.met; ++k) {
    opt.exclude.insert(sensitivity[k].node);
    r.kept_float.push_back(sensitivity[k].node);
    FERRY_ASSIGN_OR_RETURN(r.after, evaluate(model, ranges, batches, reference, opt, {}));
    r.met = budget.met(r.after);
    if (progress) progress(k + 1, sensitivity.size(), "fallback");
  }
  return r;
}

}  // namespace ferry::quant
