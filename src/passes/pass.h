// pass.h — graph optimization passes and the pass manager.
//
// A pass rewrites a Model in place and says whether it changed anything. Most passes are pattern rules: a cheap
// `matches()` on one node, split from the `apply()` that rewrites (ORT's RewriteRule). PassManager runs a list of
// passes repeatedly until none changes the graph (a fixed point, bounded by max_iterations), re-sorting and
// verifying the graph after each pass, and can dump the graph between passes (--dump-passes).
//
//   PassManager pm;
//   add_passes_for_level(pm, OptLevel::kExtended);
//   FERRY_ASSIGN_OR_RETURN(PassReport report, pm.run(model));
//   for (auto& [pass, count] : report.applied) std::cout << pass << " x" << count << "\n";
//
// Every pass keeps the model's semantics bit-for-bit where it can (folding, elimination) or within float
// rounding (fusions); each has unit tests that check the rewrite and numerical equality with the original graph.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ferry/status.h"
#include "ir/graph.h"

namespace ferry {

class Pass {
 public:
  virtual ~Pass() = default;
  virtual std::string name() const = 0;
  // Rewrites `model`; returns true when the graph changed. On error the model may be partly rewritten.
  virtual Expected<bool> run(Model& model) = 0;
};

// A single-node pattern rule: matches() must be cheap and side-effect free; apply() rewrites around `node`
// (it may add/remove nodes; indexes are renumbered afterwards) and returns whether it changed anything.
class RewriteRule {
 public:
  virtual ~RewriteRule() = default;
  virtual std::string name() const = 0;
  virtual std::vector<std::string> op_types() const = 0;  // ops of the anchor node; empty = any
  virtual bool matches(const Model& model, const Node& node) const = 0;
  virtual Expected<bool> apply(Model& model, size_t node_index) = 0;
};

// Runs one rule over every node of the top-level graph.
class RulePass : public Pass {
 public:
  explicit RulePass(std::unique_ptr<RewriteRule> rule) : rule_(std::move(rule)) {}
  std::string name() const override { return rule_->name(); }
  Expected<bool> run(Model& model) override;

 private:
  std::unique_ptr<RewriteRule> rule_;
};

enum class OptLevel {
  kNone,      // no rewrites
  kBasic,     // semantics-preserving cleanups: constant/shape folding, identity/dropout elimination, dead code
  kExtended,  // + standard-op fusions that ONNX Runtime also runs (Conv+BatchNorm, MatMul+Add -> Gemm, transposes)
  kAll,       // + ferry-only fused ops (domain "ferry": conv/gemm post-ops, layout changes); ferry runs these only
};
Expected<OptLevel> parse_opt_level(const std::string& s);

struct PassReport {
  int nodes_before = 0;
  int nodes_after = 0;
  int iterations = 0;
  std::map<std::string, int> applied;  // pass name -> times it changed the graph
  std::map<std::string, double> ms;    // pass name -> wall milliseconds over all iterations ("verify" = checks)
};

class PassManager {
 public:
  void add(std::unique_ptr<Pass> pass) { passes_.push_back(std::move(pass)); }
  void add_rule(std::unique_ptr<RewriteRule> rule) { add(std::make_unique<RulePass>(std::move(rule))); }
  // Called after each pass that changed the graph with (pass name, model): for --dump-passes.
  void set_dump(std::function<void(const std::string&, const Model&)> dump) { dump_ = std::move(dump); }
  Expected<PassReport> run(Model& model, int max_iterations = 8);

 private:
  std::vector<std::unique_ptr<Pass>> passes_;
  std::function<void(const std::string&, const Model&)> dump_;
};

// The one list of passes per level (passes/register_passes.cc).
void add_passes_for_level(PassManager& pm, OptLevel level);

}  // namespace ferry
