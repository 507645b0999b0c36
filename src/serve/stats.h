// serve/stats.h — per model-version request statistics (Triton's statistics extension) and Prometheus text.
//
// Counters are atomics updated on the scheduler threads without locks, except the per-batch-size table
// (a small mutex-guarded map touched once per execution). All durations are nanoseconds.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

namespace ferry::serve {

int64_t now_ns();  // steady_clock
int64_t wall_ms();  // system_clock, for last_inference

struct DurationStat {
  std::atomic<int64_t> count{0};
  std::atomic<int64_t> ns{0};
  void add(int64_t d, int64_t n = 1) {
    count.fetch_add(n, std::memory_order_relaxed);
    ns.fetch_add(d, std::memory_order_relaxed);
  }
  nlohmann::json json() const { return {{"count", count.load()}, {"ns", ns.load()}}; }
};

struct ModelStats {
  std::atomic<int64_t> last_inference_ms{0};
  std::atomic<int64_t> inference_count{0};  // samples (batch elements) inferred
  std::atomic<int64_t> execution_count{0};  // model executions (batches)
  std::atomic<int64_t> pending{0};          // accepted, not yet answered
  DurationStat success, fail, queue, compute_input, compute_infer, compute_output;
  std::atomic<int64_t> fail_unavailable{0};

  // One execution of `batch` samples made of `requests` requests.
  void record_execution(int64_t batch, int64_t requests, int64_t input_ns, int64_t infer_ns, int64_t output_ns);
  // {"name","version","last_inference","inference_count","execution_count","inference_stats","batch_stats"}
  nlohmann::json json(const std::string& name, const std::string& version) const;
  // Prometheus sample lines for this model version, appended per metric family (family name -> lines), so
  // the caller can print each family once with its # TYPE header.
  void prometheus(std::map<std::string, std::string>& families, const std::string& name,
                  const std::string& version) const;

 private:
  struct BatchRow {
    int64_t count = 0, input_ns = 0, infer_ns = 0, output_ns = 0;
  };
  mutable std::mutex mu_;
  std::map<int64_t, BatchRow> batches_;
};

// Resident set size of this process in bytes (from /proc/self/statm); 0 when unknown.
int64_t process_rss_bytes();

}  // namespace ferry::serve
