// serve.cc — `ferry serve --model-repository DIR [--http-port 8000] ...`: the KServe v2 inference server.
//
// SIGTERM/SIGINT: stop accepting, drain in-flight requests (--drain-timeout-ms), exit 0.
#include <malloc.h>
#include <pthread.h>

#include <csignal>
#include <cstdlib>
#include <iostream>

#include "serve/grpc/grpc_server.h"
#include "serve/http_server.h"
#include "serve/server_core.h"
#include "tools/cli/cli.h"

namespace ferry::cli {

namespace {

struct ServeArgs {
  serve::ServerOptions core;
  serve::HttpOptions http;
  std::string control_mode = "none";
  int64_t drain_ms = 30000;
  int grpc_port = -1;  // -1: no gRPC frontend
  int malloc_arena_max = 2;  // 0: glibc's default (8 x cores)
};

Status serve_command(ServeArgs& a) {
  if (a.control_mode == "none") a.core.control_mode = serve::ModelControlMode::kNone;
  else if (a.control_mode == "poll") a.core.control_mode = serve::ModelControlMode::kPoll;
  else if (a.control_mode == "explicit") a.core.control_mode = serve::ModelControlMode::kExplicit;
  else return invalid_argument("--model-control-mode must be none, poll or explicit");
  if (a.http.max_body_bytes <= 0 || a.http.read_timeout_ms <= 0 || a.http.idle_timeout_ms <= 0)
    return invalid_argument("--max-body-bytes and timeouts must be positive");
  if (a.malloc_arena_max < 0) return invalid_argument("--malloc-arena-max must be >= 0");
  // Request buffers (600 KB per mobilenet image) are allocated on the frontends' threads and freed on the
  // instance threads; with glibc's default of one arena per thread the freed chunks spread over many arenas and
  // RSS crept up 16% in a 60 s soak, 2.4% with 2 arenas (scripts/soak.sh). MALLOC_ARENA_MAX in the environment
  // wins (glibc reads it itself).
  if (a.malloc_arena_max > 0 && std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, a.malloc_arena_max);
  // Every thread started from here on inherits the blocked signals; this thread waits for them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  auto core = serve::ServerCore::create(a.core);
  if (!core) return core.status();
  for (const auto& row : (*core)->repository_index(false))
    std::cerr << "ferry serve: model " << row.name << (row.version.empty() ? "" : " v" + row.version) << " "
              << serve::model_state_name(row.state) << (row.reason.empty() ? "" : ": " + row.reason) << "\n";
  serve::HttpServer http(**core, a.http);
  auto port = http.start();
  if (!port) return port.status();
  std::cout << "ferry serve: listening on http://" << a.http.address << ":" << *port << std::endl;
  std::unique_ptr<serve::GrpcServer> grpc;  // gRPC frontend (serve/grpc/grpc_server.h), same address as HTTP
  if (a.grpc_port >= 0) {
    serve::GrpcOptions g;
    g.address = a.http.address + ":" + std::to_string(a.grpc_port);
    FERRY_ASSIGN_OR_RETURN(grpc, serve::GrpcServer::start(**core, g));
    std::cout << "ferry serve: listening on grpc://" << a.http.address << ":" << grpc->port() << std::endl;
  }
  int sig = 0;
  sigwait(&set, &sig);
  std::cerr << "ferry serve: signal " << sig << ", draining " << (*core)->inflight() << " in-flight requests\n";
  http.stop_accepting();
  if (grpc) grpc->shutdown(a.drain_ms);  // stops new RPCs, waits for in-flight ones (the core still runs them)
  (*core)->shutdown(a.drain_ms);
  http.stop(2000);
  std::cerr << "ferry serve: stopped\n";
  return Status::ok();
}

}  // namespace

void add_serve_command(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand("serve", "serve a model repository over HTTP (KServe v2 / Open Inference Protocol)");
  cmd->add_option("--model-repository", args->core.repository, "repository: <model>/config.pbtxt, <model>/<version>/model.onnx")
      ->required();
  cmd->add_option("--http-address", args->http.address, "listen address (default 0.0.0.0)");
  cmd->add_option("--http-port", args->http.port, "listen port; 0 picks a free one (printed on stdout)");
  cmd->add_option("--http-threads", args->http.threads, "io threads for all connections (default 1)");
  cmd->add_option("--max-body-bytes", args->http.max_body_bytes, "largest request body (default 64 MiB; larger: 413)");
  cmd->add_option("--http-read-timeout-ms", args->http.read_timeout_ms, "a request must arrive within this (default 10000)");
  cmd->add_option("--http-idle-timeout-ms", args->http.idle_timeout_ms, "idle keep-alive connections close after this");
  cmd->add_option("--grpc-port", args->grpc_port, "gRPC (KServe v2 GRPCInferenceService) port; 0 picks a free one; "
                                                  "default: no gRPC");
  cmd->add_option("--model-control-mode", args->control_mode, "none | poll | explicit (default none)");
  cmd->add_option("--load-model", args->core.startup_models, "explicit mode: load at startup ('*' = all)");
  cmd->add_option("--repository-poll-secs", args->core.poll_interval_s, "poll mode: rescan interval (default 5)");
  cmd->add_option("--threads-per-instance", args->core.threads_per_instance,
                  "intra-op threads of each model instance unless config.pbtxt sets parameters.threads (default 1)");
  cmd->add_option("--drain-timeout-ms", args->drain_ms, "on SIGTERM, wait this long for in-flight requests");
  cmd->add_option("--malloc-arena-max", args->malloc_arena_max,
                  "glibc malloc arenas (default 2: bounded RSS under load; 0 = glibc's default)");
  cmd->add_flag("!--no-strict-readiness", args->core.strict_readiness, "ready even when some models failed to load");
  cmd->callback([args, exit_code] {
    Status s = serve_command(*args);
    *exit_code = s.is_ok() ? 0 : report_error("serve", s);
  });
}

}  // namespace ferry::cli
