#include "runtime/memory_plan.h"

#include <algorithm>
#include <cassert>
#include <cstdio>

namespace ferry {

namespace {

size_t align_up(size_t n) { return (n + kArenaAlign - 1) / kArenaAlign * kArenaAlign; }

// One arena region: a root, or a chain of roots that run in place of each other.
struct Buffer {
  size_t bytes = 0;
  int start = 0, end = 0;  // inclusive step interval
  int last_member = -1;    // latest root placed in it (the only one an in-place output may follow)
  size_t offset = 0;
};

// Greedy by size, best fit: big buffers first, each into the smallest gap left by the buffers it overlaps in time.
size_t place(std::vector<Buffer>& bufs) {
  std::vector<size_t> order(bufs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (bufs[a].bytes != bufs[b].bytes) return bufs[a].bytes > bufs[b].bytes;
    return bufs[a].start < bufs[b].start;
  });
  std::vector<size_t> placed;
  std::vector<std::pair<size_t, size_t>> busy;
  size_t arena = 0;
  for (size_t bi : order) {
    Buffer& b = bufs[bi];
    busy.clear();
    for (size_t pi : placed) {
      const Buffer& p = bufs[pi];
      if (p.start <= b.end && b.start <= p.end) busy.emplace_back(p.offset, p.offset + p.bytes);
    }
    std::sort(busy.begin(), busy.end());
    size_t cur = 0, best = MemoryPlan::kNone, best_gap = MemoryPlan::kNone;
    for (const auto& [lo, hi] : busy) {
      if (lo > cur && lo - cur >= b.bytes && lo - cur < best_gap) {
        best = cur;
        best_gap = lo - cur;
      }
      cur = std::max(cur, hi);
    }
    b.offset = best != MemoryPlan::kNone ? best : cur;
    arena = std::max(arena, b.offset + b.bytes);
    placed.push_back(bi);
  }
  return arena;
}

std::string mib(size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

}  // namespace

std::string MemoryPlan::summary() const {
  return "arena " + mib(arena_bytes) + " for " + mib(planned_bytes) + " of planned intermediates (" +
         std::to_string(arena_values) + " values, " + std::to_string(in_place) + " in place); " + mib(heap_bytes) +
         " on the heap";
}

MemoryPlan plan_memory(const std::vector<PlanItem>& items) {
  const size_t n = items.size();
  MemoryPlan plan;
  plan.offset.assign(n, MemoryPlan::kNone);
  plan.root.assign(n, -1);
  plan.end.assign(n, -1);
  std::vector<char> pinned(n, 0);
  for (size_t i = 0; i < n; ++i) {
    const PlanItem& it = items[i];
    int a = it.alias_of;
    assert(a < static_cast<int>(i));
    plan.root[i] = a >= 0 ? plan.root[static_cast<size_t>(a)] : static_cast<int>(i);
    size_t r = static_cast<size_t>(plan.root[i]);
    plan.end[r] = std::max({plan.end[r], it.last, it.def});
    if (it.pinned) pinned[r] = 1;
  }
  for (size_t i = 0; i < n; ++i)
    if (plan.root[i] != static_cast<int>(i)) plan.end[i] = -1;

  std::vector<Buffer> bufs;
  std::vector<int> buf_of(n, -1);
  for (size_t i = 0; i < n; ++i) {
    const PlanItem& it = items[i];
    if (plan.root[i] != static_cast<int>(i)) continue;
    if (!it.arena_ok || pinned[i] || it.bytes == 0) {
      plan.heap_bytes += it.bytes;
      continue;
    }
    const size_t bytes = align_up(it.bytes);
    plan.planned_bytes += bytes;
    ++plan.arena_values;
    int q = it.in_place_of;
    if (q >= 0 && q < static_cast<int>(i) && plan.root[static_cast<size_t>(q)] == q && buf_of[static_cast<size_t>(q)] >= 0) {
      Buffer& b = bufs[static_cast<size_t>(buf_of[static_cast<size_t>(q)])];
      const PlanItem& in = items[static_cast<size_t>(q)];
      if (b.last_member == q && plan.end[static_cast<size_t>(q)] == it.def && in.def < it.def && bytes <= b.bytes) {
        buf_of[i] = buf_of[static_cast<size_t>(q)];
        b.end = plan.end[i];
        b.last_member = static_cast<int>(i);
        ++plan.in_place;
        continue;
      }
    }
    buf_of[i] = static_cast<int>(bufs.size());
    bufs.push_back(Buffer{bytes, it.def, plan.end[i], static_cast<int>(i), 0});
  }
  plan.arena_bytes = place(bufs);
  for (size_t i = 0; i < n; ++i)
    if (buf_of[i] >= 0) plan.offset[i] = bufs[static_cast<size_t>(buf_of[i])].offset;
  return plan;
}

}  // namespace ferry
