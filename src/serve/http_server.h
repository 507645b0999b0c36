// serve/http_server.h — the HTTP/1.1 frontend of `ferry serve` on Boost.Beast/Asio.
//
//   ferry::serve::HttpOptions o;  o.port = 0;                      // 0 = ephemeral
//   ferry::serve::HttpServer http(*core, o);
//   auto port = http.start();                                      // Expected<int>: the bound port
//   ...                                                            // SIGTERM arrives
//   http.stop_accepting(); core->shutdown(30000); http.stop(2000); // drain, then close
//
// Event-driven: `threads` io threads run every connection (no thread per connection); keep-alive; requests on
// one connection are answered in order. Hostile clients: the request head is limited to 16 KiB and the body to
// max_body_bytes (413), a request must arrive whole within read_timeout_ms (slowloris) and an idle keep-alive
// connection is closed after idle_timeout_ms; connections beyond max_connections are closed at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "ferry/status.h"
#include "serve/server_core.h"

namespace ferry::serve {

struct HttpOptions {
  std::string address = "0.0.0.0";
  int port = 8000;
  int threads = 1;
  int64_t max_body_bytes = 64 << 20;
  int read_timeout_ms = 10000;
  int idle_timeout_ms = 60000;
  int max_connections = 4096;
};

class HttpServer {
 public:
  HttpServer(ServerCore& core, const HttpOptions& options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts the io threads; returns the bound port.
  Expected<int> start();
  // Closes the listening socket; open connections keep being served.
  void stop_accepting();
  // Waits up to `drain_ms` for answers being written, then closes every connection and joins the threads.
  void stop(int64_t drain_ms = 0);
  // Requests read but not yet answered.
  int64_t pending() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::serve
