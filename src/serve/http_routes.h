// serve/http_routes.h — the KServe v2 REST endpoints, independent of the HTTP library: a request line, the one
// header that matters (Inference-Header-Content-Length) and a body in; a status, content type and body out.
//
//   GET  /v2/health/live | /v2/health/ready | /v2 | /metrics
//   GET  /v2/models/{m}[/versions/{v}] [/ready | /config | /stats]      GET /v2/models/stats
//   POST /v2/models/{m}[/versions/{v}]/infer
//   POST /v2/repository/index | /v2/repository/models/{m}/load | /v2/repository/models/{m}/unload
//
// Status codes: 200 ok; 400 malformed request / not ready; 404 unknown path, model or version; 405 wrong method;
// 503 overloaded or draining (queue full/timeout); 500 internal.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "serve/server_core.h"

namespace ferry::serve {

struct HttpReply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  int64_t header_length = -1;  // >= 0: send Inference-Header-Content-Length
};

// Answers one request. Returns true when `reply` is filled now; false when the answer comes later through
// `later` (inference), called exactly once from a scheduler thread.
bool handle_http_request(ServerCore& core, std::string_view method, std::string_view target,
                         int64_t inference_header_length, std::string_view body, int64_t received_ns, HttpReply& reply,
                         std::function<void(HttpReply&&)> later);

int http_status_for(const Status& s, bool unavailable);

}  // namespace ferry::serve
