// executor_memory.cc — memory planning of CompiledGraph's top-level runs (see executor.h): the recording run's
// bookkeeping of every output's size, liveness, aliasing and in-place candidates, the plan and arena built from it,
// and the OutputMemory implementations that hand kernels heap (recording) or arena (planned) outputs.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "runtime/executor.h"
#include "runtime/executor_internal.h"

namespace ferry {

namespace {

// Ops whose CPU kernels may write output 0 over an input of the same shape and dtype: each y[i] is computed from
// x[i] (and a broadcast operand) before y[i] is stored (UnaryKernel loops and their SSE2 paths, Clip,
// broadcast2 for Add/Sub/Mul/Div). The second number is how many leading inputs may be the reused one.
struct InPlaceOp {
  const char* op;
  int candidates;
};
constexpr InPlaceOp kInPlaceOps[] = {
    {"Relu", 1},      {"LeakyRelu", 1}, {"Sigmoid", 1},     {"Tanh", 1},     {"Clip", 1},      {"Neg", 1},
    {"Abs", 1},       {"Exp", 1},       {"Log", 1},         {"Sqrt", 1},     {"Reciprocal", 1}, {"Erf", 1},
    {"Elu", 1},       {"Selu", 1},      {"HardSigmoid", 1}, {"HardSwish", 1}, {"Softplus", 1}, {"Swish", 1},
    {"Gelu", 1},      {"Mish", 1},      {"Floor", 1},       {"Ceil", 1},     {"Round", 1},     {"Add", 2},
    {"Sub", 2},       {"Mul", 2},       {"Div", 2},
};

// ferry.FusedConv may write Y over its residual Z (input 3): the oneDNN sum post-op accumulates into Y, so Y == Z
// saves conv_dnnl.cc's copy of Z into Y (the reference kernel reads z[i] before storing y[i]). Not with SiLU/sigmoid
// applied before Z (conv_act.h adds Z after the conv has already overwritten Y). Returns the candidate's index.
int in_place_first_input(const Node& node) {
  if (node.domain != "ferry" || node.op_type != "FusedConv" || node.inputs.size() < 4 || node.inputs[3].empty())
    return 0;
  const std::string act = node.attr_string("activation", "none");
  if (node.attr_int("z_after_activation", 0) != 0 && (act == "silu" || act == "sigmoid")) return -1;
  return 3;
}

int in_place_candidates(const Node& node) {
  if (in_place_first_input(node) > 0) return 1;
  if (!node.domain.empty() && node.domain != "ai.onnx") return 0;
  for (const InPlaceOp& p : kInPlaceOps)
    if (node.op_type == p.op) return p.candidates;
  return 0;
}

}  // namespace

namespace executor_internal {

int memory_plan_mode() {
  const char* v = std::getenv("FERRY_MEMORY_PLAN");
  if (!v) return 1;
  if (std::strcmp(v, "0") == 0 || std::strcmp(v, "off") == 0) return 0;
  if (std::strcmp(v, "check") == 0) return 3;
  return std::strcmp(v, "verbose") == 0 ? 2 : 1;
}

Tensor RecordingMemory::allocate(int i, DType dtype, const Shape& shape) {
  Tensor t = Tensor::empty(dtype, shape);
  if (i >= 0 && static_cast<size_t>(i) < allocated_->size()) (*allocated_)[static_cast<size_t>(i)] = t.raw_data();
  return t;
}

Tensor ArenaMemory::allocate(int i, DType dtype, const Shape& shape) {
  if (!regions_ || i < 0 || static_cast<size_t>(i) >= regions_->size() || dtype == DType::kString) return {};
  const OutRegion& r = (*regions_)[static_cast<size_t>(i)];
  if (r.offset == MemoryPlan::kNone) return {};
  size_t bytes = dtype_size(dtype);
  for (int64_t d : shape) {
    if (d <= 0 || static_cast<size_t>(d) > r.bytes) return {};  // also rules out overflow below
    bytes *= static_cast<size_t>(d);
    if (bytes > r.bytes) return {};
  }
  if (bytes == 0) return {};
  char* p = base_ + r.offset;
  // An input in these bytes (planned in place) must be exactly the same array, else the kernel would read
  // elements it already overwrote (a broadcast input, a shape that changed with the data).
  for (const Tensor* x : *inputs_) {
    if (!x || x->dtype() == DType::kString) continue;
    const char* xp = static_cast<const char*>(x->raw_data());
    if (xp + x->nbytes() <= p || xp >= p + bytes || x->nbytes() == 0) continue;
    if (xp != p || x->dtype() != dtype || x->shape() != shape) return {};
  }
  return Tensor::view(dtype, shape, arena_, p);
}

}  // namespace executor_internal

using executor_internal::OutRegion;

void CompiledGraph::record_step(Recording& rec, size_t k, const std::vector<Tensor>& outs,
                                const std::vector<const Tensor*>& ins, const std::vector<const void*>& allocated) const {
  const Step& step = steps_[k];
  for (size_t i = 0; i < outs.size(); ++i) {
    int s = step.outputs[i];
    if (s < 0) continue;
    const Tensor& t = outs[i];
    PlanItem item;
    item.def = static_cast<int>(k);
    item.last = std::max(item.def, last_use_[static_cast<size_t>(s)]);
    item.pinned = is_output_[static_cast<size_t>(s)] != 0;
    const bool strings = t.dtype() == DType::kString;
    item.bytes = strings ? 0 : t.nbytes();
    const int index = static_cast<int>(rec.items.size());
    if (item.bytes > 0) {
      int owner = t.raw_data() == allocated[i] ? -2 : rec.owner_of(t.raw_data(), item.bytes);
      if (owner >= 0) {
        item.alias_of = owner;
        ++rec.live[static_cast<size_t>(rec.root_of(owner))];
      } else if (owner == -2) {
        item.arena_ok = t.raw_data() == allocated[i];
        rec.add_range(t.raw_data(), item.bytes, index);
        rec.live.push_back(1);
        rec.start_of.push_back(reinterpret_cast<uintptr_t>(t.raw_data()));
      } else {
        item.bytes = 0;  // a view of an input or initializer: not ours to place
      }
    }
    if (rec.live.size() == rec.items.size()) {  // not a root with a range
      rec.live.push_back(0);
      rec.start_of.push_back(0);
    }
    rec.items.push_back(item);
    rec.where.emplace_back(static_cast<int>(k), static_cast<int>(i));
    rec.item_of_slot[static_cast<size_t>(s)] = index;
  }
  // In-place candidate: output 0 over a same-typed input root that no other input of this node views.
  const int candidates = in_place_candidates(*step.node);
  if (candidates == 0 || outs.empty() || step.outputs[0] < 0) return;
  PlanItem& out = rec.items[static_cast<size_t>(rec.item_of_slot[static_cast<size_t>(step.outputs[0])])];
  if (!out.arena_ok || out.alias_of >= 0) return;
  int best = -1;
  const int first = std::max(0, in_place_first_input(*step.node));
  for (int c = first; c < first + candidates && c < static_cast<int>(ins.size()); ++c) {
    int s = step.inputs[static_cast<size_t>(c)];
    if (s < 0 || !ins[static_cast<size_t>(c)]) continue;
    int item = rec.item_of_slot[static_cast<size_t>(s)];
    if (item < 0 || rec.items[static_cast<size_t>(item)].alias_of >= 0 || !rec.items[static_cast<size_t>(item)].arena_ok)
      continue;
    const Tensor& x = *ins[static_cast<size_t>(c)];
    if (x.dtype() != outs[0].dtype() || x.shape() != outs[0].shape()) continue;
    bool shared = false;
    for (size_t j = 0; j < step.inputs.size(); ++j) {
      int sj = step.inputs[j];
      if (sj < 0 || sj == s || rec.item_of_slot[static_cast<size_t>(sj)] < 0) continue;
      if (rec.root_of(rec.item_of_slot[static_cast<size_t>(sj)]) == item) shared = true;
    }
    if (shared) continue;
    if (best < 0 || last_use_[static_cast<size_t>(s)] == static_cast<int>(k)) best = item;
    if (last_use_[static_cast<size_t>(s)] == static_cast<int>(k)) break;
  }
  out.in_place_of = best;
}

void CompiledGraph::build_plan(ArenaState& a, Recording& rec) const {
  a.plan = plan_memory(rec.items);
  const MemoryPlan& p = a.plan;
  if (a.capacity < p.arena_bytes) {
    a.arena.reset();
    void* mem = p.arena_bytes ? std::aligned_alloc(kArenaAlign, p.arena_bytes) : nullptr;
    if (!mem) {
      a.base = nullptr;
      a.capacity = 0;
      return;  // no arena this time: stay on the heap path (ready stays false, next run records again)
    }
    a.arena = std::shared_ptr<void>(mem, [](void* q) { std::free(q); });
    a.base = static_cast<char*>(mem);
    a.capacity = p.arena_bytes;
  }
  a.regions.assign(steps_.size(), {});
  for (size_t k = 0; k < steps_.size(); ++k) a.regions[k].resize(steps_[k].outputs.size());
  for (size_t i = 0; i < rec.items.size(); ++i) {
    OutRegion& r = a.regions[static_cast<size_t>(rec.where[i].first)][static_cast<size_t>(rec.where[i].second)];
    r.offset = p.offset[i];
    r.bytes = rec.items[i].bytes;
    size_t root = static_cast<size_t>(p.root[i]);
    if (p.offset[root] != MemoryPlan::kNone) {
      r.lo = p.offset[root];
      r.hi = r.lo + rec.items[root].bytes;
    }
  }
  a.ready = true;
  a.stale = false;
  if (a.mode >= 2) std::fprintf(stderr, "ferry: memory plan for graph '%s': %s\n", graph_.name.c_str(), p.summary().c_str());
}

MemoryPlan CompiledGraph::memory_plan() const {
  if (!arena_) return {};
  std::lock_guard<std::mutex> lock(arena_->mu);
  return arena_->plan;
}

}  // namespace ferry
