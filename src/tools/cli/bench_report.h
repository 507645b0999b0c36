// bench_report.h — statistics and report writers of `ferry bench` (kept apart from the timing loop in bench.cc).
//
// LatencyStats summarizes per-iteration latencies; LayerProfile aggregates NodeEvents from profiled runs into
// per-node and per-op-type totals. The writers produce: the trtexec-style text summary, the one-object JSON
// summary, the profile as JSON or CSV, a Chrome trace (chrome://tracing / Perfetto, complete "X" events), and a
// self-contained HTML page with an inline SVG latency histogram (no scripts, no network).
//
//   LatencyStats s = compute_latency_stats(latencies_ms);
//   LayerProfile p = aggregate_profile(events, runs);
//   FERRY_RETURN_IF_ERROR(write_profile_file("profile.csv", p));
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ferry/session.h"
#include "ferry/status.h"

namespace ferry::cli {

struct LatencyStats {
  size_t count = 0;
  double min_ms = 0, max_ms = 0, mean_ms = 0, median_ms = 0, p90_ms = 0, p95_ms = 0, p99_ms = 0;
  double stddev_ms = 0;  // population standard deviation
  double cov = 0;        // stddev / mean (0.05 = 5%)
};

// Percentiles interpolate linearly between order statistics (numpy's default); empty input gives all zeros.
LatencyStats compute_latency_stats(std::vector<double> latencies_ms);

// One row of the per-layer profile: a node (or, in by_op, an op type with node = op).
struct LayerTime {
  std::string node;
  std::string op_type;
  double total_ms = 0;
  int64_t count = 0;
  double percent = 0;  // of the summed node time of all profiled runs
};

struct LayerProfile {
  int runs = 0;                  // profiled iterations
  double total_ms = 0;           // sum of all node times
  std::vector<LayerTime> nodes;  // sorted by total_ms, descending
  std::vector<LayerTime> by_op;  // sorted by total_ms, descending
};

LayerProfile aggregate_profile(const std::vector<NodeEvent>& events, int runs);

// Per-iteration device timings (trtexec's split), one entry per timed run.
struct DeviceSplit {
  std::vector<double> enqueue_ms, h2d_ms, compute_ms, d2h_ms;
};

// Everything the writers need about one bench run.
struct BenchResult {
  std::string model;
  std::vector<std::string> input_descriptions;  // "input float [1,3,224,224]"
  int threads = 0;
  int64_t batch = 1;
  int warmup = 0;
  double load_ms = 0;
  double first_run_ms = 0;  // first warm-up run (or first timed run without warm-up)
  double wall_s = 0;        // time spent in the timed loop
  std::vector<double> latencies_ms;
  LatencyStats stats;
  double throughput_qps = 0;
  int streams = 1;  // concurrent sessions (--streams); > 1: throughput = batch x runs / wall_s
  int inflight = 1;  // requests in flight per session (--inflight); > 1 also counts throughput by wall time
  LayerProfile profile;
  std::string device = "cpu", precision = "fp32", device_summary;
  DeviceSplit device_split;
};

// Prints the text summary (and the top `top` layers of the profile when it has runs).
void print_summary(std::ostream& os, const BenchResult& r, int top);
nlohmann::json summary_json(const BenchResult& r);

// By extension: ".csv" writes CSV (one row per node, then one per op type); anything else writes JSON.
Status write_profile_file(const std::string& path, const LayerProfile& profile, const std::string& model);
// Chrome trace: one "X" event per node per profiled iteration plus one per iteration; ts/dur in microseconds.
// `iteration_bounds` holds (start_ns, end_ns) of each profiled run.
Status write_trace_file(const std::string& path, const std::vector<NodeEvent>& events,
                        const std::vector<std::pair<int64_t, int64_t>>& iteration_bounds, const std::string& model);
Status write_html_file(const std::string& path, const BenchResult& r);

}  // namespace ferry::cli
