// One HTTP/1.1 connection of a Listener (include/offsync/listener.h): reads requests with Beast,
// runs store-bound ones on the handler pool, writes the answers, keeps the connection alive or
// closes it. Internal to transport/listener.cc; templated on the socket's protocol (TCP or Unix).
#pragma once

#include <utility>  // before any Boost header (docs/architecture.md, "Known pitfalls")

#include <sys/socket.h>

#include <cerrno>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "engine/common/error_body.h"
#include "offsync/listener.h"
#include "transport/handler_pool.h"

namespace offsync::http_session {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;


// What every connection can be asked by the listener: close now if nothing is being answered.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void shut_if_idle() = 0;
};

// What sessions share: the server, the limits, the handler pool, and what stop() and the idle exit
// need to know.
struct Hub {
  RequestHandler handler;
  // A Server's handle_async (held long polls take no handler thread; `gone` is set when the client
  // hangs up while its request is held), and its release_waiting().
  std::function<void(const HttpRequest&, std::function<void(HttpResponse)>, std::shared_ptr<const std::atomic<bool>>)>
      async_handler;
  std::function<void()> release_waiting;
  bool health_inline;  // /v1/health and /metrics never touch the store (a Server's): answered inline
  ListenerOptions options;
  HandlerPool& pool;
  std::mutex mu;
  std::set<std::weak_ptr<SessionBase>, std::owner_less<std::weak_ptr<SessionBase>>> sessions;  // GUARDED_BY(mu)
  bool stopping = false;                                                                       // GUARDED_BY(mu)
  int open_connections = 0;                                                                    // GUARDED_BY(mu)
  int64_t idle_since_ms = 0;                                                                   // GUARDED_BY(mu)

  // What the idle exit measures with: the options' clock (a test's virtual one), else monotonic.
  int64_t now_ms() const {
    if (options.clock) return options.clock->now_ms();
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
  }

  void log(LogLevel level, const std::string& message) const {
    if (!options.log) return;
    try {
      options.log(level, "listener", message);
    } catch (...) {
      // A sink that throws loses its message.
    }
  }
};

inline HttpRequest to_request(const http::request<http::string_body>& req) {
  HttpRequest out;
  out.method = std::string(req.method_string());
  out.target = std::string(req.target());
  for (const auto& field : req) out.headers.add(std::string(field.name_string()), std::string(field.value()));
  out.body = req.body();
  return out;
}

inline http::response<http::string_body> to_response(const HttpResponse& r, unsigned version, bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  for (const auto& [name, value] : r.headers.fields()) res.set(name, value);
  res.set(http::field::server, "offsync");
  res.body() = r.body;
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}


inline std::optional<PeerCredentials> peer_of(int fd) {
  ucred cred{};
  socklen_t size = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &size) != 0) return std::nullopt;
  return PeerCredentials{cred.pid, cred.uid, cred.gid};
}

template <typename Protocol>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Protocol>> {
 public:
  using Socket = typename Protocol::socket;

  Session(Socket socket, Hub& hub) : stream_(std::move(socket)), hub_(hub) {
    std::lock_guard<std::mutex> lock(hub_.mu);
    ++hub_.open_connections;
  }
  ~Session() override {
    std::lock_guard<std::mutex> lock(hub_.mu);
    if (--hub_.open_connections == 0) hub_.idle_since_ms = hub_.now_ms();
  }

  // `refusal`: the answer to the first request, after which the connection closes (a peer the
  // policy did not admit). The request is read first: closing on unread bytes would reset the
  // connection before the client could read the refusal.
  void start(std::optional<HttpResponse> refusal) {
    refusal_ = std::move(refusal);
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] { self->read(); });
  }

  void shut_if_idle() override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] {
      if (!self->busy_) self->close();
    });
  }

 private:
  void read() {
    {
      std::lock_guard<std::mutex> lock(hub_.mu);
      if (hub_.stopping) return close();
    }
    parser_.emplace();
    parser_->body_limit(hub_.options.max_body_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(hub_.options.max_header_bytes));
    stream_.expires_after(std::chrono::seconds(hub_.options.idle_timeout_s));
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  // The head is in (and its Content-Length within the limit): a client that waits for
  // "100 Continue" before sending a large body (curl does past 1 MiB) is told to go on at once.
  void on_header(beast::error_code ec) {
    if (ec || parser_->is_done()) return on_read(ec);
    auto read_body = [self = this->shared_from_this()] {
      http::async_read(self->stream_, self->buffer_, *self->parser_,
                       [self](beast::error_code e, size_t) { self->on_read(e); });
    };
    auto expect = parser_->get()[http::field::expect];
    if (!beast::iequals(expect, "100-continue") || refusal_) return read_body();
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                      [self = this->shared_from_this(), read_body](beast::error_code e, size_t) {
                        if (e) return self->close();
                        read_body();
                      });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted || ec == beast::error::timeout) {
      return close();
    }
    if (ec == http::error::body_limit) {
      return reply(error_response(413, "body_too_large",
                                  "the body is over " + std::to_string(hub_.options.max_body_bytes) + " bytes"),
                   11, false);
    }
    if (ec == http::error::header_limit) {
      return reply(error_response(431, "headers_too_large", "the request head is too large"), 11, false);
    }
    if (ec) {
      if (buffer_.size() == 0 && !parser_->got_some()) return close();
      return reply(error_response(400, "bad_request", "malformed HTTP request: " + ec.message()), 11, false);
    }
    busy_ = true;
    auto req = parser_->release();
    if (refusal_) return reply(*refusal_, req.version(), false);
    HttpRequest request = to_request(req);
    unsigned version = req.version();
    bool keep_alive = req.keep_alive();
    std::string path = request.path();
    if (hub_.health_inline && (path == "/v1/health" || path == "/metrics")) {
      // Answered on this thread: they never touch the store, so a locked store cannot hold them.
      return answered(hub_.handler(request), version, keep_alive);
    }
    // Store work runs on the handler pool; the answer comes back to this connection's strand. The
    // work guard keeps run() going until it has.
    auto guard = std::make_shared<asio::executor_work_guard<asio::any_io_executor>>(stream_.get_executor());
    std::shared_ptr<std::atomic<bool>> gone;
    if (hub_.async_handler && request.target.find("wait=") != std::string::npos) {
      // A long poll may be held for up to a minute: watch for the client hanging up meanwhile.
      gone = std::make_shared<std::atomic<bool>>(false);
      holding_ = gone;
      watch_hang_up(gone);
    }
    auto job = [self = this->shared_from_this(), request = std::move(request), version, keep_alive, guard, gone] {
      auto deliver = [self, version, keep_alive, guard](HttpResponse answer) {
        asio::post(self->stream_.get_executor(), [self, answer = std::move(answer), version, keep_alive, guard] {
          self->answered(answer, version, keep_alive);
        });
      };
      if (self->hub_.async_handler) {
        // A long poll is held by the server, on no thread, and delivered when it is answered.
        self->hub_.async_handler(request, std::move(deliver), gone);
      } else {
        deliver(self->hub_.handler(request));
      }
    };
    if (!hub_.pool.try_submit(std::move(job))) {
      HttpResponse busy = error_response(503, "overloaded", "too many requests are waiting for the store; retry shortly");
      busy.headers.set("Retry-After", "1");
      answered(busy, version, keep_alive);
    }
  }

  // While a request is held, the socket is watched: readable with nothing to read is the client's
  // end of stream (or a reset), and the server drops the held request. Bytes (a pipelined request)
  // stop the watch; they are read after the answer, as before.
  void watch_hang_up(const std::shared_ptr<std::atomic<bool>>& gone) {
    stream_.socket().async_wait(Socket::wait_read, [self = this->shared_from_this(), gone](beast::error_code ec) {
      if (ec || self->holding_ != gone) return;  // answered meanwhile (the wait was cancelled)
      char byte;
      ssize_t n = ::recv(self->stream_.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        gone->store(true);
      } else if (n < 0) {
        self->watch_hang_up(gone);  // woken for nothing
      }
    });
  }

  void answered(const HttpResponse& answer, unsigned version, bool keep_alive) {
    if (holding_) {
      holding_.reset();
      beast::error_code ignored;
      stream_.socket().cancel(ignored);  // ends the hang-up watch
      if (answer.status == 499) return close();  // the client is gone: nobody to answer
    }
    {
      std::lock_guard<std::mutex> lock(hub_.mu);
      keep_alive = keep_alive && !hub_.stopping;
    }
    reply(answer, version, keep_alive);
  }

  void reply(const HttpResponse& answer, unsigned version, bool keep_alive) {
    busy_ = true;
    response_ = std::make_shared<http::response<http::string_body>>(to_response(answer, version, keep_alive));
    http::async_write(stream_, *response_,
                      [self = this->shared_from_this(), keep_alive](beast::error_code ec, size_t) {
                        self->busy_ = false;
                        self->response_.reset();
                        if (ec || !keep_alive) return self->close();
                        self->read();
                      });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(Socket::shutdown_send, ignored);
    stream_.socket().close(ignored);
  }

  beast::basic_stream<Protocol> stream_;
  Hub& hub_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<http::response<http::string_body>> response_;
  bool busy_ = false;  // only touched on the session's strand
  std::shared_ptr<std::atomic<bool>> holding_;  // a held request's hang-up flag (strand only)
  std::optional<HttpResponse> refusal_;
};

}  // namespace offsync::http_session
