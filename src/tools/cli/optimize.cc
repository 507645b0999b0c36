// optimize.cc — `ferry optimize IN.onnx OUT.onnx [--level basic|extended|all] [--input-shape name:dims]
// [--dump-passes]`: runs the graph optimizer and writes the result as a standard ONNX model (levels basic and
// extended use standard ops only, so ONNX Runtime runs the output too). Prints node counts before/after, each
// pass that changed the graph and how often, and the op histogram delta; --dump-passes prints the op list
// after every pass that changed the graph.
#include <iostream>
#include <map>

#include "ir/onnx_import.h"
#include "passes/pass.h"
#include "tools/cli/cli.h"
#include "tools/cli/random_inputs.h"

namespace ferry::cli {

namespace {

struct OptimizeArgs {
  std::string input, output;
  std::string level = "extended";
  std::vector<std::string> shapes;
  bool dump = false;
};

std::map<std::string, int> op_histogram(const Graph& g) {
  std::map<std::string, int> h;
  for (const Node& n : g.nodes) h[(n.domain.empty() ? "" : n.domain + ".") + n.op_type]++;
  return h;
}

void print_ops(const Graph& g) {
  for (const Node& n : g.nodes) {
    std::cout << "    " << n.op_type << " (";
    for (size_t i = 0; i < n.inputs.size(); ++i) std::cout << (i ? ", " : "") << n.inputs[i];
    std::cout << ") -> ";
    for (size_t i = 0; i < n.outputs.size(); ++i) std::cout << (i ? ", " : "") << n.outputs[i];
    std::cout << "\n";
  }
}

Status optimize_command(const OptimizeArgs& a) {
  FERRY_ASSIGN_OR_RETURN(OptLevel level, parse_opt_level(a.level));
  FERRY_ASSIGN_OR_RETURN(Model model, load_onnx_model(a.input));
  Graph& g = model.graph;
  for (const auto& spec : a.shapes) {
    FERRY_ASSIGN_OR_RETURN(auto p, parse_shape_spec(spec));
    if (std::find(g.inputs.begin(), g.inputs.end(), p.first) == g.inputs.end())
      return not_found("--input-shape: the model has no input '" + p.first + "'");
    g.value_info[p.first].shape = SymShape::from_shape(p.second);
  }
  FERRY_RETURN_IF_ERROR(g.topo_sort());
  FERRY_RETURN_IF_ERROR(g.verify());
  const auto before = op_histogram(g);
  PassManager pm;
  add_passes_for_level(pm, level);
  if (a.dump) {
    pm.set_dump([](const std::string& pass, const Model& m) {
      std::cout << "after " << pass << ": " << m.graph.nodes.size() << " nodes\n";
      print_ops(m.graph);
    });
  }
  FERRY_ASSIGN_OR_RETURN(PassReport report, pm.run(model));
  for (const Node& n : g.nodes)  // ferry-only fused ops need their domain declared
    if (!model.opsets.count(n.domain)) model.opsets[n.domain] = 1;
  FERRY_RETURN_IF_ERROR(save_onnx_model(model, a.output));

  std::cout << "nodes: " << report.nodes_before << " -> " << report.nodes_after << " (level " << a.level << ", "
            << report.iterations << " iteration" << (report.iterations == 1 ? "" : "s") << ")\n";
  std::cout << "passes applied:\n";
  if (report.applied.empty()) std::cout << "  (none)\n";
  for (const auto& [pass, count] : report.applied) std::cout << "  " << pass << " x" << count << "\n";
  std::cout << "op histogram delta:\n";
  auto after = op_histogram(g);
  std::map<std::string, std::pair<int, int>> delta;
  for (const auto& [op, c] : before) delta[op].first = c;
  for (const auto& [op, c] : after) delta[op].second = c;
  bool any = false;
  for (const auto& [op, c] : delta) {
    if (c.first == c.second) continue;
    any = true;
    std::cout << "  " << op << ": " << c.first << " -> " << c.second << " (" << (c.second > c.first ? "+" : "")
              << c.second - c.first << ")\n";
  }
  if (!any) std::cout << "  (unchanged)\n";
  std::cout << "wrote " << a.output << "\n";
  return Status::ok();
}

}  // namespace

void add_optimize_command(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<OptimizeArgs>();
  CLI::App* cmd = app.add_subcommand("optimize", "Optimize a model's graph and write it as ONNX");
  cmd->add_option("input", args->input, "ONNX model to optimize")->required();
  cmd->add_option("output", args->output, "where the optimized ONNX model is written")->required();
  cmd->add_option("-l,--level", args->level, "none, basic, extended (ONNX Runtime compatible) or all (ferry-only ops)")
      ->capture_default_str();
  cmd->add_option("--input-shape", args->shapes, "fix an input shape, name:d1xd2x... (repeatable)");
  cmd->add_flag("--dump-passes", args->dump, "print the op list after every pass that changed the graph");
  cmd->callback([args, exit_code] {
    Status s = optimize_command(*args);
    *exit_code = s.is_ok() ? 0 : report_error("optimize", s);
  });
}

}  // namespace ferry::cli
