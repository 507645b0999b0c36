#include <algorithm>
#include <chrono>

#include "passes/pass.h"

namespace ferry {

Expected<OptLevel> parse_opt_level(const std::string& s) {
  if (s == "none" || s == "0") return OptLevel::kNone;
  if (s == "basic" || s == "1") return OptLevel::kBasic;
  if (s == "extended" || s == "2") return OptLevel::kExtended;
  if (s == "all" || s == "3") return OptLevel::kAll;
  return invalid_argument("unknown optimization level '" + s + "' (none, basic, extended, all)");
}

Expected<bool> RulePass::run(Model& model) {
  bool changed = false;
  const auto ops = rule_->op_types();
  // Nodes may be added/removed by apply(); walk by index and re-check bounds every step. The graph's index is
  // shared by every matches() until an apply() changes the graph (a rule returning false must not have edited).
  model.graph.invalidate_index();
  for (size_t i = 0; i < model.graph.nodes.size(); ++i) {
    const Node& n = model.graph.nodes[i];
    if (!ops.empty() && std::find(ops.begin(), ops.end(), n.op_type) == ops.end()) continue;
    if (!rule_->matches(model, n)) continue;
    auto r = rule_->apply(model, i);
    if (!r) return r.status().with_context(rule_->name());
    if (*r) model.graph.invalidate_index();
    changed |= *r;
  }
  return changed;
}

namespace {
double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

Expected<PassReport> PassManager::run(Model& model, int max_iterations) {
  PassReport report;
  report.nodes_before = static_cast<int>(model.graph.nodes.size());
  for (int it = 0; it < max_iterations; ++it) {
    bool any = false;
    for (auto& pass : passes_) {
      auto t0 = std::chrono::steady_clock::now();
      model.graph.invalidate_index();
      auto changed = pass->run(model);
      model.graph.invalidate_index();
      report.ms[pass->name()] += ms_since(t0);
      if (!changed) return changed.status().with_context("pass " + pass->name());
      if (!*changed) continue;
      any = true;
      report.applied[pass->name()]++;
      t0 = std::chrono::steady_clock::now();
      Status s = model.graph.topo_sort();
      if (s.is_ok()) s = model.graph.verify();
      report.ms["verify"] += ms_since(t0);
      if (!s.is_ok()) return internal_error("pass " + pass->name() + " broke the graph: " + s.message());
      if (dump_) dump_(pass->name(), model);
    }
    report.iterations = it + 1;
    if (!any) break;
  }
  report.nodes_after = static_cast<int>(model.graph.nodes.size());
  return report;
}

}  // namespace ferry
