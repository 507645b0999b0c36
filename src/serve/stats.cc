// stats.cc — Triton-layout statistics JSON and Prometheus exposition for one model version.
#include "serve/stats.h"

#include <chrono>
#include <cstdio>
#include <unistd.h>

namespace ferry::serve {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void ModelStats::record_execution(int64_t batch, int64_t requests, int64_t input_ns, int64_t infer_ns,
                                  int64_t output_ns) {
  execution_count.fetch_add(1, std::memory_order_relaxed);
  inference_count.fetch_add(batch, std::memory_order_relaxed);
  last_inference_ms.store(wall_ms(), std::memory_order_relaxed);
  // Per request, every request of the batch is charged the batch's compute time (Triton does the same).
  compute_input.add(input_ns * requests, requests);
  compute_infer.add(infer_ns * requests, requests);
  compute_output.add(output_ns * requests, requests);
  std::lock_guard<std::mutex> lock(mu_);
  BatchRow& r = batches_[batch];
  r.count += 1;
  r.input_ns += input_ns;
  r.infer_ns += infer_ns;
  r.output_ns += output_ns;
}

nlohmann::json ModelStats::json(const std::string& name, const std::string& version) const {
  using nlohmann::json;
  json j;
  j["name"] = name;
  j["version"] = version;
  j["last_inference"] = last_inference_ms.load();
  j["inference_count"] = inference_count.load();
  j["execution_count"] = execution_count.load();
  j["inference_stats"] = {{"success", success.json()},          {"fail", fail.json()},
                          {"queue", queue.json()},              {"compute_input", compute_input.json()},
                          {"compute_infer", compute_infer.json()}, {"compute_output", compute_output.json()},
                          {"cache_hit", {{"count", 0}, {"ns", 0}}}, {"cache_miss", {{"count", 0}, {"ns", 0}}}};
  json rows = json::array();
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [size, r] : batches_)
    rows.push_back({{"batch_size", size},
                    {"compute_input", {{"count", r.count}, {"ns", r.input_ns}}},
                    {"compute_infer", {{"count", r.count}, {"ns", r.infer_ns}}},
                    {"compute_output", {{"count", r.count}, {"ns", r.output_ns}}}});
  j["batch_stats"] = rows;
  return j;
}

void ModelStats::prometheus(std::map<std::string, std::string>& families, const std::string& name,
                            const std::string& version) const {
  std::string l = "{model=\"" + name + "\",version=\"" + version + "\"}";
  auto line = [&](const char* metric, int64_t v) { families[metric] += std::string(metric) + l + " " + std::to_string(v) + "\n"; };
  auto us = [&](const char* metric, const DurationStat& d) { line(metric, d.ns.load() / 1000); };
  line("ferry_inference_request_success", success.count.load());
  line("ferry_inference_request_failure", fail.count.load());
  line("ferry_inference_request_rejected", fail_unavailable.load());
  line("ferry_inference_count", inference_count.load());
  line("ferry_inference_exec_count", execution_count.load());
  line("ferry_inference_pending_request_count", pending.load());
  us("ferry_inference_request_duration_us", success);
  us("ferry_inference_queue_duration_us", queue);
  us("ferry_inference_compute_input_duration_us", compute_input);
  us("ferry_inference_compute_infer_duration_us", compute_infer);
  us("ferry_inference_compute_output_duration_us", compute_output);
  // Batch-size histogram (cumulative buckets over executions).
  static const int64_t kBuckets[] = {1, 2, 4, 8, 16, 32, 64, 128};
  std::lock_guard<std::mutex> lock(mu_);
  int64_t total = 0, sum = 0;
  for (const auto& [size, r] : batches_) {
    total += r.count;
    sum += size * r.count;
  }
  std::string& out = families["ferry_inference_batch_size"];
  std::string base = "{model=\"" + name + "\",version=\"" + version + "\"";
  for (int64_t b : kBuckets) {
    int64_t c = 0;
    for (const auto& [size, r] : batches_)
      if (size <= b) c += r.count;
    out += "ferry_inference_batch_size_bucket" + base + ",le=\"" + std::to_string(b) + "\"} " + std::to_string(c) + "\n";
  }
  out += "ferry_inference_batch_size_bucket" + base + ",le=\"+Inf\"} " + std::to_string(total) + "\n";
  out += "ferry_inference_batch_size_sum" + l + " " + std::to_string(sum) + "\n";
  out += "ferry_inference_batch_size_count" + l + " " + std::to_string(total) + "\n";
}

int64_t process_rss_bytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  long size = 0, resident = 0;
  int n = std::fscanf(f, "%ld %ld", &size, &resident);
  std::fclose(f);
  return n == 2 ? static_cast<int64_t>(resident) * sysconf(_SC_PAGESIZE) : 0;
}

}  // namespace ferry::serve
