// quantize.h — INT8 post-training quantization: calibration observers, QDQ insertion, weight quantization.
//
// The flow of `ferry quantize` (src/tools/cli/quantize.cc):
//   FERRY_ASSIGN_OR_RETURN(Model m, load_onnx_model("model.onnx"));
//   std::vector<std::vector<Tensor>> batches = ...;              // calibration inputs, graph-input order
//   FERRY_RETURN_IF_ERROR(check_calibration_batches(m.graph, batches));
//   QuantOptions opt; opt.method = CalibMethod::kEntropy;
//   FERRY_ASSIGN_OR_RETURN(auto ranges, calibrate(m, targets_of(m.graph, opt), batches, opt, progress));
//   FERRY_ASSIGN_OR_RETURN(QdqReport rep, insert_qdq(m, ranges, opt));   // m is now a standard QDQ model
//
// Quantized ops are Conv, MatMul and Gemm: their float activation inputs get a QuantizeLinear/DequantizeLinear
// pair (int8 symmetric or uint8 asymmetric, per tensor) and their constant weights are stored as int8
// (symmetric, per tensor or per output channel) behind a DequantizeLinear. Biases stay float. The output runs
// in any ONNX runtime (ORT executes the QDQ pattern with integer kernels; ferry with reference Q/DQ kernels).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ferry/status.h"
#include "ir/graph.h"

namespace ferry::quant {

enum class CalibMethod {
  kMinMax,      // observed min and max
  kPercentile,  // the `percentile` of |x| (clips outliers)
  kEntropy,     // threshold minimizing KL divergence between float and quantized histograms (TensorRT)
  kMse,         // threshold minimizing the mean squared quantization error over the histogram
};
Expected<CalibMethod> parse_calib_method(const std::string& s);
const char* calib_method_name(CalibMethod m);

struct QuantOptions {
  CalibMethod method = CalibMethod::kMinMax;
  double percentile = 99.99;
  bool per_channel = false;        // weights: one scale per output channel
  bool symmetric_activations = true;  // int8 zero point 0; false: uint8 with a zero point
  std::set<std::string> exclude;   // node names kept in float
};

// The float range of one activation after calibration.
struct Range {
  float lo = 0, hi = 0;
};

// Histogram observer of one tensor: min/max over everything seen, and a histogram of |x| over [0, absmax]
// (filled in a second pass once absmax is known).
class Observer {
 public:
  static constexpr int kBins = 2048;
  void observe_minmax(const float* x, int64_t n);
  void observe_histogram(const float* x, int64_t n);
  // The range for `method` (symmetric: [-t, t]; asymmetric: the observed range clipped to [-t, t]).
  Range range(CalibMethod method, double percentile, bool symmetric) const;
  float lo() const { return lo_; }
  float hi() const { return hi_; }
  std::vector<double>& histogram() { return hist_; }

 private:
  float lo_ = 0, hi_ = 0;
  bool seen_ = false;
  std::vector<double> hist_;
};

// Thresholds on a histogram of |x| with `bins` bins over [0, absmax] (exposed for unit tests).
double percentile_threshold(const std::vector<double>& hist, double absmax, double percentile);
double entropy_threshold(const std::vector<double>& hist, double absmax, int levels = 128);
double mse_threshold(const std::vector<double>& hist, double absmax, int levels = 128);

// Nodes that would be quantized (quantizable op type, not excluded), in graph order.
std::vector<const Node*> quantizable_nodes(const Graph& g, const QuantOptions& opt);
// Activation values those nodes read (non-constant float inputs 0, and input 1 of MatMul).
std::vector<std::string> activation_targets(const Graph& g, const std::vector<const Node*>& nodes);

// Checks batches against the graph inputs: count, dtype, rank, fixed dims, finite floats. Errors name the
// batch and input. `what(i)` names batch i in messages (a folder or file name).
Status check_calibration_batches(const Graph& g, const std::vector<std::vector<Tensor>>& batches,
                                 const std::function<std::string(size_t)>& what);

// Runs the float model over the batches and returns the calibrated range of every target value.
// `progress(done, total)` is called after each batch of each pass.
using Progress = std::function<void(size_t done, size_t total, const char* phase)>;
Expected<std::map<std::string, Range>> calibrate(const Model& model, const std::vector<std::string>& targets,
                                                 const std::vector<std::vector<Tensor>>& batches,
                                                 const QuantOptions& opt, const Progress& progress);

struct QdqReport {
  std::vector<std::string> quantized_nodes;  // display names
  int activations = 0;                       // Q/DQ pairs inserted
  int weights = 0;                           // weights stored as int8
};
// Rewrites `model` in place into a QDQ model. Only nodes in `only` are quantized when it is non-empty.
Expected<QdqReport> insert_qdq(Model& model, const std::map<std::string, Range>& ranges, const QuantOptions& opt,
                               const std::set<std::string>& only = {});

// Weight quantization (quantize_weights.cc): int8 symmetric, per tensor or per channel along `axis`.
struct QuantizedWeight {
  Tensor q;      // int8, same shape as w
  Tensor scale;  // float scalar, or [channels] when per channel
  Tensor zero_point;  // int8, same shape as scale (all zeros)
};
Expected<QuantizedWeight> quantize_weight(const Tensor& w, bool per_channel, int axis);

// Output agreement between a reference and a test run (sensitivity.cc).
struct OutputError {
  double snr_db = 0;      // 10 log10(sum ref^2 / sum (ref - test)^2); 200 when identical
  double cosine = 1;      // cosine similarity of the flattened outputs
  double max_abs = 0;     // max |ref - test|
};
OutputError compare_outputs(const std::vector<std::vector<Tensor>>& ref, const std::vector<std::vector<Tensor>>& test);
// Runs a model over batches with ferry (no graph optimizations) and returns the outputs per batch.
Expected<std::vector<std::vector<Tensor>>> run_batches(const Model& model,
                                                       const std::vector<std::vector<Tensor>>& batches,
                                                       int threads = 0);

// One layer's effect on the model outputs when only it is quantized.
struct LayerSensitivity {
  std::string node;     // node name
  std::string op_type;
  OutputError error;
};
// Quantizes each quantizable node alone and compares the outputs with `reference` (run_batches of the float
// model over the same batches). Sorted most sensitive (lowest SNR) first.
Expected<std::vector<LayerSensitivity>> analyze_layers(const Model& model, const std::map<std::string, Range>& ranges,
                                                       const std::vector<std::vector<Tensor>>& batches,
                                                       const std::vector<std::vector<Tensor>>& reference,
                                                       const QuantOptions& opt, const Progress& progress);

// Accuracy budget on the whole-model outputs: SNR >= min_snr_db and cosine >= min_cosine.
struct Budget {
  double min_snr_db = 0;
  double min_cosine = -1;
  bool met(const OutputError& e) const { return e.snr_db >= min_snr_db && e.cosine >= min_cosine; }
};
struct FallbackResult {
  std::vector<std::string> kept_float;  // nodes fallen back to FP32, most sensitive first
  OutputError before, after;            // full quantization, and with the fallbacks
  bool met = false;
};
// Adds the most sensitive layers of `sensitivity` to opt.exclude one at a time until `budget` holds.
Expected<FallbackResult> fallback_until_budget(const Model& model, const std::map<std::string, Range>& ranges,
                                               const std::vector<std::vector<Tensor>>& batches,
                                               const std::vector<std::vector<Tensor>>& reference,
                                               QuantOptions& opt, const std::vector<LayerSensitivity>& sensitivity,
                                               const Budget& budget, const Progress& progress);

}  // namespace ferry::quant
