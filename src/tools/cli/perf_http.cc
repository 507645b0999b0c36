// perf_http.cc — PerfClient over HTTP/1.1 keep-alive (KServe v2 REST, binary-tensor extension by default).
//
// A deliberately small blocking client: one socket, TCP_NODELAY, receive/send timeouts so nothing hangs, a
// response parser for Content-Length and chunked bodies. The request bytes are encoded once in set_inputs().
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "tools/cli/perf_client.h"

namespace ferry::cli {

namespace {

struct HttpResponse {
  int status = 0;
  std::string body;
};

// Appends the elements of one raw little-endian tensor to a JSON array (JSON-tensor mode).
Status append_json_data(const PerfInput& in, nlohmann::json* out) {
  const std::string& d = in.data;
  const std::string& t = in.datatype;
  auto each = [&](size_t sz, auto read) {
    for (size_t off = 0; off + sz <= d.size(); off += sz) out->push_back(read(d.data() + off));
  };
  auto as = [](auto zero) {
    return [](const char* p) {
      decltype(zero) v;
      std::memcpy(&v, p, sizeof v);
      return v;
    };
  };
  if (t == "FP32") each(4, as(float{}));
  else if (t == "FP64") each(8, as(double{}));
  else if (t == "INT8") each(1, as(int8_t{}));
  else if (t == "INT16") each(2, as(int16_t{}));
  else if (t == "INT32") each(4, as(int32_t{}));
  else if (t == "INT64") each(8, as(int64_t{}));
  else if (t == "UINT8") each(1, as(uint8_t{}));
  else if (t == "UINT16") each(2, as(uint16_t{}));
  else if (t == "UINT32") each(4, as(uint32_t{}));
  else if (t == "UINT64") each(8, as(uint64_t{}));
  else if (t == "BOOL") each(1, [](const char* p) { return *p != 0; });
  else if (t == "BYTES") {
    for (size_t off = 0; off + 4 <= d.size();) {
      uint32_t n = 0;
      std::memcpy(&n, d.data() + off, 4);
      if (off + 4 + n > d.size()) break;
      out->push_back(d.substr(off + 4, n));
      off += 4 + n;
    }
  } else {
    return unsupported("input '" + in.name + "': datatype " + t + " cannot be sent as JSON (drop --http-json)");
  }
  return Status::ok();
}

class HttpPerfClient final : public PerfClient {
 public:
  explicit HttpPerfClient(PerfTarget t) : t_(std::move(t)) {
    base_ = "/v2/models/" + t_.model + (t_.version.empty() ? "" : "/versions/" + t_.version);
  }
  ~HttpPerfClient() override { close_socket(); }

  Expected<std::vector<PerfInput>> model_inputs() override {
    FERRY_ASSIGN_OR_RETURN(HttpResponse r, request("GET", base_, "", ""));
    if (r.status != 200) return not_found("model metadata " + base_ + ": HTTP " + std::to_string(r.status) + " " + r.body);
    nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !j.contains("inputs") || !j["inputs"].is_array())
      return invalid_argument("model metadata " + base_ + ": not a KServe metadata object");
    std::vector<PerfInput> out;
    for (const auto& in : j["inputs"]) {
      PerfInput p;
      p.name = in.value("name", "");
      p.datatype = in.value("datatype", "");
      if (in.contains("shape") && in["shape"].is_array())
        for (const auto& d : in["shape"]) p.shape.push_back(d.is_number_integer() ? d.get<int64_t>() : -1);
      out.push_back(std::move(p));
    }
    return out;
  }

  Status set_inputs(const std::vector<PerfInput>& inputs) override {
    nlohmann::json header;
    header["inputs"] = nlohmann::json::array();
    std::string binary;
    for (const PerfInput& in : inputs) {
      nlohmann::json ji = {{"name", in.name}, {"shape", in.shape}, {"datatype", in.datatype}};
      if (t_.http_json) {
        ji["data"] = nlohmann::json::array();
        FERRY_RETURN_IF_ERROR(append_json_data(in, &ji["data"]));
      } else {
        ji["parameters"] = {{"binary_data_size", in.data.size()}};
        binary += in.data;
      }
      header["inputs"].push_back(std::move(ji));
    }
    if (!t_.http_json) header["parameters"] = {{"binary_data_output", true}};
    std::string h = header.dump();
    body_ = h + binary;
    extra_headers_ = "Content-Type: application/" + std::string(t_.http_json ? "json" : "octet-stream") + "\r\n";
    if (!t_.http_json) extra_headers_ += "Inference-Header-Content-Length: " + std::to_string(h.size()) + "\r\n";
    return Status::ok();
  }

  Status infer() override {
    FERRY_ASSIGN_OR_RETURN(HttpResponse r, request("POST", base_ + "/infer", body_, extra_headers_));
    if (r.status != 200)
      return Status(r.status == 503 ? StatusCode::kInternal : StatusCode::kInvalidArgument,
                    "infer: HTTP " + std::to_string(r.status) + " " + r.body.substr(0, 300));
    return Status::ok();
  }

  Expected<ServerStats> stats() override {
    FERRY_ASSIGN_OR_RETURN(HttpResponse r, request("GET", base_ + "/stats", "", ""));
    if (r.status != 200) return not_found("statistics " + base_ + "/stats: HTTP " + std::to_string(r.status));
    return parse_stats_json(r.body, t_.model);
  }

 private:
  void close_socket() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buf_.clear();
  }

  Status connect_socket() {
    close_socket();
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    std::string port = std::to_string(t_.port);
    if (getaddrinfo(t_.host.c_str(), port.c_str(), &hints, &res) != 0 || !res)
      return not_found("cannot resolve " + t_.host);
    Status st = not_found("cannot connect to " + t_.host + ":" + port);
    for (addrinfo* a = res; a; a = a->ai_next) {
      int fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
      if (fd < 0) continue;
      timeval tv{t_.timeout_ms / 1000, (t_.timeout_ms % 1000) * 1000};
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
        fd_ = fd;
        st = Status::ok();
        break;
      }
      ::close(fd);
    }
    freeaddrinfo(res);
    return st;
  }

  // Sends head then body with sendmsg (no copy of the body into one request string).
  bool send_all(const std::string& head, const std::string& body) {
    size_t off = 0, total = head.size() + body.size();
    while (off < total) {
      iovec iov[2];
      int n_iov = 0;
      if (off < head.size()) iov[n_iov++] = {const_cast<char*>(head.data() + off), head.size() - off};
      size_t boff = off > head.size() ? off - head.size() : 0;
      if (boff < body.size()) iov[n_iov++] = {const_cast<char*>(body.data() + boff), body.size() - boff};
      msghdr m{};
      m.msg_iov = iov;
      m.msg_iovlen = static_cast<size_t>(n_iov);
      ssize_t n = ::sendmsg(fd_, &m, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads until buf_ holds at least `n` bytes. False on EOF/timeout/error.
  bool fill(size_t n) {
    char tmp[65536];
    while (buf_.size() < n) {
      ssize_t r = ::recv(fd_, tmp, sizeof tmp, 0);
      if (r <= 0) return false;
      buf_.append(tmp, static_cast<size_t>(r));
    }
    return true;
  }

  // Reads until `delim` is in buf_ (bounded by `limit` bytes); returns its position or npos.
  size_t fill_until(const char* delim, size_t limit) {
    char tmp[65536];
    for (;;) {
      size_t p = buf_.find(delim);
      if (p != std::string::npos) return p;
      if (buf_.size() > limit) return std::string::npos;
      ssize_t r = ::recv(fd_, tmp, sizeof tmp, 0);
      if (r <= 0) return std::string::npos;
      buf_.append(tmp, static_cast<size_t>(r));
    }
  }

  Expected<HttpResponse> read_response() {
    size_t hend = fill_until("\r\n\r\n", 1 << 20);
    if (hend == std::string::npos) return internal_error("connection closed before a response header");
    std::string head = buf_.substr(0, hend);
    buf_.erase(0, hend + 4);
    HttpResponse r;
    if (head.size() < 12 || head.compare(0, 5, "HTTP/") != 0) return internal_error("malformed HTTP status line");
    r.status = std::atoi(head.c_str() + 9);
    // Header names matched whole (Inference-Header-Content-Length must not pass for Content-Length).
    std::string content_length, transfer_encoding, connection;
    for (size_t p = head.find("\r\n"); p != std::string::npos;) {
      size_t e = head.find("\r\n", p + 2);
      std::string line = head.substr(p + 2, e == std::string::npos ? std::string::npos : e - p - 2);
      p = e;
      size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon), value = line.substr(colon + 1);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      for (char& c : value) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (name == "content-length") content_length = value;
      else if (name == "transfer-encoding") transfer_encoding = value;
      else if (name == "connection") connection = value;
    }
    keep_alive_ = connection.find("close") == std::string::npos;
    if (!content_length.empty()) {
      size_t n = std::strtoull(content_length.c_str(), nullptr, 10);
      if (n > (size_t{1} << 32)) return internal_error("response Content-Length too large");
      if (!fill(n)) return internal_error("connection closed in a response body");
      r.body = buf_.substr(0, n);
      buf_.erase(0, n);
    } else if (transfer_encoding.find("chunked") != std::string::npos) {
      for (int guard = 0; guard < 1000000; ++guard) {
        size_t e = fill_until("\r\n", 1 << 20);
        if (e == std::string::npos) return internal_error("malformed chunked body");
        size_t n = std::strtoull(buf_.c_str(), nullptr, 16);
        buf_.erase(0, e + 2);
        if (!fill(n + 2)) return internal_error("connection closed in a chunk");
        r.body.append(buf_, 0, n);
        buf_.erase(0, n + 2);
        if (n == 0) break;
      }
    } else {
      keep_alive_ = false;  // body runs to EOF
      while (fill(buf_.size() + 1)) {}
      r.body = std::move(buf_);
      buf_.clear();
    }
    return r;
  }

  Expected<HttpResponse> request(const char* method, const std::string& path, const std::string& body,
                                 const std::string& headers) {
    std::string& req = head_;  // reused: no allocation per request once it has grown
    req.clear();
    req.append(method).append(" ").append(path).append(" HTTP/1.1\r\nHost: ").append(t_.host).append("\r\n");
    req.append(headers).append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n");
    // A keep-alive connection the server closed fails on first use: reconnect once.
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (fd_ < 0) FERRY_RETURN_IF_ERROR(connect_socket());
      if (send_all(req, body)) {
        Expected<HttpResponse> r = read_response();
        if (r) {
          if (!keep_alive_) close_socket();
          return r;
        }
        if (attempt == 1) return r.status();
      }
      close_socket();
    }
    return internal_error("HTTP " + std::string(method) + " " + path + ": connection failed");
  }

  PerfTarget t_;
  std::string base_, body_, extra_headers_, buf_, head_;
  int fd_ = -1;
  bool keep_alive_ = true;
};

}  // namespace

Expected<std::unique_ptr<PerfClient>> make_http_perf_client(const PerfTarget& target) {
  return std::unique_ptr<PerfClient>(new HttpPerfClient(target));
}

}  // namespace ferry::cli
