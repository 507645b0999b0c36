// bench.cc — `ferry bench MODEL`: trtexec-style latency benchmark on seeded random inputs.
//
//   ferry bench model.onnx [--batch N] [--shapes name:1x3x224x224] [--threads N] [--warmup N]
//               [--iterations N | --duration S] [--json] [--export-profile F.json|F.csv] [--export-trace F]
//               [--export-html F] [--profile-iterations N] [--top N] [--seed N]
//
// Flow: load (timed: "session creation"), warm-up runs, the timed loop (no observer attached, so latencies are
// clean), then a separate profiling pass with Session::set_node_observer for the per-layer table and the trace.
// Without --iterations/--duration the loop runs for 3 s and at least 10 iterations. Options are parsed here, not
// by CLI11's converters, so every bad argument is one error line and exit code 2.
#include <chrono>
#include <cmath>
#include <iostream>
#include <thread>
#include <unordered_map>

#include "ferry/session.h"
#include "tools/cli/bench_report.h"
#include "tools/cli/cli.h"
#include "tools/cli/random_inputs.h"

namespace ferry::cli {

namespace {

struct BenchArgs {
  std::string model;
  std::vector<std::string> shapes;
  std::string batch, threads, warmup, iterations, duration, profile_iterations, top, seed, streams, inflight;
  bool json = false;
  std::string export_profile, export_trace, export_html;
  std::string device = "cpu", precision = "fp32";
  bool cuda_graph = false, no_data_transfers = false;
};

// Parsed and checked options.
struct BenchOptions {
  int64_t batch = 1;
  bool batch_given = false;
  int threads = 0;
  int warmup = 3;
  int64_t iterations = 0;  // 0: run for `duration_s`
  double duration_s = 3.0;
  int64_t min_iterations = 10;
  int profile_iterations = -1;  // -1: automatic
  int top = 15;
  uint64_t seed = 0;
  int streams = 1;   // concurrent sessions, each run by its own thread (trtexec --streams)
  int inflight = 1;  // threads per session: requests in flight on one GPU session (transfers overlap compute)
};

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

Status parse_int(const std::string& flag, const std::string& text, int64_t lo, int64_t hi, int64_t* out) {
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (...) {
    used = 0;
  }
  if (text.empty() || used != text.size() || v < lo || v > hi)
    return invalid_argument(flag + " '" + text + "' is not an integer in [" + std::to_string(lo) + ", " +
                            std::to_string(hi) + "]");
  *out = v;
  return Status::ok();
}

Expected<BenchOptions> parse_options(const BenchArgs& a, const std::vector<std::string>& extras) {
  if (!extras.empty()) return invalid_argument("unexpected argument '" + extras.front() + "'");
  if (a.model.empty()) return invalid_argument("missing MODEL (usage: ferry bench MODEL [options])");
  BenchOptions o;
  int64_t v = 0;
  if (!a.batch.empty()) {
    FERRY_RETURN_IF_ERROR(parse_int("--batch", a.batch, 1, 1 << 20, &o.batch));
    o.batch_given = true;
  }
  if (!a.threads.empty()) {
    FERRY_RETURN_IF_ERROR(parse_int("--threads", a.threads, 0, 4096, &v));
    o.threads = static_cast<int>(v);
  }
  if (!a.warmup.empty()) {
    FERRY_RETURN_IF_ERROR(parse_int("--warmup", a.warmup, 0, 1000000, &v));
    o.warmup = static_cast<int>(v);
  }
  if (!a.iterations.empty() && !a.duration.empty())
    return invalid_argument("give either --iterations or --duration, not both");
  if (!a.iterations.empty()) FERRY_RETURN_IF_ERROR(parse_int("--iterations", a.iterations, 1, 100000000, &o.iterations));
  if (!a.duration.empty()) {
    size_t used = 0;
    double d = -1;
    try {
      d = std::stod(a.duration, &used);
    } catch (...) {
      used = 0;
    }
    if (used != a.duration.size() || !(d > 0) || d > 86400)
      return invalid_argument("--duration '" + a.duration + "' is not a number of seconds in (0, 86400]");
    o.duration_s = d;
    o.min_iterations = 1;
  }
  if (!a.profile_iterations.empty()) {
    FERRY_RETURN_IF_ERROR(parse_int("--profile-iterations", a.profile_iterations, 0, 1000000, &v));
    o.profile_iterations = static_cast<int>(v);
    if (v == 0 && !(a.export_profile.empty() && a.export_trace.empty()))
      return invalid_argument("--profile-iterations 0 leaves nothing for --export-profile/--export-trace");
  }
  if (!a.streams.empty()) {
    FERRY_RETURN_IF_ERROR(parse_int("--streams", a.streams, 1, 64, &v));
    o.streams = static_cast<int>(v);
  }
  if (!a.inflight.empty()) {
    FERRY_RETURN_IF_ERROR(parse_int("--inflight", a.inflight, 1, 16, &v));
    o.inflight = static_cast<int>(v);
  }
  if (!a.top.empty()) {
    FERRY_RETURN_IF_ERROR(parse_int("--top", a.top, 0, 1000000, &v));
    o.top = static_cast<int>(v);
  }
  if (!a.seed.empty()) {
    FERRY_RETURN_IF_ERROR(parse_int("--seed", a.seed, 0, INT64_MAX, &v));
    o.seed = static_cast<uint64_t>(v);
  }
  return o;
}

// "a:1x3,b:2x4" or repeated --shapes; a comma starts a new spec only when the next piece names an input.
Expected<std::unordered_map<std::string, Shape>> parse_shapes(const std::vector<std::string>& args) {
  std::vector<std::string> specs;
  for (const auto& arg : args) {
    size_t pos = 0;
    while (pos <= arg.size()) {
      size_t comma = arg.find(',', pos);
      std::string piece = arg.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
      if (piece.find(':') != std::string::npos || specs.empty())
        specs.push_back(piece);
      else
        specs.back() += "," + piece;
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
  }
  std::unordered_map<std::string, Shape> out;
  for (const auto& spec : specs) {
    auto p = parse_shape_spec(spec);
    if (!p) return p.status();
    out[p->first] = p->second;
  }
  return out;
}

// Seeded random inputs; --batch replaces a symbolic/unknown first dim of every input not named by --shapes.
Status make_inputs(const Session& session, const BenchArgs& a, const BenchOptions& o, std::vector<Tensor>* inputs,
                   BenchResult* r) {
  auto overrides = parse_shapes(a.shapes);
  if (!overrides) return overrides.status();
  for (const auto& [name, shape] : *overrides) {
    bool known = false;
    for (const auto& info : session.inputs()) known = known || info.name == name;
    if (!known) return invalid_argument("--shapes names '" + name + "', which is not an input of the model");
  }
  bool batch_applied = false;
  uint64_t seed = o.seed;
  for (const auto& info : session.inputs()) {
    auto shape = resolve_input_shape(info, *overrides);
    if (!shape) return shape.status();
    if (!overrides->count(info.name) && info.rank_known && !info.dims.empty() && info.dims[0] < 0) {
      (*shape)[0] = o.batch;
      batch_applied = true;
    }
    inputs->push_back(random_tensor(info.dtype, *shape, seed++));
    r->input_descriptions.push_back(info.name + " " + dtype_name(info.dtype) + " " + shape_to_string(*shape));
  }
  if (o.batch_given && o.batch != 1 && !batch_applied)
    return invalid_argument("--batch " + std::to_string(o.batch) +
                            ": no input has a symbolic first dimension (use --shapes)");
  return Status::ok();
}

// Prints a dot on stderr for each second of a long loop (not with --json).
struct Progress {
  bool enabled;
  Clock::time_point start = Clock::now();
  int dots = 0;
  void tick() {
    if (!enabled) return;
    int due = static_cast<int>(ms_since(start) / 1000.0);
    for (; dots < due; ++dots) std::cerr << '.' << std::flush;
  }
  void done() {
    if (enabled && dots > 0) std::cerr << '\n';
  }
};

Status timed_loop(Session& session, const std::vector<Tensor>& inputs, const BenchOptions& o, bool json,
                  BenchResult* r) {
  r->warmup = o.warmup;
  Progress progress{!json};
  for (int i = 0; i < o.warmup; ++i) {
    auto t0 = Clock::now();
    auto out = session.run(inputs);
    if (!out) return out.status();
    if (i == 0) r->first_run_ms = ms_since(t0);
    progress.tick();
  }
  auto loop_start = Clock::now();
  for (int64_t n = 0;; ++n) {
    if (o.iterations > 0 ? n >= o.iterations : (n >= o.min_iterations && ms_since(loop_start) >= 1000 * o.duration_s))
      break;
    auto t0 = Clock::now();
    auto out = session.run(inputs);
    double ms = ms_since(t0);
    if (!out) return out.status();
    if (o.warmup == 0 && n == 0) r->first_run_ms = ms;
    r->latencies_ms.push_back(ms);
    if (r->device != "cpu") {
      DeviceRunTimings t = session.last_device_timings();
      r->device_split.enqueue_ms.push_back(t.enqueue_ms);
      r->device_split.h2d_ms.push_back(t.h2d_ms);
      r->device_split.compute_ms.push_back(t.compute_ms);
      r->device_split.d2h_ms.push_back(t.d2h_ms);
    }
    progress.tick();
  }
  r->wall_s = ms_since(loop_start) / 1000.0;
  progress.done();
  return Status::ok();
}

// --streams N / --inflight M: every session warms up, then N x M threads run at once, M on each session, on the same
// inputs (each --iterations times, or all for --duration); latencies and device splits of all threads are pooled and
// the throughput is batch x runs / wall time. On a GPU each session has its own stream, so one stream's transfers
// overlap another's kernels; within one session the requests in flight overlap the same way (its staging slots).
Status concurrent_loop(const std::vector<Session*>& sessions, const std::vector<Tensor>& inputs, const BenchOptions& o,
                       BenchResult* r) {
  r->warmup = o.warmup;
  for (size_t k = 0; k < sessions.size(); ++k)
    for (int i = 0; i < o.warmup && (k == 0 || sessions[k] != sessions[k - 1]); ++i) {
      auto t0 = Clock::now();
      auto out = sessions[k]->run(inputs);
      if (!out) return out.status().with_context("stream " + std::to_string(k));
      if (k == 0 && i == 0) r->first_run_ms = ms_since(t0);
    }
  struct StreamResult {
    std::vector<double> latencies;
    DeviceSplit split;
    Status status = Status::ok();
  };
  std::vector<StreamResult> res(sessions.size());
  const bool device = r->device != "cpu";
  auto loop_start = Clock::now();
  std::vector<std::thread> threads;
  for (size_t k = 0; k < sessions.size(); ++k)
    threads.emplace_back([&, k] {
      StreamResult& out = res[k];
      for (int64_t n = 0;; ++n) {
        if (o.iterations > 0 ? n >= o.iterations
                             : (n >= o.min_iterations && ms_since(loop_start) >= 1000 * o.duration_s))
          break;
        auto t0 = Clock::now();
        auto y = sessions[k]->run(inputs);
        const double ms = ms_since(t0);
        if (!y) {
          out.status = y.status().with_context("stream " + std::to_string(k));
          return;
        }
        out.latencies.push_back(ms);
        if (!device) continue;
        DeviceRunTimings t = sessions[k]->last_device_timings();
        out.split.enqueue_ms.push_back(t.enqueue_ms);
        out.split.h2d_ms.push_back(t.h2d_ms);
        out.split.compute_ms.push_back(t.compute_ms);
        out.split.d2h_ms.push_back(t.d2h_ms);
      }
    });
  for (auto& t : threads) t.join();
  r->wall_s = ms_since(loop_start) / 1000.0;
  for (auto& sr : res) {
    FERRY_RETURN_IF_ERROR(sr.status);
    r->latencies_ms.insert(r->latencies_ms.end(), sr.latencies.begin(), sr.latencies.end());
    for (auto [to, from] : {std::pair{&r->device_split.enqueue_ms, &sr.split.enqueue_ms},
                            {&r->device_split.h2d_ms, &sr.split.h2d_ms},
                            {&r->device_split.compute_ms, &sr.split.compute_ms},
                            {&r->device_split.d2h_ms, &sr.split.d2h_ms}})
      to->insert(to->end(), from->begin(), from->end());
  }
  return Status::ok();
}

// Profiled runs with the node observer attached; fills r->profile and, for the trace, events and run bounds.
Status profile_pass(Session& session, const std::vector<Tensor>& inputs, int runs, BenchResult* r,
                    std::vector<NodeEvent>* events, std::vector<std::pair<int64_t, int64_t>>* bounds) {
  session.set_node_observer([events](const NodeEvent& e) { events->push_back(e); });
  auto now_ns = [] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
  };
  Status st = Status::ok();
  for (int i = 0; i < runs; ++i) {
    int64_t b = now_ns();
    auto out = session.run(inputs);
    int64_t e = now_ns();
    if (!out) {
      st = out.status();
      break;
    }
    bounds->emplace_back(b, e);
  }
  session.set_node_observer({});
  FERRY_RETURN_IF_ERROR(st);
  r->profile = aggregate_profile(*events, runs);
  return Status::ok();
}

Status bench_command(const BenchArgs& a, const std::vector<std::string>& extras) {
  auto opts = parse_options(a, extras);
  if (!opts) return opts.status();
  const BenchOptions& o = *opts;
  BenchResult r;
  r.model = a.model;
  SessionOptions so;
  so.threads = o.threads;
  if (o.streams > 1 && a.device == "cpu" && a.threads.empty())  // share the cores instead of oversubscribing them
    so.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency() / o.streams));
  so.device = a.device;
  so.precision = a.precision;
  so.cuda_graph = a.cuda_graph;
  so.device_transfers = !a.no_data_transfers;
  if (a.device == "cpu" && (a.cuda_graph || a.no_data_transfers || o.inflight > 1))
    return invalid_argument("--cuda-graph, --no-data-transfers and --inflight need --device cuda");
  r.device = a.device;
  r.precision = a.precision;
  auto t0 = Clock::now();
  auto session = Session::load(a.model, so);
  if (!session) return session.status();
  r.load_ms = ms_since(t0);
  r.threads = (*session)->threads();
  r.batch = o.batch;
  std::vector<Tensor> inputs;
  FERRY_RETURN_IF_ERROR(make_inputs(**session, a, o, &inputs, &r));
  r.streams = o.streams;
  r.inflight = o.inflight;
  if (o.streams == 1 && o.inflight == 1) {
    FERRY_RETURN_IF_ERROR(timed_loop(**session, inputs, o, a.json, &r));
  } else {
    std::vector<std::unique_ptr<Session>> sessions;
    sessions.push_back(std::move(*session));
    for (int k = 1; k < o.streams; ++k) {
      auto more = Session::load(a.model, so);
      if (!more) return more.status().with_context("stream " + std::to_string(k));
      sessions.push_back(std::move(more).value());
    }
    std::vector<Session*> runners;  // one per thread: each session o.inflight times, side by side
    for (auto& sp : sessions)
      for (int m = 0; m < o.inflight; ++m) runners.push_back(sp.get());
    FERRY_RETURN_IF_ERROR(concurrent_loop(runners, inputs, o, &r));
    *session = std::move(sessions.front());
  }
  if (a.device != "cpu") r.device_summary = (*session)->device_summary();
  r.stats = compute_latency_stats(r.latencies_ms);
  if (o.streams == 1 && o.inflight == 1)
    r.throughput_qps = r.stats.mean_ms > 0 ? static_cast<double>(r.batch) * 1000.0 / r.stats.mean_ms : 0;
  else
    r.throughput_qps = r.wall_s > 0 ? static_cast<double>(r.batch * r.stats.count) / r.wall_s : 0;

  bool exports = !a.export_profile.empty() || !a.export_trace.empty();
  int runs = o.profile_iterations;
  if (a.device != "cpu" && runs < 0) runs = 0;  // device runs have no per-node observer
  if (runs < 0) {  // automatic: up to 10 runs or ~2 s, only when something shows or writes the profile
    bool wanted = exports || !a.json || !a.export_html.empty();
    double fit = r.stats.mean_ms > 0 ? 2000.0 / r.stats.mean_ms : 10;
    runs = wanted ? static_cast<int>(std::clamp(fit, 1.0, 10.0)) : 0;
  }
  std::vector<NodeEvent> events;
  std::vector<std::pair<int64_t, int64_t>> bounds;
  if (runs > 0) FERRY_RETURN_IF_ERROR(profile_pass(**session, inputs, runs, &r, &events, &bounds));

  if (!a.export_profile.empty()) FERRY_RETURN_IF_ERROR(write_profile_file(a.export_profile, r.profile, r.model));
  if (!a.export_trace.empty()) FERRY_RETURN_IF_ERROR(write_trace_file(a.export_trace, events, bounds, r.model));
  if (!a.export_html.empty()) FERRY_RETURN_IF_ERROR(write_html_file(a.export_html, r));
  if (a.json)
    std::cout << summary_json(r).dump() << "\n";
  else
    print_summary(std::cout, r, o.top);
  return Status::ok();
}

}  // namespace

void add_bench_command(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand("bench", "Benchmark a model on seeded random inputs (latency, throughput, "
                                              "per-layer profile, traces)");
  cmd->allow_extras();  // unexpected arguments are reported by bench_command as one line
  cmd->add_option("model", args->model, "ONNX model file");
  cmd->add_option("--batch", args->batch, "first dim of every input whose first dim is symbolic (default 1)");
  cmd->add_option("--shapes,--shape", args->shapes, "input shapes name:d1xd2x... (comma-separated or repeated)");
  cmd->add_option("-t,--threads", args->threads, "intra-op threads (0 = all cores, the default)");
  cmd->add_option("--warmup", args->warmup, "warm-up runs before timing (default 3)");
  cmd->add_option("--iterations", args->iterations, "timed runs (default: 3 s and at least 10 runs)");
  cmd->add_option("--duration", args->duration, "seconds of timed runs");
  cmd->add_option("--profile-iterations", args->profile_iterations,
                  "profiled runs after the timed loop (default: up to 10 or ~2 s; none with --json alone)");
  cmd->add_option("--streams", args->streams,
                  "concurrent sessions, one thread each, on the same inputs (default 1; --iterations counts per "
                  "stream; throughput = batch x runs / wall time; on the CPU --threads defaults to cores / N)");
  cmd->add_option("--inflight", args->inflight,
                  "device: requests in flight on each session, one thread each (default 1); their transfers overlap "
                  "each other's compute (trtexec overlaps DMA the same way unless --exposeDMA)");
  cmd->add_option("--top", args->top, "layers shown in the per-layer table (default 15)");
  cmd->add_option("--seed", args->seed, "seed of the random inputs (default 0)");
  cmd->add_flag("--json", args->json, "print one JSON object instead of the text summary");
  cmd->add_option("--device", args->device, "cpu (default), cuda or cuda:N");
  cmd->add_option("--precision", args->precision, "device precision: fp32 (default), fp16, bf16");
  cmd->add_flag("--cuda-graph", args->cuda_graph, "replay the device work from CUDA graphs");
  cmd->add_flag("--no-data-transfers", args->no_data_transfers,
                "device: time compute only (inputs stay on the device, outputs are not copied back)");
  cmd->add_option("--export-profile", args->export_profile, "write the per-layer profile (.json or .csv)");
  cmd->add_option("--export-trace", args->export_trace, "write a Chrome trace (chrome://tracing, Perfetto)");
  cmd->add_option("--export-html", args->export_html, "write an HTML page with a latency histogram");
  cmd->callback([args, exit_code, cmd] {
    Status s = bench_command(*args, cmd->remaining());
    *exit_code = s.is_ok() ? 0 : report_error("bench", s);
  });
}

}  // namespace ferry::cli
