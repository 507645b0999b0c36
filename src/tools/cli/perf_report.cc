// perf_report.cc — statistics parsing and the text / CSV / HTML renderings of `ferry perf` results.
#include "tools/cli/perf_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tools/cli/perf_client.h"

namespace ferry::cli {

ServerStats operator-(const ServerStats& a, const ServerStats& b) {
  auto d = [](uint64_t x, uint64_t y) { return x >= y ? x - y : 0; };
  ServerStats r;
  r.inference_count = d(a.inference_count, b.inference_count);
  r.execution_count = d(a.execution_count, b.execution_count);
  r.success_count = d(a.success_count, b.success_count);
  r.success_ns = d(a.success_ns, b.success_ns);
  r.fail_count = d(a.fail_count, b.fail_count);
  r.fail_ns = d(a.fail_ns, b.fail_ns);
  r.queue_count = d(a.queue_count, b.queue_count);
  r.queue_ns = d(a.queue_ns, b.queue_ns);
  r.compute_input_ns = d(a.compute_input_ns, b.compute_input_ns);
  r.compute_infer_ns = d(a.compute_infer_ns, b.compute_infer_ns);
  r.compute_output_ns = d(a.compute_output_ns, b.compute_output_ns);
  return r;
}

Expected<ServerStats> parse_stats_json(const std::string& json, const std::string& model) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("model_stats") || !j["model_stats"].is_array())
    return invalid_argument("statistics: expected {\"model_stats\": [...]}");
  // Counters may arrive as numbers or (proto3 JSON mapping of uint64) as strings.
  auto num = [](const nlohmann::json& o, const char* k) -> uint64_t {
    if (!o.is_object() || !o.contains(k)) return 0;
    const auto& v = o[k];
    if (v.is_number_unsigned() || v.is_number_integer()) return v.get<uint64_t>();
    if (v.is_string()) return std::strtoull(v.get<std::string>().c_str(), nullptr, 10);
    return 0;
  };
  auto dur = [&](const nlohmann::json& is, const char* k, uint64_t* count, uint64_t* ns) {
    if (!is.is_object() || !is.contains(k)) return;
    if (count) *count += num(is[k], "count");
    *ns += num(is[k], "ns");
  };
  ServerStats s;
  bool found = false;
  for (const auto& m : j["model_stats"]) {
    if (!m.is_object() || m.value("name", "") != model) continue;
    found = true;
    s.inference_count += num(m, "inference_count");
    s.execution_count += num(m, "execution_count");
    if (!m.contains("inference_stats")) continue;
    const auto& is = m["inference_stats"];
    dur(is, "success", &s.success_count, &s.success_ns);
    dur(is, "fail", &s.fail_count, &s.fail_ns);
    dur(is, "queue", &s.queue_count, &s.queue_ns);
    dur(is, "compute_input", nullptr, &s.compute_input_ns);
    dur(is, "compute_infer", nullptr, &s.compute_infer_ns);
    dur(is, "compute_output", nullptr, &s.compute_output_ns);
  }
  if (!found) return not_found("statistics: no entry for model '" + model + "'");
  return s;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  size_t k = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  k = std::clamp<size_t>(k, 1, v.size()) - 1;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

namespace {

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

std::string level_name(bool request_rate) { return request_rate ? "Request Rate" : "Concurrency"; }

}  // namespace

std::string format_result(const PerfResult& r, bool request_rate, double pct) {
  std::ostringstream o;
  o << level_name(request_rate) << ": " << fmt("%g", r.level) << (request_rate ? " infer/sec" : "") << "\n";
  o << "  Client: " << r.requests << " requests in " << r.windows << " windows"
    << (r.stable ? "" : " (NOT stable: last windows differ by more than 10%)") << "\n";
  o << "    Throughput: " << fmt("%.1f", r.throughput) << " infer/sec";
  if (r.errors) o << ", errors: " << r.errors;
  if (r.delayed) o << ", delayed sends: " << r.delayed;
  o << "\n    Latency (usec): avg " << fmt("%.1f", r.avg_us) << ", p50 " << fmt("%.1f", r.p50_us) << ", p90 "
    << fmt("%.1f", r.p90_us) << ", p95 " << fmt("%.1f", r.p95_us) << ", p99 " << fmt("%.1f", r.p99_us);
  if (pct != 50 && pct != 90 && pct != 95 && pct != 99) o << ", p" << fmt("%g", pct) << " " << fmt("%.1f", r.pct_us);
  o << "\n";
  if (r.errors) o << "    First error: " << r.first_error << "\n";
  if (r.has_server) {
    o << "  Server (avg usec per request): request " << fmt("%.1f", r.server_request_us) << " = queue "
      << fmt("%.1f", r.queue_us) << " + compute input " << fmt("%.1f", r.compute_input_us) << " + compute infer "
      << fmt("%.1f", r.compute_infer_us) << " + compute output " << fmt("%.1f", r.compute_output_us)
      << " + overhead " << fmt("%.1f", r.overhead_us) << "\n";
    o << "    Network + client (avg latency - server request): "
      << fmt("%.1f", std::max(0.0, r.avg_us - r.server_request_us)) << " usec\n";
  }
  if (r.overhead_samples > 0)
    o << "  Server overhead per request (" << r.overhead_samples << " probed requests, usec): p50 "
      << fmt("%.2f", r.overhead_p50_us) << ", p90 " << fmt("%.2f", r.overhead_p90_us) << ", p99 "
      << fmt("%.2f", r.overhead_p99_us) << "\n";
  return o.str();
}

Status write_csv(const std::string& path, const std::vector<PerfResult>& results, bool request_rate, double pct) {
  std::ofstream f(path);
  if (!f) return not_found("cannot write " + path);
  f << level_name(request_rate)
    << ",Inferences/Second,Errors,Server Request,Server Queue,Server Compute Input,Server Compute Infer,"
       "Server Compute Output,Server Overhead,Network+Client,Avg latency,p50 latency,p90 latency,p95 latency,"
       "p99 latency,p"
    << fmt("%g", pct) << " latency (--percentile),Overhead p50,Overhead p90,Overhead p99,Stable\n";
  for (const PerfResult& r : results) {
    f << fmt("%g", r.level) << "," << fmt("%.2f", r.throughput) << "," << r.errors;
    for (double v : {r.server_request_us, r.queue_us, r.compute_input_us, r.compute_infer_us, r.compute_output_us,
                     r.overhead_us, std::max(0.0, r.avg_us - r.server_request_us), r.avg_us, r.p50_us, r.p90_us,
                     r.p95_us, r.p99_us, r.pct_us})
      f << "," << fmt("%.2f", v);
    for (double v : {r.overhead_p50_us, r.overhead_p90_us, r.overhead_p99_us})
      f << "," << (r.overhead_samples > 0 ? fmt("%.2f", v) : "");
    f << "," << (r.stable ? 1 : 0) << "\n";
  }
  if (!f) return internal_error("write failed: " + path);
  return Status::ok();
}

Status write_html(const std::string& path, const std::string& title, const std::vector<PerfResult>& results,
                  bool request_rate) {
  std::ofstream f(path);
  if (!f) return not_found("cannot write " + path);
  const double W = 720, H = 420, L = 70, B = 50, T = 30, R = 20;
  double xmax = 1, ymax = 1;
  for (const PerfResult& r : results) {
    xmax = std::max(xmax, r.throughput);
    ymax = std::max(ymax, r.p99_us);
  }
  xmax *= 1.1;
  ymax *= 1.1;
  auto X = [&](double v) { return L + v / xmax * (W - L - R); };
  auto Y = [&](double v) { return H - B - v / ymax * (H - B - T); };
  f << "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>" << title
    << "</title><style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:right}</style></head><body>\n"
    << "<h2>" << title << "</h2>\n<svg width=\"" << W << "\" height=\"" << H << "\" xmlns=\"http://www.w3.org/2000/svg\">\n"
    << "<rect x=\"0\" y=\"0\" width=\"" << W << "\" height=\"" << H << "\" fill=\"white\"/>\n";
  for (int i = 0; i <= 5; ++i) {  // grid + tick labels
    double xv = xmax * i / 5, yv = ymax * i / 5;
    f << "<line x1=\"" << X(xv) << "\" y1=\"" << T << "\" x2=\"" << X(xv) << "\" y2=\"" << H - B
      << "\" stroke=\"#ddd\"/><text x=\"" << X(xv) << "\" y=\"" << H - B + 16 << "\" font-size=\"11\" "
      << "text-anchor=\"middle\">" << fmt("%.0f", xv) << "</text>\n";
    f << "<line x1=\"" << L << "\" y1=\"" << Y(yv) << "\" x2=\"" << W - R << "\" y2=\"" << Y(yv)
      << "\" stroke=\"#ddd\"/><text x=\"" << L - 6 << "\" y=\"" << Y(yv) + 4 << "\" font-size=\"11\" "
      << "text-anchor=\"end\">" << fmt("%.0f", yv) << "</text>\n";
  }
  f << "<text x=\"" << (L + W - R) / 2 << "\" y=\"" << H - 10 << "\" text-anchor=\"middle\">throughput "
    << "(infer/sec)</text><text transform=\"translate(16," << (H - B + T) / 2 << ") rotate(-90)\" "
    << "text-anchor=\"middle\">latency (usec)</text>\n";
  struct Series { const char* name; const char* color; double PerfResult::*field; };
  for (Series s : {Series{"p50", "#1f77b4", &PerfResult::p50_us}, Series{"p99", "#d62728", &PerfResult::p99_us}}) {
    f << "<polyline fill=\"none\" stroke=\"" << s.color << "\" stroke-width=\"2\" points=\"";
    for (const PerfResult& r : results) f << X(r.throughput) << "," << Y(r.*s.field) << " ";
    f << "\"/>\n";
    for (const PerfResult& r : results)
      f << "<circle cx=\"" << X(r.throughput) << "\" cy=\"" << Y(r.*s.field) << "\" r=\"4\" fill=\"" << s.color
        << "\"><title>" << level_name(request_rate) << " " << fmt("%g", r.level) << ": " << fmt("%.1f", r.throughput)
        << " infer/s, " << s.name << " " << fmt("%.1f", r.*s.field) << " us</title></circle><text x=\""
        << X(r.throughput) + 6 << "\" y=\"" << Y(r.*s.field) - 6 << "\" font-size=\"10\" fill=\"" << s.color << "\">"
        << fmt("%g", r.level) << "</text>\n";
    f << "<text x=\"" << W - R - 40 << "\" y=\"" << (s.field == &PerfResult::p50_us ? T + 10 : T + 26)
      << "\" fill=\"" << s.color << "\" font-size=\"12\">" << s.name << "</text>\n";
  }
  f << "</svg>\n<p>Points are labelled with the " << (request_rate ? "request rate" : "concurrency")
    << ".</p>\n<table><tr><th>" << level_name(request_rate)
    << "</th><th>infer/s</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>server overhead</th></tr>\n";
  for (const PerfResult& r : results)
    f << "<tr><td>" << fmt("%g", r.level) << "</td><td>" << fmt("%.1f", r.throughput) << "</td><td>"
      << fmt("%.1f", r.p50_us) << "</td><td>" << fmt("%.1f", r.p90_us) << "</td><td>" << fmt("%.1f", r.p95_us)
      << "</td><td>" << fmt("%.1f", r.p99_us) << "</td><td>" << (r.has_server ? fmt("%.1f", r.overhead_us) : "")
      << "</td></tr>\n";
  f << "</table></body></html>\n";
  if (!f) return internal_error("write failed: " + path);
  return Status::ok();
}

}  // namespace ferry::cli
