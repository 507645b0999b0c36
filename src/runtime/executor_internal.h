// executor_internal.h — declarations shared by executor.cc (compile and run loop) and executor_memory.cc (memory
// planning): the per-step shape-inference cache, the arena state and recording of a top-level run, and the
// OutputMemory implementations a run hands to kernels. Internal to src/runtime; not part of the public API.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "runtime/executor.h"

namespace ferry {

namespace executor_internal {

// Shape inference of one step, kept from the previous run: when the inputs have the same dtypes and shapes (and,
// for inference that reads input values, the same values of its small non-constant inputs) the inferred output
// types are reused instead of inferring again. Whether inference reads values is found once per miss by
// inferring a second time without the non-constant values: if the result differs, the values matter.
struct StepCache {
  bool valid = false;
  std::vector<DType> dtypes;  // per node input; kUndefined when absent
  std::vector<Shape> shapes;
  std::vector<Tensor> values;  // per node input: a copy to compare when inference reads it, else undefined
  std::vector<ValueType> outputs;

  bool hit(const std::vector<const Tensor*>& ins) const {
    if (!valid || ins.size() != dtypes.size()) return false;
    for (size_t i = 0; i < ins.size(); ++i) {
      const Tensor* t = ins[i];
      if (!t) {
        if (dtypes[i] != DType::kUndefined) return false;
        continue;
      }
      if (t->dtype() != dtypes[i] || t->shape() != shapes[i]) return false;
      const Tensor& v = values[i];
      if (v.defined() && t->raw_data() != v.raw_data() && std::memcmp(t->raw_data(), v.raw_data(), v.nbytes()) != 0)
        return false;
    }
    return true;
  }
};

// 0 off, 1 on, 2 on and print each plan, 3 check (each recording is followed by a planned run); from the
// FERRY_MEMORY_PLAN environment variable.
int memory_plan_mode();

// Arena placement of one step output: its own bytes [offset, offset+bytes) when planned, and the range
// [lo, hi) its value may occupy (its root's region; lo == kNone: it must not be in the arena at all).
struct OutRegion {
  size_t offset = MemoryPlan::kNone, bytes = 0;
  size_t lo = MemoryPlan::kNone, hi = 0;
};

// Recording run: heap outputs, remembering which pointer each ctx.output() call returned.
class RecordingMemory : public OutputMemory {
 public:
  explicit RecordingMemory(std::vector<const void*>* allocated) : allocated_(allocated) {}
  Tensor allocate(int i, DType dtype, const Shape& shape) override;

 private:
  std::vector<const void*>* allocated_;
};

// Planned run: outputs are views into the arena when the plan has room for them.
class ArenaMemory : public OutputMemory {
 public:
  ArenaMemory(const std::shared_ptr<void>& arena, char* base) : arena_(arena), base_(base) {}
  void set_step(const std::vector<OutRegion>* regions, const std::vector<const Tensor*>* inputs) {
    regions_ = regions;
    inputs_ = inputs;
  }
  Tensor allocate(int i, DType dtype, const Shape& shape) override;

 private:
  const std::shared_ptr<void>& arena_;
  char* base_;
  const std::vector<OutRegion>* regions_ = nullptr;
  const std::vector<const Tensor*>* inputs_ = nullptr;
};

}  // namespace executor_internal

struct CompiledGraph::ArenaState {
  std::mutex mu;
  int mode = 1;
  std::vector<DType> key_dtypes;  // input dtypes and shapes the plan was recorded for
  std::vector<Shape> key_shapes;
  bool ready = false;  // regions are valid for the key
  bool stale = false;  // the last planned run departed from the plan: record again
  int departures = 0;  // planned runs that departed from the plan; planning gives up after a few
  std::shared_ptr<void> arena;
  char* base = nullptr;
  size_t capacity = 0;
  std::vector<std::vector<executor_internal::OutRegion>> regions;  // per step, per output
  MemoryPlan plan;
  std::vector<executor_internal::StepCache> cache;  // per step: the last run's shape inference

  bool matches(const std::vector<Tensor>& inputs) const {
    if (inputs.size() != key_shapes.size()) return false;
    for (size_t i = 0; i < inputs.size(); ++i)
      if (inputs[i].dtype() != key_dtypes[i] || inputs[i].shape() != key_shapes[i]) return false;
    return true;
  }
  bool owns(const void* p, size_t n) const {
    const char* c = static_cast<const char*>(p);
    return base && c + n > base && c < base + capacity;
  }
};

// What a recording run learns: one PlanItem per step output, and the storage ranges seen so far.
struct CompiledGraph::Recording {
  std::vector<PlanItem> items;
  std::vector<std::pair<int, int>> where;  // per item: (step, output)
  std::vector<int> item_of_slot;           // slot -> item, -1 for inputs/constants/absent
  std::map<uintptr_t, std::pair<uintptr_t, int>> ranges;  // storage start -> (end, item; -1 = not produced here)
  std::vector<int> live;            // per root item with a range: its values (itself, views) the frame still holds
  std::vector<uintptr_t> start_of;  // per root item with a range: where its storage starts

  // The item (or -1 for external storage) whose storage contains [p, p+n); -2 when none does.
  int owner_of(const void* p, size_t n) const {
    uintptr_t a = reinterpret_cast<uintptr_t>(p);
    auto it = ranges.upper_bound(a);
    if (it == ranges.begin()) return -2;
    --it;
    return a + n <= it->second.first ? it->second.second : -2;
  }
  void add_range(const void* p, size_t n, int item) {
    if (n == 0) return;
    uintptr_t a = reinterpret_cast<uintptr_t>(p);
    ranges[a] = {a + n, item};
  }
  // The frame let go of `slot`: once a root and all its views are gone its bytes may be reused by the allocator,
  // so its range is forgotten (else a new buffer there would look like a view of a dead value).
  void released(int slot) {
    int item = item_of_slot[static_cast<size_t>(slot)];
    if (item < 0) return;
    size_t root = static_cast<size_t>(root_of(item));
    if (live[root] <= 0 || --live[root] > 0) return;
    auto it = ranges.find(start_of[root]);
    if (it != ranges.end() && it->second.second == static_cast<int>(root)) ranges.erase(it);
  }
  int root_of(int item) const {
    while (item >= 0 && items[static_cast<size_t>(item)].alias_of >= 0) item = items[static_cast<size_t>(item)].alias_of;
    return item;
  }
};

}  // namespace ferry
