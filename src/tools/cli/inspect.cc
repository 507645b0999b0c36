// inspect.cc — `ferry inspect MODEL [--json] [--shape name:dims]`: interface, opsets, ops, params, MACs.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "ir/onnx_import.h"
#include "runtime/model_stats.h"
#include "tools/cli/cli.h"
#include "tools/cli/random_inputs.h"

namespace ferry::cli {

namespace {

struct InspectArgs {
  std::string model;
  bool json = false;
  std::vector<std::string> shapes;
  int top = 15;
};

std::string human(double v, const char* unit) {
  const char* prefixes[] = {"", "K", "M", "G", "T"};
  int i = 0;
  while (v >= 1000 && i < 4) {
    v /= 1000;
    ++i;
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.2f %s%s", v, prefixes[i], unit);
  return buf;
}

nlohmann::json value_json(const Graph& g, const std::string& name) {
  const ValueType* vt = g.type_of(name);
  return {{"name", name},
          {"dtype", vt ? dtype_name(vt->dtype) : "undefined"},
          {"shape", vt ? vt->shape.to_string() : "?"}};
}

Status inspect_command(const InspectArgs& a) {
  auto model = load_onnx_model(a.model);
  if (!model) return model.status();
  Graph& g = model->graph;
  FERRY_RETURN_IF_ERROR(g.topo_sort());
  FERRY_RETURN_IF_ERROR(g.verify());
  nlohmann::json j;
  j["model"] = a.model;
  j["producer"] = model->producer_name + (model->producer_version.empty() ? "" : " " + model->producer_version);
  j["ir_version"] = model->ir_version;
  for (const auto& [domain, v] : model->opsets) j["opsets"][domain.empty() ? "ai.onnx" : domain] = v;
  for (const auto& in : g.inputs) j["inputs"].push_back(value_json(g, in));
  for (const auto& out : g.outputs) j["outputs"].push_back(value_json(g, out));
  std::unordered_map<std::string, Shape> overrides;
  for (const auto& spec : a.shapes) {
    auto p = parse_shape_spec(spec);
    if (!p) return p.status();
    overrides[p->first] = p->second;
  }
  auto st = compute_model_stats(g, overrides);
  if (!st) return st.status();
  for (const auto& in : g.inputs) j["analysis_input_shapes"][in] = g.type_of(in) ? g.type_of(in)->shape.to_string() : "?";
  j["node_count"] = st->node_count;
  j["op_histogram"] = st->op_histogram;
  for (const auto& [dt, p] : st->params_by_dtype) j["params_by_dtype"][dt] = {{"count", p.count}, {"bytes", p.bytes}};
  j["total_params"] = st->total_params;
  j["total_param_bytes"] = st->total_param_bytes;
  j["total_macs"] = st->total_macs;
  for (const auto& l : st->layers)
    j["layers"].push_back({{"node", l.node}, {"op", l.op_type}, {"macs", l.macs}, {"output_shape", l.output_shape}});
  j["warnings"] = st->warnings;
  if (a.json) {
    std::cout << j.dump(2) << "\n";
    return Status::ok();
  }
  std::cout << "model     " << a.model << "\n"
            << "producer  " << j["producer"].get<std::string>() << ", IR v" << model->ir_version << ", opsets";
  for (const auto& [domain, v] : model->opsets) std::cout << " " << (domain.empty() ? "ai.onnx" : domain) << ":" << v;
  std::cout << "\ninputs\n";
  for (const auto& v : j["inputs"]) std::cout << "  " << v["name"].get<std::string>() << "  " << v["dtype"].get<std::string>() << " " << v["shape"].get<std::string>() << "\n";
  std::cout << "outputs\n";
  for (const auto& v : j["outputs"]) std::cout << "  " << v["name"].get<std::string>() << "  " << v["dtype"].get<std::string>() << " " << v["shape"].get<std::string>() << "\n";
  std::cout << "nodes     " << st->node_count << "\nops      ";
  for (const auto& [op, c] : st->op_histogram) std::cout << op << "×" << c << " ";
  std::cout << "\nparams    " << st->total_params << " (" << human(static_cast<double>(st->total_param_bytes), "B") << ")";
  for (const auto& [dt, p] : st->params_by_dtype) std::cout << "  " << dt << ": " << p.count;
  std::cout << "\nMACs      " << human(static_cast<double>(st->total_macs), "MAC") << " for inputs";
  for (const auto& in : g.inputs) std::cout << " " << in << j["analysis_input_shapes"][in].get<std::string>();
  std::cout << "\n";
  if (!st->layers.empty()) {
    std::cout << "MACs per layer (first " << std::min<size_t>(a.top, st->layers.size()) << " of " << st->layers.size()
              << "; --json lists all):\n";
    for (size_t i = 0; i < st->layers.size() && i < static_cast<size_t>(a.top); ++i) {
      const auto& l = st->layers[i];
      std::printf("  %-40s %-14s %12s  %s\n", l.node.c_str(), l.op_type.c_str(),
                  human(static_cast<double>(l.macs), "").c_str(), l.output_shape.c_str());
    }
    std::fflush(stdout);
  }
  for (const auto& w : st->warnings) std::cout << "warning: " << w << "\n";
  return Status::ok();
}

}  // namespace

void add_inspect_command(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<InspectArgs>();
  CLI::App* cmd = app.add_subcommand("inspect", "Show a model's interface, ops, parameters and MACs");
  cmd->add_option("model", args->model, "ONNX model file")->required();
  cmd->add_flag("--json", args->json, "print one JSON object");
  cmd->add_option("--shape", args->shapes, "input shape for the MAC count, name:d1xd2x... (repeatable)");
  cmd->add_option("--top", args->top, "layers listed in the text report")->capture_default_str();
  cmd->callback([args, exit_code] {
    Status s = inspect_command(*args);
    *exit_code = s.is_ok() ? 0 : report_error("inspect", s);
  });
}

}  // namespace ferry::cli
