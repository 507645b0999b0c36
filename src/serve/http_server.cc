// http_server.cc — Boost.Beast connections: read (limits + timeouts), route, write, keep alive.
#include "serve/http_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <thread>
#include <vector>

#include "serve/http_codec.h"
#include "serve/http_routes.h"
#include "serve/stats.h"

namespace ferry::serve {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

struct HttpServer::Impl {
  ServerCore& core;
  HttpOptions opt;
  std::atomic<int64_t> connections{0};
  std::atomic<int64_t> pending{0};
  std::atomic<bool> accepting{false};
  net::io_context ioc;  // after the counters: destroying it destroys connections, which touch them
  tcp::acceptor acceptor{ioc};
  std::vector<std::thread> threads;
  std::unique_ptr<net::executor_work_guard<net::io_context::executor_type>> work;

  Impl(ServerCore& c, const HttpOptions& o) : core(c), opt(o) {}
  void do_accept();
};

namespace {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket&& s, HttpServer::Impl& srv) : stream_(std::move(s)), srv_(srv) { srv_.connections++; }
  ~Connection() { srv_.connections--; }

  void start() { net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); }); }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(16 * 1024);
    parser_->body_limit(static_cast<uint64_t>(srv_.opt.max_body_bytes));
    // The first request on a connection and every later one must arrive whole within the read timeout; an
    // idle keep-alive connection waits up to the idle timeout for the first byte of the next one.
    stream_.expires_after(std::chrono::milliseconds(buffer_.size() || first_ ? srv_.opt.read_timeout_ms
                                                                             : srv_.opt.idle_timeout_ms));
    first_ = false;
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == net::error::operation_aborted ||
        ec == net::error::connection_reset || ec == net::error::eof) {
      return close();
    }
    if (ec == http::error::body_limit) {
      keep_alive_ = false;
      return reply(HttpReply{413, "application/json", error_json("request body exceeds the limit of " +
                                                                 std::to_string(srv_.opt.max_body_bytes) + " bytes"), -1});
    }
    if (ec == http::error::header_limit) {
      keep_alive_ = false;
      return reply(HttpReply{431, "application/json", error_json("request header too large"), -1});
    }
    if (ec) {
      keep_alive_ = false;
      return reply(HttpReply{400, "application/json", error_json("bad HTTP request: " + ec.message()), -1});
    }
    int64_t received = now_ns();
    stream_.expires_never();
    request_ = parser_->release();
    keep_alive_ = request_.keep_alive();
    int64_t hlen = -1;
    auto h = request_.find("Inference-Header-Content-Length");
    if (h != request_.end()) {
      std::string v(h->value());
      char* end = nullptr;
      long long n = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n < 0) {
        keep_alive_ = false;
        return reply(HttpReply{400, "application/json", error_json("bad Inference-Header-Content-Length"), -1});
      }
      hlen = n;
    }
    srv_.pending++;
    counted_ = true;
    HttpReply r;
    auto self = shared_from_this();
    bool now = handle_http_request(srv_.core, std::string_view(request_.method_string().data(), request_.method_string().size()),
                                   std::string_view(request_.target().data(), request_.target().size()), hlen,
                                   request_.body(), received, r, [self](HttpReply&& later) {
                                     net::post(self->stream_.get_executor(), [self, rep = std::move(later)]() mutable {
                                       self->reply(std::move(rep));
                                     });
                                   });
    if (now) reply(std::move(r));
  }

  void reply(HttpReply&& r) {
    request_.body().clear();
    request_.body().shrink_to_fit();
    res_ = {};
    res_.version(11);
    res_.result(static_cast<http::status>(r.status));
    res_.set(http::field::server, "ferry");
    res_.set(http::field::content_type, r.content_type);
    if (r.header_length >= 0) res_.set("Inference-Header-Content-Length", std::to_string(r.header_length));
    res_.body() = std::move(r.body);
    res_.keep_alive(keep_alive_ && srv_.accepting.load());
    res_.prepare_payload();
    stream_.expires_after(std::chrono::milliseconds(srv_.opt.read_timeout_ms));
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code ec, size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    if (counted_) srv_.pending--;
    counted_ = false;
    if (ec || !res_.keep_alive()) return close();
    res_ = {};
    read();
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  HttpServer::Impl& srv_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::request<http::string_body> request_;
  http::response<http::string_body> res_;
  bool keep_alive_ = true;
  bool first_ = true;
  bool counted_ = false;
};

}  // namespace

void HttpServer::Impl::do_accept() {
  acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (!accepting.load()) return;
    if (!ec) {
      if (connections.load() >= opt.max_connections) {
        beast::error_code ig;
        socket.close(ig);
      } else {
        beast::error_code ig;
        socket.set_option(tcp::no_delay(true), ig);
        std::make_shared<Connection>(std::move(socket), *this)->start();
      }
    } else if (ec == net::error::operation_aborted) {
      return;
    }
    do_accept();
  });
}

HttpServer::HttpServer(ServerCore& core, const HttpOptions& options) : impl_(std::make_unique<Impl>(core, options)) {}
HttpServer::~HttpServer() { stop(0); }

Expected<int> HttpServer::start() {
  Impl& im = *impl_;
  beast::error_code ec;
  auto addr = net::ip::make_address(im.opt.address, ec);
  if (ec) return invalid_argument("bad listen address '" + im.opt.address + "'");
  if (im.opt.port < 0 || im.opt.port > 65535) return invalid_argument("bad port " + std::to_string(im.opt.port));
  tcp::endpoint ep(addr, static_cast<unsigned short>(im.opt.port));
  im.acceptor.open(ep.protocol(), ec);
  if (!ec) im.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) im.acceptor.bind(ep, ec);
  if (!ec) im.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return invalid_argument("cannot listen on " + im.opt.address + ":" + std::to_string(im.opt.port) + ": " + ec.message());
  int port = im.acceptor.local_endpoint().port();
  im.accepting = true;
  im.work = std::make_unique<net::executor_work_guard<net::io_context::executor_type>>(im.ioc.get_executor());
  im.do_accept();
  for (int i = 0; i < std::max(1, im.opt.threads); ++i) im.threads.emplace_back([&im] { im.ioc.run(); });
  return port;
}

void HttpServer::stop_accepting() {
  Impl& im = *impl_;
  if (!im.accepting.exchange(false)) return;
  net::post(im.ioc, [&im] {
    beast::error_code ec;
    im.acceptor.close(ec);
  });
}

void HttpServer::stop(int64_t drain_ms) {
  Impl& im = *impl_;
  stop_accepting();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(drain_ms);
  while (im.pending.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  im.work.reset();
  im.ioc.stop();
  for (auto& t : im.threads)
    if (t.joinable()) t.join();
  im.threads.clear();
}

int64_t HttpServer::pending() const { return impl_->pending.load(); }

}  // namespace ferry::serve
