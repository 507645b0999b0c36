// perf_report.h — what one `ferry perf` load level measured, and its text / CSV / HTML renderings.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ferry/status.h"

namespace ferry::cli {

// One load level (a concurrency or a request rate) after its measurement windows settled. Times in microseconds.
struct PerfResult {
  double level = 0;          // concurrency, or requests/s in request-rate mode
  double throughput = 0;     // successful inferences/s seen by the client
  double avg_us = 0, p50_us = 0, p90_us = 0, p95_us = 0, p99_us = 0, pct_us = 0;  // client latency; pct = --percentile
  int64_t requests = 0, errors = 0, delayed = 0;  // delayed: request-rate sends that left > 1 ms late
  int windows = 0;
  bool stable = false;
  std::string first_error;   // message of the first failed request of the level (empty: none failed)
  // Server-side breakdown per request (averages over the stable windows, from the statistics extension).
  bool has_server = false;
  double server_request_us = 0, queue_us = 0, compute_input_us = 0, compute_infer_us = 0, compute_output_us = 0;
  double overhead_us = 0;    // request - queue - compute
  // Per-request server overhead from the concurrency-1 probe (stats read after every request); -1 = not probed.
  int overhead_samples = 0;
  double overhead_p50_us = -1, overhead_p90_us = -1, overhead_p99_us = -1;
};

// Nearest-rank percentile (p in [0, 100]) of unsorted samples; 0 for none.
double percentile(std::vector<double> v, double p);

// Human-readable block for one level.
std::string format_result(const PerfResult& r, bool request_rate, double pct);
// perf_analyzer-like CSV: one row per level, latencies in usec.
Status write_csv(const std::string& path, const std::vector<PerfResult>& results, bool request_rate, double pct);
// Self-contained HTML page with an SVG plot: throughput (x) vs p50/p99 latency (y), one point per level.
Status write_html(const std::string& path, const std::string& title, const std::vector<PerfResult>& results,
                  bool request_rate);

}  // namespace ferry::cli
