// perf.cc — `ferry perf`: perf_analyzer-style load generator for a KServe v2 server (ferry serve, Triton, ...).
//
//   ferry perf -m MODEL -u HOST:PORT [-i http|grpc] [--concurrency-range a:b:s] [--request-rate-range a:b:s
//              [--poisson]] [--measurement-interval MS] [--percentile P] [-f OUT.csv] [--html OUT.html]
//              [--shape name:1x3x224x224] [--max-trials N] [--overhead-samples N] [--http-json]
//
// For each load level (a concurrency, or a request rate) worker threads — one per concurrency slot, each with its
// own connection, or a pool that sends on a constant/Poisson schedule — issue requests while the main thread cuts
// the time into measurement windows. Windows repeat until the last 3 agree within 10% on throughput and latency
// (avg, or the --percentile latency), at most --max-trials windows. Around every window the model's cumulative
// statistics are read, so the server-side time splits into queue, compute input/infer/output and overhead
// (request - queue - compute). At concurrency 1 a probe then sends --overhead-samples requests one by one and
// reads the statistics after each, which gives the per-request server overhead distribution (p50/p90/p99).
// All loops are bounded by counts and by the per-request timeout; traffic goes only to the given host.
#include <atomic>
#include <chrono>
#include <cmath>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include "tools/cli/cli.h"
#include "tools/cli/perf_client.h"
#include "tools/cli/perf_report.h"
#include "tools/cli/random_inputs.h"

namespace ferry::cli {

namespace {

using Clock = std::chrono::steady_clock;
int64_t now_ns() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); }

struct PerfArgs {
  std::string model, url, protocol = "http", version;  // url "": 127.0.0.1:8000 (http) / :8001 (grpc)
  std::string concurrency_range, request_rate_range, measurement_interval = "5000", percentile, csv, html;
  std::string max_trials = "10", overhead_samples = "200", max_threads = "16", timeout_ms = "30000", seed = "0";
  std::vector<std::string> shapes;
  bool poisson = false, http_json = false;
};

struct Range { double start = 1, end = 1, step = 1; };

Expected<double> parse_number(const std::string& flag, const std::string& text, double lo, double hi) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (...) {
    used = 0;
  }
  if (text.empty() || used != text.size() || !(v >= lo && v <= hi))
    return invalid_argument(flag + " '" + text + "' is not a number in [" + std::to_string(lo) + ", " +
                            std::to_string(hi) + "]");
  return v;
}

Expected<Range> parse_range(const std::string& flag, const std::string& text, double hi) {
  std::vector<std::string> parts;
  size_t b = 0;
  for (size_t i = 0; i <= text.size(); ++i)
    if (i == text.size() || text[i] == ':') parts.push_back(text.substr(b, i - b)), b = i + 1;
  if (parts.size() > 3) return invalid_argument(flag + " '" + text + "': expected start[:end[:step]]");
  Range r;
  FERRY_ASSIGN_OR_RETURN(r.start, parse_number(flag, parts[0], 1e-3, hi));
  r.end = r.start;
  if (parts.size() > 1) {
    FERRY_ASSIGN_OR_RETURN(r.end, parse_number(flag, parts[1], r.start, hi));
  }
  if (parts.size() > 2) {
    FERRY_ASSIGN_OR_RETURN(r.step, parse_number(flag, parts[2], 1e-3, hi));
  }
  if ((r.end - r.start) / r.step > 1000) return invalid_argument(flag + " '" + text + "': more than 1000 levels");
  return r;
}

// Raw bytes of a seeded random tensor in KServe wire layout.
Expected<PerfInput> make_input(const PerfInput& meta, const std::unordered_map<std::string, Shape>& shapes,
                               uint64_t seed) {
  static const std::unordered_map<std::string, DType> kTypes = {
      {"BOOL", DType::kBool},   {"UINT8", DType::kUInt8},   {"UINT16", DType::kUInt16}, {"UINT32", DType::kUInt32},
      {"UINT64", DType::kUInt64}, {"INT8", DType::kInt8},   {"INT16", DType::kInt16},   {"INT32", DType::kInt32},
      {"INT64", DType::kInt64}, {"FP16", DType::kFloat16}, {"FP32", DType::kFloat},    {"FP64", DType::kDouble},
      {"BF16", DType::kBFloat16}, {"BYTES", DType::kString}};
  auto t = kTypes.find(meta.datatype);
  if (t == kTypes.end()) return unsupported("input '" + meta.name + "': datatype '" + meta.datatype + "'");
  PerfInput in = meta;
  auto o = shapes.find(meta.name);
  if (o != shapes.end()) {
    in.shape = o->second;
  } else {
    for (int64_t& d : in.shape) d = d < 0 ? 1 : d;
  }
  Tensor x = random_tensor(t->second, in.shape, seed);
  if (t->second == DType::kString) {
    for (int64_t i = 0; i < x.numel(); ++i) {
      const std::string& s = x.data<std::string>()[i];
      uint32_t n = static_cast<uint32_t>(s.size());
      in.data.append(reinterpret_cast<const char*>(&n), 4);
      in.data += s;
    }
  } else {
    in.data.assign(static_cast<const char*>(x.raw_data()), x.nbytes());
  }
  return in;
}

struct Record { int64_t lat_ns; bool ok; };

// Requests completed by the workers, drained by the main thread at every window boundary.
class RecordSink {
 public:
  void add(Record r) {
    std::lock_guard<std::mutex> l(mu_);
    recs_.push_back(r);
  }
  std::vector<Record> take() {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<Record> out;
    out.swap(recs_);
    return out;
  }
  std::string first_error() {
    std::lock_guard<std::mutex> l(mu_);
    return err_;
  }
  void error(const std::string& e) {
    std::lock_guard<std::mutex> l(mu_);
    if (err_.empty()) err_ = e;
  }

 private:
  std::mutex mu_;
  std::vector<Record> recs_;
  std::string err_;
};

struct Setup {
  PerfTarget target;
  bool grpc = false;
  std::vector<PerfInput> inputs;
  int interval_ms = 5000, max_trials = 10, overhead_samples = 200, max_threads = 16;
  double pct = 0;  // 0: stability on average latency
  bool poisson = false;
  uint64_t seed = 0;
};

Expected<std::unique_ptr<PerfClient>> connect(const Setup& s) {
  FERRY_ASSIGN_OR_RETURN(auto c, s.grpc ? make_grpc_perf_client(s.target) : make_http_perf_client(s.target));
  FERRY_RETURN_IF_ERROR(c->set_inputs(s.inputs));
  return c;
}

// Load level runner: starts workers, measures windows until stable, stops workers.
class Level {
 public:
  Level(const Setup& s, double level, bool request_rate) : s_(s), level_(level), rate_mode_(request_rate) {}

  Expected<PerfResult> run(PerfClient& stats_client) {
    int n = rate_mode_ ? s_.max_threads : static_cast<int>(level_);
    std::vector<std::unique_ptr<PerfClient>> clients;
    for (int i = 0; i < n; ++i) {
      FERRY_ASSIGN_OR_RETURN(auto c, connect(s_));
      clients.push_back(std::move(c));
    }
    start_ns_ = now_ns();
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) threads.emplace_back([this, c = clients[i].get()] { work(*c); });
    Expected<PerfResult> r = measure(stats_client);
    stop_ = true;
    for (auto& t : threads) t.join();
    return r;
  }

 private:
  // Offset (ns from start) of the request-rate schedule's next send.
  int64_t next_send_offset() {
    std::lock_guard<std::mutex> l(sched_mu_);
    double gap = 1e9 / level_;
    if (s_.poisson) gap = std::exponential_distribution<double>(level_ / 1e9)(rng_);
    sched_ns_ += gap;
    return static_cast<int64_t>(sched_ns_);
  }

  void work(PerfClient& c) {
    while (!stop_) {
      if (rate_mode_) {
        int64_t due = start_ns_ + next_send_offset();
        while (!stop_ && now_ns() < due) {  // sleep in slices so stop is honoured at low rates
          int64_t left = due - now_ns();
          std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<int64_t>(left, 50'000'000)));
        }
        if (stop_) break;
        if (now_ns() - due > 1'000'000) ++delayed_;
      }
      int64_t t0 = now_ns();
      Status st = c.infer();
      sink_.add({now_ns() - t0, st.is_ok()});
      if (!st.is_ok()) {
        sink_.error(st.message());
        std::this_thread::sleep_for(std::chrono::milliseconds(5));  // do not spin on a failing server
      }
    }
  }

  struct Window {
    double throughput = 0, lat_metric_us = 0;
    std::vector<double> lat_us;
    int64_t errors = 0, delayed = 0;
    ServerStats stats_end;
  };

  bool stable(const std::vector<Window>& w) const {
    if (w.size() < 3) return false;
    auto within = [](double a, double b, double c) {
      double m = (a + b + c) / 3;
      if (m <= 0) return false;
      for (double v : {a, b, c})
        if (std::fabs(v - m) > 0.1 * m) return false;
      return true;
    };
    const Window &a = w[w.size() - 3], &b = w[w.size() - 2], &c = w[w.size() - 1];
    return within(a.throughput, b.throughput, c.throughput) &&
           within(a.lat_metric_us, b.lat_metric_us, c.lat_metric_us);
  }

  Expected<PerfResult> measure(PerfClient& stats_client) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(200, s_.interval_ms / 5)));  // warm-up
    sink_.take();
    delayed_ = 0;
    FERRY_ASSIGN_OR_RETURN(ServerStats first, stats_client.stats());
    std::vector<Window> windows;
    int64_t t0 = now_ns();
    for (int trial = 0; trial < s_.max_trials && !stable(windows); ++trial) {
      std::this_thread::sleep_for(std::chrono::milliseconds(s_.interval_ms));
      std::vector<Record> recs = sink_.take();
      int64_t t1 = now_ns();
      Window w;
      w.delayed = delayed_.exchange(0);
      for (const Record& r : recs) {
        if (r.ok) w.lat_us.push_back(static_cast<double>(r.lat_ns) / 1e3);
        else ++w.errors;
      }
      w.throughput = static_cast<double>(w.lat_us.size()) / (static_cast<double>(t1 - t0) / 1e9);
      double sum = 0;
      for (double v : w.lat_us) sum += v;
      w.lat_metric_us = s_.pct > 0 ? percentile(w.lat_us, s_.pct) : (w.lat_us.empty() ? 0 : sum / w.lat_us.size());
      FERRY_ASSIGN_OR_RETURN(w.stats_end, stats_client.stats());
      t0 = now_ns();  // the stats read is not part of any window
      windows.push_back(std::move(w));
      if (windows.back().lat_us.empty() && windows.back().errors > 0)
        return internal_error("every request failed: " + sink_.first_error());
    }
    PerfResult r = summarize(windows, first);
    if (r.errors) r.first_error = sink_.first_error();
    return r;
  }

  PerfResult summarize(const std::vector<Window>& windows, const ServerStats& first) const {
    PerfResult r;
    r.level = level_;
    r.windows = static_cast<int>(windows.size());
    r.stable = stable(windows);
    size_t from = windows.size() >= 3 ? windows.size() - 3 : 0;
    std::vector<double> lat;
    double tput = 0;
    for (size_t i = from; i < windows.size(); ++i) {
      lat.insert(lat.end(), windows[i].lat_us.begin(), windows[i].lat_us.end());
      tput += windows[i].throughput;
      r.errors += windows[i].errors;
      r.delayed += windows[i].delayed;
    }
    r.throughput = tput / static_cast<double>(windows.size() - from);
    r.requests = static_cast<int64_t>(lat.size());
    double sum = 0;
    for (double v : lat) sum += v;
    r.avg_us = lat.empty() ? 0 : sum / static_cast<double>(lat.size());
    r.p50_us = percentile(lat, 50);
    r.p90_us = percentile(lat, 90);
    r.p95_us = percentile(lat, 95);
    r.p99_us = percentile(lat, 99);
    r.pct_us = percentile(lat, s_.pct > 0 ? s_.pct : 50);
    ServerStats d = windows.back().stats_end - (from == 0 ? first : windows[from - 1].stats_end);
    if (d.success_count > 0) {
      double n = static_cast<double>(d.success_count);
      r.has_server = true;
      r.server_request_us = static_cast<double>(d.success_ns) / n / 1e3;
      r.queue_us = static_cast<double>(d.queue_ns) / n / 1e3;
      r.compute_input_us = static_cast<double>(d.compute_input_ns) / n / 1e3;
      r.compute_infer_us = static_cast<double>(d.compute_infer_ns) / n / 1e3;
      r.compute_output_us = static_cast<double>(d.compute_output_ns) / n / 1e3;
      r.overhead_us = r.server_request_us - r.queue_us - r.compute_input_us - r.compute_infer_us - r.compute_output_us;
    }
    return r;
  }

  const Setup& s_;
  double level_;
  bool rate_mode_;
  int64_t start_ns_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> delayed_{0};
  RecordSink sink_;
  std::mutex sched_mu_;
  double sched_ns_ = 0;
  std::mt19937_64 rng_{12345};
};

// Concurrency-1 probe: one request, then the statistics, N times -> per-request server overhead.
Status probe_overhead(const Setup& s, PerfResult* r) {
  FERRY_ASSIGN_OR_RETURN(auto c, connect(s));
  FERRY_ASSIGN_OR_RETURN(ServerStats prev, c->stats());
  std::vector<double> ov;
  for (int i = 0; i < s.overhead_samples; ++i) {
    FERRY_RETURN_IF_ERROR(c->infer());
    FERRY_ASSIGN_OR_RETURN(ServerStats cur, c->stats());
    ServerStats d = cur - prev;
    prev = cur;
    if (d.success_count != 1) continue;  // someone else is loading the model: not a clean sample
    double o = static_cast<double>(d.success_ns) - static_cast<double>(d.queue_ns) -
               static_cast<double>(d.compute_input_ns + d.compute_infer_ns + d.compute_output_ns);
    ov.push_back(o / 1e3);
  }
  r->overhead_samples = static_cast<int>(ov.size());
  r->overhead_p50_us = percentile(ov, 50);
  r->overhead_p90_us = percentile(ov, 90);
  r->overhead_p99_us = percentile(ov, 99);
  return Status::ok();
}

Expected<Setup> make_setup(const PerfArgs& a) {
  Setup s;
  if (a.model.empty()) return invalid_argument("missing -m MODEL");
  s.target.model = a.model;
  s.target.version = a.version;
  std::string url = a.url.empty() ? (a.protocol == "grpc" ? "127.0.0.1:8001" : "127.0.0.1:8000") : a.url;
  size_t colon = url.rfind(':');
  if (colon == std::string::npos || colon == 0) return invalid_argument("-u '" + url + "': expected HOST:PORT");
  s.target.host = url.substr(0, colon);
  FERRY_ASSIGN_OR_RETURN(double port, parse_number("-u port", url.substr(colon + 1), 1, 65535));
  s.target.port = static_cast<int>(port);
  if (a.protocol != "http" && a.protocol != "grpc") return invalid_argument("-i '" + a.protocol + "': http or grpc");
  s.grpc = a.protocol == "grpc";
  s.target.http_json = a.http_json;
  double v = 0;
  FERRY_ASSIGN_OR_RETURN(v, parse_number("--measurement-interval", a.measurement_interval, 10, 3600000));
  s.interval_ms = static_cast<int>(v);
  FERRY_ASSIGN_OR_RETURN(v, parse_number("--max-trials", a.max_trials, 3, 1000));
  s.max_trials = static_cast<int>(v);
  FERRY_ASSIGN_OR_RETURN(v, parse_number("--overhead-samples", a.overhead_samples, 0, 1000000));
  s.overhead_samples = static_cast<int>(v);
  FERRY_ASSIGN_OR_RETURN(v, parse_number("--max-threads", a.max_threads, 1, 1024));
  s.max_threads = static_cast<int>(v);
  FERRY_ASSIGN_OR_RETURN(v, parse_number("--timeout-ms", a.timeout_ms, 1, 3600000));
  s.target.timeout_ms = static_cast<int>(v);
  FERRY_ASSIGN_OR_RETURN(v, parse_number("--seed", a.seed, 0, 1e15));
  s.seed = static_cast<uint64_t>(v);
  if (!a.percentile.empty()) {
    FERRY_ASSIGN_OR_RETURN(s.pct, parse_number("--percentile", a.percentile, 1, 99.999));
  }
  s.poisson = a.poisson;
  return s;
}

Status perf_command(const PerfArgs& a, const std::vector<std::string>& extras) {
  if (!extras.empty()) return invalid_argument("unexpected argument '" + extras.front() + "'");
  FERRY_ASSIGN_OR_RETURN(Setup s, make_setup(a));
  bool rate_mode = !a.request_rate_range.empty();
  if (rate_mode && !a.concurrency_range.empty())
    return invalid_argument("--concurrency-range and --request-rate-range are exclusive");
  if (a.poisson && !rate_mode) return invalid_argument("--poisson needs --request-rate-range");
  Range range;
  if (rate_mode) {
    FERRY_ASSIGN_OR_RETURN(range, parse_range("--request-rate-range", a.request_rate_range, 1e7));
  } else if (!a.concurrency_range.empty()) {
    FERRY_ASSIGN_OR_RETURN(range, parse_range("--concurrency-range", a.concurrency_range, 1024));
  }
  if (!rate_mode && (range.start != std::floor(range.start) || range.step != std::floor(range.step)))
    return invalid_argument("--concurrency-range takes integers");
  std::unordered_map<std::string, Shape> shapes;
  for (const std::string& spec : a.shapes) {
    FERRY_ASSIGN_OR_RETURN(auto p, parse_shape_spec(spec));
    shapes[p.first] = p.second;
  }

  FERRY_ASSIGN_OR_RETURN(auto stats_client,
                         s.grpc ? make_grpc_perf_client(s.target) : make_http_perf_client(s.target));
  FERRY_ASSIGN_OR_RETURN(std::vector<PerfInput> metas, stats_client->model_inputs());
  for (size_t i = 0; i < metas.size(); ++i) {
    FERRY_ASSIGN_OR_RETURN(PerfInput in, make_input(metas[i], shapes, s.seed + i));
    s.inputs.push_back(std::move(in));
  }
  FERRY_RETURN_IF_ERROR(stats_client->set_inputs(s.inputs));
  FERRY_RETURN_IF_ERROR(stats_client->infer().with_context("first request"));

  std::cout << "*** ferry perf: model '" << s.target.model << "' at " << s.target.host << ":" << s.target.port << " over " << a.protocol << ", "
            << s.interval_ms << " ms windows, stable when 3 in a row agree within 10% on throughput and "
            << (s.pct > 0 ? "p" + std::to_string(s.pct).substr(0, 5) : std::string("average")) << " latency\n";
  std::vector<PerfResult> results;
  for (double level = range.start; level <= range.end + 1e-9; level += range.step) {
    Level runner(s, level, rate_mode);
    FERRY_ASSIGN_OR_RETURN(PerfResult r, runner.run(*stats_client));
    if (!rate_mode && level == 1 && s.overhead_samples > 0) FERRY_RETURN_IF_ERROR(probe_overhead(s, &r));
    std::cout << format_result(r, rate_mode, s.pct > 0 ? s.pct : 50) << std::flush;
    results.push_back(r);
  }
  if (!a.csv.empty()) FERRY_RETURN_IF_ERROR(write_csv(a.csv, results, rate_mode, s.pct > 0 ? s.pct : 50));
  if (!a.html.empty())
    FERRY_RETURN_IF_ERROR(write_html(a.html, "ferry perf: " + s.target.model + " over " + a.protocol, results,
                                     rate_mode));
  return Status::ok();
}

}  // namespace

void add_perf_command(CLI::App& app, int* exit_code) {
  auto a = std::make_shared<PerfArgs>();
  CLI::App* cmd = app.add_subcommand("perf", "Load a KServe v2 server (HTTP or gRPC): throughput, latency "
                                             "percentiles, server-side breakdown (perf_analyzer style)");
  cmd->allow_extras();
  cmd->add_option("-m,--model-name", a->model, "model to load")->required();
  cmd->add_option("-x,--model-version", a->version, "model version (default: the server's choice)");
  cmd->add_option("-u,--url", a->url, "server HOST:PORT (default 127.0.0.1:8000, or :8001 with -i grpc)");
  cmd->add_option("-i,--protocol", a->protocol, "http (default) or grpc");
  cmd->add_option("--concurrency-range", a->concurrency_range, "start:end:step of concurrent requests (default 1)");
  cmd->add_option("--request-rate-range", a->request_rate_range, "start:end:step of requests/s (instead of "
                                                                 "concurrency)");
  cmd->add_flag("--poisson", a->poisson, "request-rate mode: exponential gaps instead of constant ones");
  cmd->add_option("-p,--measurement-interval", a->measurement_interval, "window length in ms (default 5000)");
  cmd->add_option("--percentile", a->percentile, "latency percentile used for stability (default: average)");
  cmd->add_option("-f,--latency-report-file", a->csv, "write the results as CSV");
  cmd->add_option("--html", a->html, "write an HTML page with a throughput-vs-latency plot");
  cmd->add_option("--shape,--shapes", a->shapes, "input shape name:d1xd2x... (variable dims default to 1)");
  cmd->add_option("--max-trials", a->max_trials, "most windows per level before giving up on stability (10)");
  cmd->add_option("--overhead-samples", a->overhead_samples, "concurrency-1 probe requests for the per-request "
                                                             "server overhead (200; 0 = off)");
  cmd->add_option("--max-threads", a->max_threads, "request-rate mode: sending threads (16)");
  cmd->add_option("--timeout-ms", a->timeout_ms, "per-request timeout (30000)");
  cmd->add_option("--seed", a->seed, "seed of the random inputs (0)");
  cmd->add_flag("--http-json", a->http_json, "HTTP: JSON tensors instead of the binary-tensor extension");
  cmd->callback([a, exit_code, cmd] {
    Status s = perf_command(*a, cmd->remaining());
    *exit_code = s.is_ok() ? 0 : report_error("perf", s);
  });
}

}  // namespace ferry::cli
