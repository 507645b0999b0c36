// http_routes.cc — URL routing and JSON bodies of the KServe v2 REST API.
#include "serve/http_routes.h"

#include <nlohmann/json.hpp>
#include <vector>

#include "serve/http_codec.h"

namespace ferry::serve {

using nlohmann::json;

int http_status_for(const Status& s, bool unavailable) {
  if (unavailable) return 503;
  switch (s.code()) {
    case StatusCode::kOk: return 200;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kInvalidArgument: case StatusCode::kUnsupported: return 400;
    default: return 500;
  }
}

namespace {

void error(HttpReply& r, int status, std::string_view msg) {
  r.status = status;
  r.content_type = "application/json";
  r.body = error_json(msg);
}

void from_status(HttpReply& r, const Status& s) { error(r, http_status_for(s, false), s.message()); }

std::vector<std::string_view> split_path(std::string_view target) {
  size_t q = target.find('?');
  if (q != std::string_view::npos) target = target.substr(0, q);
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < target.size() && parts.size() < 16) {
    if (target[i] == '/') {
      ++i;
      continue;
    }
    size_t j = target.find('/', i);
    if (j == std::string_view::npos) j = target.size();
    parts.push_back(target.substr(i, j - i));
    i = j;
  }
  return parts;
}

json metadata_json(const ModelMetadata& md) {
  auto tensors = [](const std::vector<TensorMetadata>& ts) {
    json a = json::array();
    for (const auto& t : ts) a.push_back({{"name", t.name}, {"datatype", t.datatype}, {"shape", t.shape}});
    return a;
  };
  return {{"name", md.name}, {"versions", md.versions}, {"platform", md.platform},
          {"inputs", tensors(md.inputs)}, {"outputs", tensors(md.outputs)}};
}

bool model_routes(ServerCore& core, std::string_view method, const std::vector<std::string_view>& p,
                  int64_t hlen, std::string_view body, int64_t received_ns, HttpReply& r,
                  std::function<void(HttpReply&&)>& later) {
  // p = ["v2", "models", m, ("versions", v)?, action?]
  std::string model(p[2]);
  std::string version;
  size_t k = 3;
  if (p.size() >= 5 && p[3] == "versions") {
    version = std::string(p[4]);
    k = 5;
  }
  if (p.size() > k + 1) {
    error(r, 404, "unknown path");
    return true;
  }
  std::string_view action = p.size() == k + 1 ? p[k] : std::string_view();
  bool get = method == "GET";
  if (action.empty() || action == "ready" || action == "config" || action == "stats") {
    if (!get) {
      error(r, 405, "use GET");
      return true;
    }
    if (action.empty()) {
      auto md = core.model_metadata(model, version);
      if (!md) from_status(r, md.status());
      else r.body = metadata_json(*md).dump();
    } else if (action == "ready") {
      bool ok = core.model_ready(model, version);
      r.status = ok ? 200 : 400;
      r.body = ok ? "" : error_json("model '" + model + "' is not ready");
    } else {
      auto s = action == "config" ? core.model_config_json(model, version) : core.statistics_json(model, version);
      if (!s) from_status(r, s.status());
      else r.body = std::move(s).value();
    }
    return true;
  }
  if (action != "infer") {
    error(r, 404, "unknown path");
    return true;
  }
  if (method != "POST") {
    error(r, 405, "use POST");
    return true;
  }
  auto dec = decode_infer_request(body, hlen, model, version);
  if (!dec) {
    from_status(r, dec.status());
    return true;
  }
  dec->request.received_ns = received_ns;
  BinaryOutputs binary = std::move(dec->binary);
  core.infer(std::move(dec->request), [binary = std::move(binary), later = std::move(later)](InferResponse&& res) {
    HttpReply out;
    if (!res.status.is_ok()) {
      error(out, http_status_for(res.status, res.unavailable), res.status.message());
    } else {
      EncodedBody e = encode_infer_response(res, binary);
      out.body = std::move(e.body);
      out.header_length = e.json_length;
      if (e.json_length >= 0) out.content_type = "application/octet-stream";
    }
    later(std::move(out));
  });
  return false;
}

}  // namespace

bool handle_http_request(ServerCore& core, std::string_view method, std::string_view target, int64_t hlen,
                         std::string_view body, int64_t received_ns, HttpReply& r,
                         std::function<void(HttpReply&&)> later) {
  auto p = split_path(target);
  bool get = method == "GET";
  if (p.size() == 1 && p[0] == "metrics") {
    r.content_type = "text/plain; version=0.0.4";
    r.body = core.metrics_text();
    return true;
  }
  if (p.empty() || p[0] != "v2") {
    error(r, 404, "unknown path");
    return true;
  }
  if (p.size() == 1) {
    ServerMetadata md = core.server_metadata();
    r.body = json{{"name", md.name}, {"version", md.version}, {"extensions", md.extensions}}.dump();
    return true;
  }
  if (p.size() == 3 && p[1] == "health") {
    bool ok = p[2] == "live" ? core.live() : p[2] == "ready" ? core.ready() : false;
    if (p[2] != "live" && p[2] != "ready") error(r, 404, "unknown path");
    else r.status = ok ? 200 : 400;
    return true;
  }
  if (p.size() == 3 && p[1] == "models" && p[2] == "stats") {
    auto s = core.statistics_json("", "");
    r.body = s ? std::move(s).value() : error_json(s.status().message());
    return true;
  }
  if (p.size() >= 3 && p[1] == "models") return model_routes(core, method, p, hlen, body, received_ns, r, later);
  if (p.size() >= 3 && p[1] == "repository") {
    if (method != "POST") {
      error(r, 405, "use POST");
      return true;
    }
    if (p.size() == 3 && p[2] == "index") {
      bool ready_only = false;
      if (!body.empty()) {
        json j = json::parse(body.begin(), body.end(), nullptr, false);
        if (j.is_object() && j.contains("ready") && j["ready"].is_boolean()) ready_only = j["ready"].get<bool>();
      }
      json rows = json::array();
      for (const auto& e : core.repository_index(ready_only)) {
        json row = {{"name", e.name}, {"state", model_state_name(e.state)}};
        if (!e.version.empty()) row["version"] = e.version;
        if (!e.reason.empty()) row["reason"] = e.reason;
        rows.push_back(std::move(row));
      }
      r.body = rows.dump(-1, ' ', false, json::error_handler_t::replace);
      return true;
    }
    if (p.size() == 5 && p[2] == "models" && (p[4] == "load" || p[4] == "unload")) {
      std::string m(p[3]);
      Status s = p[4] == "load" ? core.load_model(m) : core.unload_model(m);
      if (!s.is_ok()) from_status(r, s);
      else r.body = "{}";
      return true;
    }
  }
  (void)get;
  error(r, 404, "unknown path");
  return true;
}

}  // namespace ferry::serve
