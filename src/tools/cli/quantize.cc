// quantize.cc — `ferry quantize IN.onnx OUT.onnx`: INT8 post-training quantization to standard QDQ ONNX, with
// calibration (folder or random inputs), per-layer sensitivity analysis and accuracy-budget fallback to FP32.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ir/onnx_import.h"
#include "quant/calib_data.h"
#include "quant/quantize.h"
#include "tools/cli/cli.h"
#include "tools/cli/random_inputs.h"

namespace ferry::cli {

namespace {

struct QuantizeArgs {
  std::string in, out, calib_data, method = "minmax", analyze_json, eval_cmd;
  int calib_random = 0;
  double percentile = 99.99;
  bool per_channel = false, symmetric = false, asymmetric = false, analyze = false, quiet = false;
  std::vector<std::string> exclude, shapes;
  double budget_snr = -1, budget_cosine = -2;
  int analyze_batches = 4;
  uint64_t seed = 0;
};

quant::Progress progress_bar(bool quiet) {
  if (quiet) return nullptr;
  return [](size_t done, size_t total, const char* phase) {
    const int width = 30;
    int fill = total ? static_cast<int>(width * done / total) : width;
    std::fprintf(stderr, "\r%-10s [%s%s] %zu/%zu", phase, std::string(static_cast<size_t>(fill), '#').c_str(),
                 std::string(static_cast<size_t>(width - fill), '.').c_str(), done, total);
    if (done == total) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  };
}

Expected<quant::CalibData> calibration_batches(const QuantizeArgs& a, const Model& m) {
  if (!a.calib_data.empty()) return quant::load_calibration_folder(m.graph, a.calib_data);
  if (a.calib_random < 0) return invalid_argument("--calib-random must be >= 1");
  int n = a.calib_random > 0 ? a.calib_random : 8;
  std::unordered_map<std::string, Shape> overrides;
  for (const auto& spec : a.shapes) {
    auto p = parse_shape_spec(spec);
    if (!p) return p.status();
    overrides[p->first] = p->second;
  }
  quant::CalibData d;
  for (int b = 0; b < n; ++b) {
    std::vector<Tensor> batch;
    for (const auto& name : m.graph.inputs) {
      IoInfo info;
      info.name = name;
      if (const ValueType* vt = m.graph.type_of(name)) {
        info.dtype = vt->dtype;
        info.rank_known = vt->shape.rank_known;
        for (const Dim& dim : vt->shape.dims) {
          info.dims.push_back(dim.known() ? dim.value : -1);
          info.dim_names.push_back(dim.symbol);
        }
      }
      FERRY_ASSIGN_OR_RETURN(Shape s, resolve_input_shape(info, overrides));
      batch.push_back(random_tensor(info.dtype, s, a.seed + static_cast<uint64_t>(b * 1000) + batch.size()));
    }
    d.batches.push_back(std::move(batch));
    d.names.push_back("random batch " + std::to_string(b));
  }
  return d;
}

std::string fmt(double v, int prec) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(prec) << v;
  return s.str();
}

nlohmann::json error_json(const quant::OutputError& e) {
  return {{"snr_db", e.snr_db}, {"cosine", e.cosine}, {"max_abs_error", e.max_abs}};
}

void print_sensitivity(const std::vector<quant::LayerSensitivity>& sens) {
  std::cout << "| rank | node | op | SNR dB | cosine | max abs err |\n|---:|---|---|---:|---:|---:|\n";
  for (size_t k = 0; k < sens.size(); ++k) {
    const auto& s = sens[k];
    std::cout << "| " << k + 1 << " | " << s.node << " | " << s.op_type << " | " << fmt(s.error.snr_db, 2) << " | "
              << fmt(s.error.cosine, 6) << " | " << fmt(s.error.max_abs, 5) << " |\n";
  }
}

// Runs the --eval command with {model} replaced by `model_path` (appended when the command has no {model}) and
// returns the last number it printed on stdout as a word of its own (the metric: higher is better, e.g. accuracy
// in percent; "acc 97.5" and "97.5%" both give 97.5).
Expected<double> run_eval(const std::string& cmd_template, const std::string& model_path) {
  std::string cmd = cmd_template;
  const std::string quoted = "'" + model_path + "'";
  if (cmd.find("{model}") == std::string::npos) cmd += " " + quoted;
  for (size_t p; (p = cmd.find("{model}")) != std::string::npos;) cmd.replace(p, 7, quoted);
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return internal_error("--eval: cannot start '" + cmd + "'");
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof(buf), pipe)) > 0;) out.append(buf, n);
  const int rc = pclose(pipe);
  if (rc != 0) return invalid_argument("--eval command failed (status " + std::to_string(rc) + "): " + cmd);
  std::optional<double> last;  // the last whitespace-separated token that is a number (a trailing % allowed)
  std::istringstream tokens(out);
  for (std::string t; tokens >> t;) {
    if (!t.empty() && t.back() == '%') t.pop_back();
    char* end = nullptr;
    const double v = std::strtod(t.c_str(), &end);
    if (!t.empty() && end == t.c_str() + t.size() && std::isfinite(v)) last = v;
  }
  if (!last) return invalid_argument("--eval command printed no number: " + cmd);
  return *last;
}

// --accuracy-budget X --eval CMD: falls back the most SNR-sensitive layers to FP32 until CMD's metric on the
// quantized model is >= its metric on the float model minus X.
Status eval_fallback(const QuantizeArgs& a, const Model& model, const std::map<std::string, quant::Range>& ranges,
                     quant::QuantOptions& opt, const std::vector<quant::LayerSensitivity>& sens, nlohmann::json& j) {
  const std::string tmp = a.out + ".eval.onnx";
  FERRY_ASSIGN_OR_RETURN(double base, run_eval(a.eval_cmd, a.in));
  auto metric = [&]() -> Expected<double> {
    Model q = model;
    FERRY_RETURN_IF_ERROR(quant::insert_qdq(q, ranges, opt).status());
    FERRY_RETURN_IF_ERROR(save_onnx_model(q, tmp));
    auto m = run_eval(a.eval_cmd, tmp);
    std::remove(tmp.c_str());
    return m;
  };
  FERRY_ASSIGN_OR_RETURN(double full, metric());
  double now = full;
  std::vector<std::string> kept;
  for (size_t k = 0; k < sens.size() && now < base - a.budget_snr; ++k) {
    opt.exclude.insert(sens[k].node);
    kept.push_back(sens[k].node);
    FERRY_ASSIGN_OR_RETURN(now, metric());
    if (!a.quiet) std::cerr << "fallback " << k + 1 << ": keep " << sens[k].node << " in FP32 -> metric " << now << "\n";
  }
  const bool met = now >= base - a.budget_snr;
  std::cout << "accuracy budget (eval metric >= FP32 " << fmt(base, 4) << " - " << fmt(a.budget_snr, 4)
            << "): full INT8 " << fmt(full, 4) << "; ";
  if (kept.empty()) std::cout << (met ? "met with every layer quantized\n" : "NOT met\n");
  else {
    std::cout << (met ? "met" : "NOT met") << " after keeping " << kept.size() << " layer(s) in FP32 (metric "
              << fmt(now, 4) << "):";
    for (const auto& n : kept) std::cout << " " << n;
    std::cout << "\n";
  }
  j["budget"] = {{"eval", a.eval_cmd}, {"max_drop", a.budget_snr}, {"fp32_metric", base}, {"int8_metric", full},
                 {"metric_after", now}, {"met", met}, {"kept_float", kept}};
  return Status::ok();
}

Status analyze(const QuantizeArgs& a, const Model& model, const std::map<std::string, quant::Range>& ranges,
               const quant::CalibData& data, quant::QuantOptions& opt) {
  std::vector<std::vector<Tensor>> batches(
      data.batches.begin(), data.batches.begin() + std::min<size_t>(data.batches.size(), std::max(1, a.analyze_batches)));
  FERRY_ASSIGN_OR_RETURN(auto reference, quant::run_batches(model, batches));
  FERRY_ASSIGN_OR_RETURN(auto sens, quant::analyze_layers(model, ranges, batches, reference, opt, progress_bar(a.quiet)));
  nlohmann::json j;
  j["method"] = quant::calib_method_name(opt.method);
  j["batches"] = batches.size();
  for (const auto& s : sens)
    j["layers"].push_back({{"node", s.node}, {"op_type", s.op_type}, {"error", error_json(s.error)}});
  if (a.analyze) {
    std::cout << "per-layer sensitivity (one layer quantized at a time, " << batches.size()
              << " batches; most sensitive first):\n";
    print_sensitivity(sens);
  }
  if (!a.eval_cmd.empty()) {
    FERRY_RETURN_IF_ERROR(eval_fallback(a, model, ranges, opt, sens, j));
  } else if (a.budget_snr > -1 || a.budget_cosine > -2) {
    quant::Budget budget;
    budget.min_snr_db = a.budget_snr > -1 ? a.budget_snr : -1e9;
    budget.min_cosine = a.budget_cosine > -2 ? a.budget_cosine : -2;
    FERRY_ASSIGN_OR_RETURN(auto fb, quant::fallback_until_budget(model, ranges, batches, reference, opt, sens, budget,
                                                                 progress_bar(a.quiet)));
    std::string want;
    if (a.budget_snr > -1) want += "SNR >= " + fmt(budget.min_snr_db, 2) + " dB";
    if (a.budget_cosine > -2) want += std::string(want.empty() ? "" : ", ") + "cosine >= " + fmt(budget.min_cosine, 6);
    std::cout << "accuracy budget (" << want << "): full INT8 SNR " << fmt(fb.before.snr_db, 2) << " dB cosine "
              << fmt(fb.before.cosine, 6) << "; ";
    if (fb.kept_float.empty()) std::cout << "met with every layer quantized\n";
    else {
      std::cout << (fb.met ? "met" : "NOT met") << " after keeping " << fb.kept_float.size() << " layer(s) in FP32 (SNR "
                << fmt(fb.after.snr_db, 2) << " dB, cosine " << fmt(fb.after.cosine, 6) << "):";
      for (const auto& n : fb.kept_float) std::cout << " " << n;
      std::cout << "\n";
    }
    j["budget"] = {{"min_snr_db", budget.min_snr_db}, {"min_cosine", budget.min_cosine}, {"met", fb.met},
                   {"kept_float", fb.kept_float}, {"before", error_json(fb.before)}, {"after", error_json(fb.after)}};
  }
  if (!a.analyze_json.empty()) {
    std::ofstream f(a.analyze_json);
    if (!f) return not_found("cannot write '" + a.analyze_json + "'");
    f << j.dump(2) << "\n";
  }
  return Status::ok();
}

Status quantize_command(const QuantizeArgs& a) {
  if (a.symmetric && a.asymmetric) return invalid_argument("--symmetric and --asymmetric exclude each other");
  if (!a.eval_cmd.empty() && !(a.budget_snr >= 0))
    return invalid_argument("--eval needs --accuracy-budget X (the largest allowed drop of the metric, >= 0)");
  quant::QuantOptions opt;
  FERRY_ASSIGN_OR_RETURN(opt.method, quant::parse_calib_method(a.method));
  if (!(a.percentile > 0 && a.percentile <= 100)) return invalid_argument("--percentile must be in (0, 100]");
  opt.percentile = a.percentile;
  opt.per_channel = a.per_channel;
  opt.symmetric_activations = !a.asymmetric;
  opt.exclude.insert(a.exclude.begin(), a.exclude.end());
  FERRY_ASSIGN_OR_RETURN(Model model, load_onnx_model(a.in));
  FERRY_RETURN_IF_ERROR(model.graph.topo_sort());
  for (const auto& e : opt.exclude) {
    bool found = false;
    for (const Node& n : model.graph.nodes) found = found || n.name == e;
    if (!found) return not_found("--exclude: no node named '" + e + "'");
  }
  auto nodes = quant::quantizable_nodes(model.graph, opt);
  if (nodes.empty()) {
    std::cerr << "ferry quantize: warning: no quantizable op (Conv, MatMul, Gemm) in '" << a.in
              << "'; writing the model unchanged\n";
    std::error_code ec;
    if (!std::filesystem::equivalent(a.in, a.out, ec))
      std::filesystem::copy_file(a.in, a.out, std::filesystem::copy_options::overwrite_existing, ec);
    if (ec) return not_found("cannot write '" + a.out + "': " + ec.message());
    return Status::ok();
  }
  FERRY_ASSIGN_OR_RETURN(quant::CalibData data, calibration_batches(a, model));
  FERRY_RETURN_IF_ERROR(quant::check_calibration_batches(model.graph, data.batches,
                                                        [&](size_t b) { return data.names[b]; }));
  auto targets = quant::activation_targets(model.graph, nodes);
  if (!a.quiet)
    std::cerr << "calibrating " << targets.size() << " activations of " << nodes.size() << " layers over "
              << data.batches.size() << " batches (" << quant::calib_method_name(opt.method) << ")\n";
  FERRY_ASSIGN_OR_RETURN(auto ranges, quant::calibrate(model, targets, data.batches, opt, progress_bar(a.quiet)));
  if (a.analyze || a.budget_snr > -1 || a.budget_cosine > -2) FERRY_RETURN_IF_ERROR(analyze(a, model, ranges, data, opt));
  Model q = model;
  FERRY_ASSIGN_OR_RETURN(quant::QdqReport rep, quant::insert_qdq(q, ranges, opt));
  q.producer_name = "ferry quantize";
  FERRY_RETURN_IF_ERROR(save_onnx_model(q, a.out));
  if (!a.quiet)
    std::cout << "quantized " << rep.quantized_nodes.size() << " layers (" << rep.activations << " activations, "
              << rep.weights << " int8 weights" << (opt.per_channel ? ", per channel" : "") << ", "
              << (opt.symmetric_activations ? "symmetric int8" : "asymmetric uint8") << " activations) -> " << a.out
              << "\n";
  return Status::ok();
}

}  // namespace

void add_quantize_command(CLI::App& app, int* exit_code) {
  auto a = std::make_shared<QuantizeArgs>();
  CLI::App* cmd = app.add_subcommand("quantize", "INT8 post-training quantization to QDQ ONNX (calibrate, analyze)");
  cmd->add_option("input", a->in, "float ONNX model")->required();
  cmd->add_option("output", a->out, "QDQ ONNX model to write")->required();
  cmd->add_option("--calib-data", a->calib_data, "folder of calibration batches (subfolders of .pb/.npy, or files)");
  cmd->add_option("--calib-random", a->calib_random, "use N seeded random batches (default 8 without --calib-data)");
  cmd->add_option("--method", a->method, "calibration: minmax, percentile, entropy, mse")->capture_default_str();
  cmd->add_option("--percentile", a->percentile, "percentile of |x| for --method percentile")->capture_default_str();
  cmd->add_flag("--per-channel", a->per_channel, "one weight scale per output channel");
  cmd->add_flag("--symmetric", a->symmetric, "int8 activations with zero point 0 (default)");
  cmd->add_flag("--asymmetric", a->asymmetric, "uint8 activations with a zero point");
  cmd->add_option("--exclude", a->exclude, "node names to keep in float (repeatable)");
  cmd->add_flag("--analyze", a->analyze, "quantize one layer at a time and report its effect on the outputs");
  cmd->add_option("--analyze-json", a->analyze_json, "write the sensitivity report (and budget result) as JSON");
  cmd->add_option("--analyze-batches", a->analyze_batches, "calibration batches used to measure errors")
      ->capture_default_str();
  cmd->add_option("--accuracy-budget", a->budget_snr,
                  "minimum output SNR in dB (with --eval: the largest allowed drop of the eval metric): fall back "
                  "the most sensitive layers to FP32 until it holds");
  cmd->add_option("--eval", a->eval_cmd,
                  "command printing a metric (higher is better) for the model path it gets as {model}; with it "
                  "--accuracy-budget X is the largest allowed metric drop from FP32 (e.g. 0.5 accuracy points)");
  cmd->add_option("--min-cosine", a->budget_cosine, "minimum output cosine similarity (with the budget fallback)");
  cmd->add_option("--shape", a->shapes, "input shape for random calibration, name:d1xd2x... (repeatable)");
  cmd->add_option("--seed", a->seed, "seed of the random calibration inputs")->capture_default_str();
  cmd->add_flag("-q,--quiet", a->quiet, "print nothing but warnings and errors");
  cmd->callback([a, exit_code] {
    Status s = quantize_command(*a);
    *exit_code = s.is_ok() ? 0 : report_error("quantize", s);
  });
}

}  // namespace ferry::cli
