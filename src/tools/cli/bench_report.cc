#include "tools/cli/bench_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <ostream>
#include <unordered_map>

namespace ferry::cli {

namespace {

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  double pos = p * static_cast<double>(sorted.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(pos));
  size_t hi = std::min(lo + 1, sorted.size() - 1);
  double frac = pos - static_cast<double>(lo);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

Status write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  if (!f) return invalid_argument("cannot open '" + path + "' for writing");
  f << text;
  f.close();
  if (!f) return invalid_argument("cannot write '" + path + "'");
  return Status::ok();
}

nlohmann::json layer_json(const LayerTime& l, int runs) {
  return {{"node", l.node},
          {"op_type", l.op_type},
          {"total_ms", l.total_ms},
          {"avg_ms", l.count ? l.total_ms / static_cast<double>(l.count) : 0.0},
          {"count", l.count},
          {"percent", l.percent},
          {"per_run_ms", runs ? l.total_ms / runs : 0.0}};
}

void sort_and_share(std::vector<LayerTime>& v, double total) {
  std::stable_sort(v.begin(), v.end(), [](const LayerTime& a, const LayerTime& b) { return a.total_ms > b.total_ms; });
  for (auto& l : v) l.percent = total > 0 ? 100.0 * l.total_ms / total : 0.0;
}

}  // namespace

LatencyStats compute_latency_stats(std::vector<double> v) {
  LatencyStats s;
  s.count = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.min_ms = v.front();
  s.max_ms = v.back();
  double sum = 0;
  for (double x : v) sum += x;
  s.mean_ms = sum / static_cast<double>(v.size());
  double var = 0;
  for (double x : v) var += (x - s.mean_ms) * (x - s.mean_ms);
  s.stddev_ms = std::sqrt(var / static_cast<double>(v.size()));
  s.cov = s.mean_ms > 0 ? s.stddev_ms / s.mean_ms : 0;
  s.median_ms = percentile(v, 0.5);
  s.p90_ms = percentile(v, 0.9);
  s.p95_ms = percentile(v, 0.95);
  s.p99_ms = percentile(v, 0.99);
  return s;
}

LayerProfile aggregate_profile(const std::vector<NodeEvent>& events, int runs) {
  LayerProfile p;
  p.runs = runs;
  std::unordered_map<std::string, size_t> node_index, op_index;
  for (const auto& e : events) {
    double ms = static_cast<double>(e.end_ns - e.start_ns) / 1e6;
    auto [it, fresh] = node_index.try_emplace(e.node, p.nodes.size());
    if (fresh) p.nodes.push_back(LayerTime{e.node, e.op_type, 0, 0, 0});
    p.nodes[it->second].total_ms += ms;
    p.nodes[it->second].count += 1;
    auto [ot, ofresh] = op_index.try_emplace(e.op_type, p.by_op.size());
    if (ofresh) p.by_op.push_back(LayerTime{e.op_type, e.op_type, 0, 0, 0});
    p.by_op[ot->second].total_ms += ms;
    p.by_op[ot->second].count += 1;
    p.total_ms += ms;
  }
  sort_and_share(p.nodes, p.total_ms);
  sort_and_share(p.by_op, p.total_ms);
  return p;
}

void print_summary(std::ostream& os, const BenchResult& r, int top) {
  const LatencyStats& s = r.stats;
  os << "=== ferry bench: " << r.model << " ===\n";
  for (const auto& d : r.input_descriptions) os << "input: " << d << " (seeded random)\n";
  os << "threads " << r.threads << ", batch " << r.batch << ", warm-up " << r.warmup << ", iterations " << s.count
     << " in " << fmt("%.2f", r.wall_s) << " s\n";
  os << "Session creation (load): " << fmt("%.2f", r.load_ms) << " ms, first run: " << fmt("%.3f", r.first_run_ms)
     << " ms\n";
  os << "Latency: min = " << fmt("%.3f", s.min_ms) << " ms, max = " << fmt("%.3f", s.max_ms)
     << " ms, mean = " << fmt("%.3f", s.mean_ms) << " ms, median = " << fmt("%.3f", s.median_ms) << " ms\n";
  os << "Percentiles: p90 = " << fmt("%.3f", s.p90_ms) << " ms, p95 = " << fmt("%.3f", s.p95_ms)
     << " ms, p99 = " << fmt("%.3f", s.p99_ms) << " ms\n";
  if (r.streams > 1 || r.inflight > 1)
    os << "Throughput: " << fmt("%.2f", r.throughput_qps) << " qps (" << r.streams << " streams x " << r.inflight
       << " in flight at once: batch " << r.batch << " x " << s.count << " runs / " << fmt("%.2f", r.wall_s) << " s)\n";
  else
    os << "Throughput: " << fmt("%.2f", r.throughput_qps) << " qps (batch " << r.batch << " x 1000 / mean ms)\n";
  os << "Stddev: " << fmt("%.3f", s.stddev_ms) << " ms, coefficient of variation: " << fmt("%.2f", 100 * s.cov)
     << "%\n";
  if (!r.device_split.compute_ms.empty()) {
    os << "Device: " << r.device_summary << "\n";
    const std::pair<const char*, const std::vector<double>*> rows[] = {{"Enqueue", &r.device_split.enqueue_ms},
                                                                       {"H2D", &r.device_split.h2d_ms},
                                                                       {"GPU compute", &r.device_split.compute_ms},
                                                                       {"D2H", &r.device_split.d2h_ms}};
    for (const auto& [label, v] : rows) {
      LatencyStats d = compute_latency_stats(*v);
      os << label << " time: min = " << fmt("%.3f", d.min_ms) << " ms, mean = " << fmt("%.3f", d.mean_ms)
         << " ms, median = " << fmt("%.3f", d.median_ms) << " ms, p90 = " << fmt("%.3f", d.p90_ms)
         << " ms, p99 = " << fmt("%.3f", d.p99_ms) << " ms\n";
    }
  }
  if (s.cov > 0.05)
    os << "WARNING: coefficient of variation " << fmt("%.1f", 100 * s.cov)
       << "% > 5%: latencies are unstable (other load on the machine? try more warm-up or --duration)\n";
  const LayerProfile& p = r.profile;
  if (p.runs == 0 || p.nodes.empty()) return;
  size_t n = std::min(p.nodes.size(), static_cast<size_t>(std::max(top, 0)));
  os << "\nPer-layer profile (" << p.runs << " profiled runs, " << fmt("%.3f", p.total_ms / p.runs)
     << " ms of node time per run; top " << n << " of " << p.nodes.size() << " layers):\n";
  char line[512];
  std::snprintf(line, sizeof(line), "  %4s  %10s  %10s  %6s  %6s  %-18s %s\n", "rank", "total ms", "avg ms", "% run",
                "count", "op", "node");
  os << line;
  for (size_t i = 0; i < n; ++i) {
    const LayerTime& l = p.nodes[i];
    std::snprintf(line, sizeof(line), "  %4zu  %10.3f  %10.4f  %6.2f  %6lld  %-18s %s\n", i + 1, l.total_ms,
                  l.total_ms / static_cast<double>(l.count), l.percent, static_cast<long long>(l.count),
                  l.op_type.c_str(), l.node.c_str());
    os << line;
  }
  os << "By op type:\n";
  for (size_t i = 0; i < std::min<size_t>(p.by_op.size(), 10); ++i) {
    const LayerTime& l = p.by_op[i];
    std::snprintf(line, sizeof(line), "  %-18s %10.3f ms/run  %6.2f%%  %6lld nodes/run\n", l.op_type.c_str(),
                  l.total_ms / p.runs, l.percent, static_cast<long long>(l.count / p.runs));
    os << line;
  }
}

nlohmann::json summary_json(const BenchResult& r) {
  const LatencyStats& s = r.stats;
  nlohmann::json j = {{"model", r.model},
                      {"threads", r.threads},
                      {"batch", r.batch},
                      {"warmup", r.warmup},
                      {"iterations", s.count},
                      {"wall_s", r.wall_s},
                      {"load_ms", r.load_ms},
                      {"first_run_ms", r.first_run_ms},
                      {"min_ms", s.min_ms},
                      {"max_ms", s.max_ms},
                      {"mean_ms", s.mean_ms},
                      {"median_ms", s.median_ms},
                      {"p90_ms", s.p90_ms},
                      {"p95_ms", s.p95_ms},
                      {"p99_ms", s.p99_ms},
                      {"stddev_ms", s.stddev_ms},
                      {"cov", s.cov},
                      {"throughput_qps", r.throughput_qps},
                      {"streams", r.streams},
                      {"inflight", r.inflight}};
  j["inputs"] = r.input_descriptions;
  j["device"] = r.device;
  if (!r.device_split.compute_ms.empty()) {
    j["precision"] = r.precision;
    j["device_summary"] = r.device_summary;
    for (const auto& [key, v] : {std::pair{"enqueue", &r.device_split.enqueue_ms}, {"h2d", &r.device_split.h2d_ms},
                                 {"gpu_compute", &r.device_split.compute_ms}, {"d2h", &r.device_split.d2h_ms}}) {
      LatencyStats d = compute_latency_stats(*v);
      j[key] = {{"min_ms", d.min_ms}, {"mean_ms", d.mean_ms}, {"median_ms", d.median_ms}, {"p90_ms", d.p90_ms},
                {"p95_ms", d.p95_ms}, {"p99_ms", d.p99_ms}};
    }
  }
  if (r.profile.runs > 0) {
    nlohmann::json top = nlohmann::json::array();
    for (size_t i = 0; i < std::min<size_t>(r.profile.by_op.size(), 10); ++i)
      top.push_back(layer_json(r.profile.by_op[i], r.profile.runs));
    j["profile_runs"] = r.profile.runs;
    j["profile_by_op"] = top;
  }
  return j;
}

Status write_profile_file(const std::string& path, const LayerProfile& p, const std::string& model) {
  if (ends_with(path, ".csv") || ends_with(path, ".CSV")) {
    std::string text = "kind,node,op_type,total_ms,avg_ms,count,percent,per_run_ms\n";
    auto rows = [&](const std::vector<LayerTime>& v, const char* kind) {
      for (const auto& l : v) {
        char nums[200];
        std::snprintf(nums, sizeof(nums), "%.6f,%.6f,%lld,%.4f,%.6f", l.total_ms,
                      l.count ? l.total_ms / static_cast<double>(l.count) : 0.0, static_cast<long long>(l.count),
                      l.percent, p.runs ? l.total_ms / p.runs : 0.0);
        text += std::string(kind) + "," + csv_field(l.node) + "," + csv_field(l.op_type) + "," + nums + "\n";
      }
    };
    rows(p.nodes, "node");
    rows(p.by_op, "op_type");
    return write_text(path, text);
  }
  nlohmann::json j = {{"model", model}, {"runs", p.runs}, {"total_ms", p.total_ms}};
  j["layers"] = nlohmann::json::array();
  for (const auto& l : p.nodes) j["layers"].push_back(layer_json(l, p.runs));
  j["op_types"] = nlohmann::json::array();
  for (const auto& l : p.by_op) j["op_types"].push_back(layer_json(l, p.runs));
  return write_text(path, j.dump(1) + "\n");
}

Status write_trace_file(const std::string& path, const std::vector<NodeEvent>& events,
                        const std::vector<std::pair<int64_t, int64_t>>& iteration_bounds, const std::string& model) {
  int64_t origin = iteration_bounds.empty() ? (events.empty() ? 0 : events.front().start_ns)
                                            : iteration_bounds.front().first;
  auto us = [origin](int64_t ns) { return static_cast<double>(ns - origin) / 1000.0; };
  nlohmann::json ev = nlohmann::json::array();
  ev.push_back({{"name", "process_name"}, {"ph", "M"}, {"pid", 1}, {"args", {{"name", "ferry " + model}}}});
  ev.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", 1}, {"tid", 1}, {"args", {{"name", "iterations"}}}});
  ev.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", 1}, {"tid", 2}, {"args", {{"name", "nodes"}}}});
  for (size_t i = 0; i < iteration_bounds.size(); ++i) {
    auto [b, e] = iteration_bounds[i];
    ev.push_back({{"name", "run " + std::to_string(i)}, {"cat", "iteration"}, {"ph", "X"}, {"ts", us(b)},
                  {"dur", static_cast<double>(e - b) / 1000.0}, {"pid", 1}, {"tid", 1},
                  {"args", {{"iteration", i}}}});
  }
  size_t it = 0;
  for (const auto& e : events) {
    while (it + 1 < iteration_bounds.size() && e.start_ns >= iteration_bounds[it + 1].first) ++it;
    ev.push_back({{"name", e.node}, {"cat", e.op_type}, {"ph", "X"}, {"ts", us(e.start_ns)},
                  {"dur", static_cast<double>(e.end_ns - e.start_ns) / 1000.0}, {"pid", 1}, {"tid", 2},
                  {"args", {{"op_type", e.op_type}, {"iteration", it}}}});
  }
  nlohmann::json j = {{"traceEvents", ev}, {"displayTimeUnit", "ms"}};
  return write_text(path, j.dump() + "\n");
}

namespace {

// Inline SVG histogram of the latencies with median/p90/p99 markers.
std::string latency_svg(const BenchResult& r) {
  const int width = 760, height = 320, left = 60, right = 20, topm = 20, bottom = 50;
  const LatencyStats& s = r.stats;
  std::vector<double> v = r.latencies_ms;
  int bins = std::clamp(static_cast<int>(std::sqrt(static_cast<double>(v.size()))) * 2, 5, 60);
  double lo = s.min_ms, hi = s.max_ms;
  if (hi - lo < 1e-9) {
    lo -= 0.5 * std::max(lo * 0.01, 1e-3);
    hi += 0.5 * std::max(hi * 0.01, 1e-3);
  }
  std::vector<int> counts(static_cast<size_t>(bins), 0);
  for (double x : v) {
    int b = static_cast<int>((x - lo) / (hi - lo) * bins);
    counts[static_cast<size_t>(std::clamp(b, 0, bins - 1))]++;
  }
  int cmax = std::max(1, *std::max_element(counts.begin(), counts.end()));
  double pw = width - left - right, ph = height - topm - bottom;
  auto xpos = [&](double ms) { return left + (ms - lo) / (hi - lo) * pw; };
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) + "\" height=\"" +
                    std::to_string(height) + "\" font-family=\"sans-serif\" font-size=\"11\">\n";
  svg += "<rect x=\"0\" y=\"0\" width=\"" + std::to_string(width) + "\" height=\"" + std::to_string(height) +
         "\" fill=\"#fff\"/>\n";
  for (int b = 0; b < bins; ++b) {
    double bh = ph * counts[static_cast<size_t>(b)] / cmax;
    svg += "<rect x=\"" + fmt("%.1f", left + pw * b / bins) + "\" y=\"" + fmt("%.1f", topm + ph - bh) +
           "\" width=\"" + fmt("%.1f", std::max(pw / bins - 1, 1.0)) + "\" height=\"" + fmt("%.1f", bh) +
           "\" fill=\"#4c78a8\"><title>" + fmt("%.3f", lo + (hi - lo) * b / bins) + "–" +
           fmt("%.3f", lo + (hi - lo) * (b + 1) / bins) + " ms: " + std::to_string(counts[static_cast<size_t>(b)]) +
           "</title></rect>\n";
  }
  svg += "<line x1=\"" + std::to_string(left) + "\" y1=\"" + fmt("%.1f", topm + ph) + "\" x2=\"" +
         fmt("%.1f", left + pw) + "\" y2=\"" + fmt("%.1f", topm + ph) + "\" stroke=\"#000\"/>\n";
  svg += "<line x1=\"" + std::to_string(left) + "\" y1=\"" + std::to_string(topm) + "\" x2=\"" +
         std::to_string(left) + "\" y2=\"" + fmt("%.1f", topm + ph) + "\" stroke=\"#000\"/>\n";
  for (int t = 0; t <= 4; ++t) {
    double ms = lo + (hi - lo) * t / 4;
    svg += "<text x=\"" + fmt("%.1f", xpos(ms)) + "\" y=\"" + fmt("%.1f", topm + ph + 15) +
           "\" text-anchor=\"middle\">" + fmt("%.3f", ms) + "</text>\n";
  }
  svg += "<text x=\"" + fmt("%.1f", left + pw / 2) + "\" y=\"" + std::to_string(height - 8) +
         "\" text-anchor=\"middle\">latency (ms)</text>\n";
  svg += "<text x=\"" + std::to_string(left - 6) + "\" y=\"" + std::to_string(topm + 4) + "\" text-anchor=\"end\">" +
         std::to_string(cmax) + "</text>\n";
  svg += "<text x=\"" + std::to_string(left - 6) + "\" y=\"" + fmt("%.1f", topm + ph) + "\" text-anchor=\"end\">0</text>\n";
  struct Mark { const char* name; double ms; const char* color; };
  Mark marks[] = {{"median", s.median_ms, "#e45756"}, {"p90", s.p90_ms, "#f58518"}, {"p99", s.p99_ms, "#54a24b"}};
  int k = 0;
  for (const auto& m : marks) {
    double x = xpos(std::clamp(m.ms, lo, hi));
    svg += "<line x1=\"" + fmt("%.1f", x) + "\" y1=\"" + std::to_string(topm) + "\" x2=\"" + fmt("%.1f", x) +
           "\" y2=\"" + fmt("%.1f", topm + ph) + "\" stroke=\"" + m.color + "\" stroke-dasharray=\"4,3\"/>\n";
    svg += "<text x=\"" + fmt("%.1f", x + 3) + "\" y=\"" + std::to_string(topm + 12 + 12 * k++) + "\" fill=\"" +
           m.color + "\">" + m.name + " " + fmt("%.3f", m.ms) + "</text>\n";
  }
  return svg + "</svg>\n";
}

}  // namespace

Status write_html_file(const std::string& path, const BenchResult& r) {
  const LatencyStats& s = r.stats;
  std::string h = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>ferry bench: " + html_escape(r.model) +
                  "</title>\n<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
                  "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#eee}"
                  ".warn{color:#b00}</style></head><body>\n";
  h += "<h1>ferry bench</h1>\n<p>model <code>" + html_escape(r.model) + "</code>; threads " +
       std::to_string(r.threads) + ", batch " + std::to_string(r.batch) + ", warm-up " + std::to_string(r.warmup) +
       ", " + std::to_string(s.count) + " iterations in " + fmt("%.2f", r.wall_s) + " s; load " +
       fmt("%.1f", r.load_ms) + " ms</p>\n";
  for (const auto& d : r.input_descriptions) h += "<p>input: <code>" + html_escape(d) + "</code></p>\n";
  h += latency_svg(r);
  h += "<h2>Latency</h2>\n<table><tr><th>statistic</th><th>ms</th></tr>\n";
  std::pair<const char*, double> rows[] = {{"min", s.min_ms},       {"mean", s.mean_ms},     {"median", s.median_ms},
                                           {"p90", s.p90_ms},       {"p95", s.p95_ms},       {"p99", s.p99_ms},
                                           {"max", s.max_ms},       {"stddev", s.stddev_ms}};
  for (const auto& [name, v] : rows)
    h += std::string("<tr><td style=\"text-align:left\">") + name + "</td><td>" + fmt("%.3f", v) + "</td></tr>\n";
  h += "</table>\n<p>throughput " + fmt("%.2f", r.throughput_qps) + " qps; coefficient of variation " +
       fmt("%.2f", 100 * s.cov) + "%</p>\n";
  if (s.cov > 0.05) h += "<p class=\"warn\">WARNING: coefficient of variation above 5%: latencies are unstable.</p>\n";
  if (r.profile.runs > 0) {
    h += "<h2>Top layers (" + std::to_string(r.profile.runs) + " profiled runs)</h2>\n<table><tr><th>node</th>"
         "<th>op</th><th>ms/run</th><th>% run</th></tr>\n";
    for (size_t i = 0; i < std::min<size_t>(r.profile.nodes.size(), 20); ++i) {
      const LayerTime& l = r.profile.nodes[i];
      h += "<tr><td style=\"text-align:left\">" + html_escape(l.node) + "</td><td style=\"text-align:left\">" +
           html_escape(l.op_type) + "</td><td>" + fmt("%.3f", l.total_ms / r.profile.runs) + "</td><td>" +
           fmt("%.2f", l.percent) + "</td></tr>\n";
    }
    h += "</table>\n";
  }
  h += "</body></html>\n";
  return write_text(path, h);
}

}  // namespace ferry::cli
