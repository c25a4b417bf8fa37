#include <utility>  // before any Boost header (docs/architecture.md, "Known pitfalls")

#include "transport/http_listener.h"
#include "transport/handler_pool.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

namespace offsync {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

class Session;

// What sessions share: the server, the limits, and the registry used to stop.
struct Hub {
  Server& server;
  ListenerOptions options;
  HandlerPool& pool;
  std::mutex mu;
  std::set<std::weak_ptr<Session>, std::owner_less<std::weak_ptr<Session>>> sessions;  // GUARDED_BY(mu)
  bool stopping = false;                                                               // GUARDED_BY(mu)
};

HttpRequest to_request(const http::request<http::string_body>& req) {
  HttpRequest out;
  out.method = std::string(req.method_string());
  out.target = std::string(req.target());
  for (const auto& field : req) out.headers.add(std::string(field.name_string()), std::string(field.value()));
  out.body = req.body();
  return out;
}

http::response<http::string_body> to_response(const HttpResponse& r, unsigned version, bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  for (const auto& [name, value] : r.headers.fields()) res.set(name, value);
  res.set(http::field::server, "offsync");
  res.body() = r.body;
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

HttpResponse error_response(int status, const std::string& code, const std::string& message) {
  HttpResponse r;
  r.status = status;
  r.headers.set("Content-Type", "application/json");
  r.body = nlohmann::json{{"error", {{"code", code}, {"message", message}}}}.dump();
  return r;
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Hub& hub) : stream_(std::move(socket)), hub_(hub) {}

  void start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
  }

  // Called on stop: an idle connection closes now, a busy one after its answer is written.
  void shut_if_idle() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
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
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
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
    HttpRequest request = to_request(req);
    unsigned version = req.version();
    bool keep_alive = req.keep_alive();
    std::string path = request.path();
    if (path == "/v1/health" || path == "/metrics") {
      // Answered on this thread: they never touch the store, so a locked store cannot hold them.
      return answered(hub_.server.handle(request), version, keep_alive);
    }
    // Store work runs on the handler pool; the answer comes back to this connection's strand. The
    // work guard keeps run() going until it has.
    auto guard = std::make_shared<asio::executor_work_guard<asio::any_io_executor>>(stream_.get_executor());
    auto job = [self = shared_from_this(), request = std::move(request), version, keep_alive, guard] {
      HttpResponse answer = self->hub_.server.handle(request);
      asio::post(self->stream_.get_executor(), [self, answer = std::move(answer), version, keep_alive, guard] {
        self->answered(answer, version, keep_alive);
      });
    };
    if (!hub_.pool.try_submit(std::move(job))) {
      HttpResponse busy = error_response(503, "overloaded", "too many requests are waiting for the store; retry shortly");
      busy.headers.set("Retry-After", "1");
      answered(busy, version, keep_alive);
    }
  }

  void answered(const HttpResponse& answer, unsigned version, bool keep_alive) {
    {
      std::lock_guard<std::mutex> lock(hub_.mu);
      keep_alive = keep_alive && !hub_.stopping;
    }
    reply(answer, version, keep_alive);
  }

  void reply(const HttpResponse& answer, unsigned version, bool keep_alive) {
    busy_ = true;
    response_ = std::make_shared<http::response<http::string_body>>(to_response(answer, version, keep_alive));
    http::async_write(stream_, *response_, [self = shared_from_this(), keep_alive](beast::error_code ec, size_t) {
      self->busy_ = false;
      self->response_.reset();
      if (ec || !keep_alive) return self->close();
      self->read();
    });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  Hub& hub_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<http::response<http::string_body>> response_;
  bool busy_ = false;  // only touched on the session's strand
};

}  // namespace

struct HttpListener::Impl {
  asio::io_context ioc;
  tcp::acceptor acceptor;
  Hub hub;
  // Declared last, destroyed first: its jobs use the hub and post their answers to the io_context.
  HandlerPool pool;
  uint16_t port = 0;

  Impl(Server& server, ListenerOptions options)
      : acceptor(ioc),
        hub{server, options, pool, {}, {}, false},
        pool(options.handler_threads, options.max_queued_requests) {}

  void accept() {
    acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
        return accept();  // e.g. too many open files: keep serving the connections we have
      }
      // Answers go out as soon as they are written: with Nagle's algorithm the tail of a large
      // answer waits for the client's delayed ACK.
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      auto session = std::make_shared<Session>(std::move(socket), hub);
      {
        std::lock_guard<std::mutex> lock(hub.mu);
        std::erase_if(hub.sessions, [](const auto& w) { return w.expired(); });
        hub.sessions.insert(session);
      }
      session->start();
      accept();
    });
  }
};

HttpListener::HttpListener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpListener::~HttpListener() = default;

Result<std::unique_ptr<HttpListener>> HttpListener::listen_tcp(Server& server, const std::string& host, uint16_t port,
                                                               ListenerOptions options) {
  auto impl = std::make_unique<Impl>(server, options);
  beast::error_code ec;
  auto address = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec) return Status::invalid_argument("cannot listen on '" + host + "': not an IP address");
  tcp::endpoint endpoint(address, port);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::invalid_argument("cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message());
  }
  impl->port = impl->acceptor.local_endpoint().port();
  impl->accept();
  return std::unique_ptr<HttpListener>(new HttpListener(std::move(impl)));
}

uint16_t HttpListener::port() const { return impl_->port; }

void HttpListener::run() {
  int extra = std::max(0, impl_->hub.options.threads - 1);
  std::vector<std::thread> threads;
  for (int i = 0; i < extra; ++i) threads.emplace_back([this] { impl_->ioc.run(); });
  impl_->ioc.run();
  for (auto& t : threads) t.join();
}

void HttpListener::stop() {
  asio::post(impl_->ioc, [impl = impl_.get()] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
    std::vector<std::shared_ptr<Session>> live;
    {
      std::lock_guard<std::mutex> lock(impl->hub.mu);
      impl->hub.stopping = true;
      for (const auto& w : impl->hub.sessions) {
        if (auto s = w.lock()) live.push_back(std::move(s));
      }
    }
    for (auto& s : live) s->shut_if_idle();
  });
}

}  // namespace offsync
