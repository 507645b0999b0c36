// memory_plan.h — liveness-based arena planning: turns "who produces which buffer, who reads it last, who views
// whose storage" into byte offsets inside one 64-byte-aligned arena (the ggml-alloc / TFLite greedy-by-size idea).
//
// The executor records one run of a graph (every value's size, producing step, last reading step, and which
// values are views of another value's storage: Reshape/Identity/Squeeze/Flatten share storage) and hands the
// result to plan_memory() as one PlanItem per produced value:
//
//   std::vector<PlanItem> items(2);
//   items[0] = {.bytes = 4096, .def = 0, .last = 1, .arena_ok = true};            // Conv output, read by step 1
//   items[1] = {.bytes = 4096, .def = 1, .last = 3, .arena_ok = true, .in_place_of = 0};  // Relu of it
//   MemoryPlan p = plan_memory(items);   // p.offset[1] == p.offset[0]: Relu runs in place
//
// Rules the planner enforces (the executor only proposes):
//   * a root (an item that owns its storage) lives from its `def` step to the last `last` of itself and of every
//     item viewing it; two roots share bytes only when those inclusive step intervals are disjoint, so an output
//     never overlaps an input of its own step unless it was planned in place;
//   * pinned items (graph outputs, returned to the caller) and anything they view are never in the arena;
//   * in place: item i may take the storage of its candidate input q when q is an arena root whose lifetime ends
//     at i's step, q's buffer is at least as large, and no other item already took q's storage at that step.
// plan_memory() is a pure function: no allocation of the arena itself, no knowledge of kernels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ferry {

constexpr size_t kArenaAlign = 64;

struct PlanItem {
  size_t bytes = 0;       // storage bytes (0: never placed)
  int def = 0;            // step that produces the item
  int last = 0;           // last step that reads it (== def when nothing does)
  int alias_of = -1;      // an earlier item whose storage this one views; -1 when it owns its storage
  bool arena_ok = false;  // owns storage the executor may place in the arena (allocated through the kernel context)
  bool pinned = false;    // returned to the caller: never in the arena, nor the root it views
  int in_place_of = -1;   // candidate input item whose storage this one may reuse (kernel safe for x == y)
};

struct MemoryPlan {
  static constexpr size_t kNone = SIZE_MAX;
  std::vector<size_t> offset;  // per item: arena offset of its own storage; kNone for heap items and views
  std::vector<int> root;       // per item: the item owning its storage (itself for roots)
  std::vector<int> end;        // per item: last step its root's storage must survive (roots only; else -1)
  size_t arena_bytes = 0;      // size of the arena (multiple of kArenaAlign)
  size_t planned_bytes = 0;    // sum of aligned sizes of the roots placed in the arena (no sharing)
  size_t heap_bytes = 0;       // sum of sizes of the roots left on the heap (pinned, strings, kernel-owned)
  int arena_values = 0;        // roots placed in the arena
  int in_place = 0;            // roots placed in place of their input
  std::string summary() const;  // "arena 12.3 MiB for 45.6 MiB of intermediates (81 values, 17 in place)"
};

// Plans `items` (indices in production order; alias_of and in_place_of point to earlier items).
MemoryPlan plan_memory(const std::vector<PlanItem>& items);

}  // namespace ferry
