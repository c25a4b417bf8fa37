#include <utility>  // before any Boost header (docs/architecture.md, "Known pitfalls")

#include "offsync/listener.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "transport/handler_pool.h"
#include "transport/http_session.h"

namespace offsync {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using local = asio::local::stream_protocol;

using http_session::Hub;
using http_session::Session;
using http_session::SessionBase;
using http_session::peer_of;

struct Listener::Impl {
  asio::io_context ioc;
  tcp::acceptor tcp_acceptor{ioc};
  local::acceptor unix_acceptor{ioc};
  bool is_unix = false;
  std::string unix_path;     // set when this listener created the socket file (removed at the end)
  ino_t unix_inode = 0;
  std::string unix_display;  // the socket's absolute path, for address()
  uint16_t port = 0;
  asio::steady_timer idle_timer{ioc};
  Hub hub;
  // Declared last, destroyed first: its jobs use the hub and post their answers to the io_context.
  HandlerPool pool;

  Impl(RequestHandler handler, bool health_inline, ListenerOptions options)
      : hub{std::move(handler), {}, {}, health_inline, options, pool, {}, {}, false, 0, 0},
        pool(options.handler_threads, options.max_queued_requests) {
    hub.idle_since_ms = hub.now_ms();
  }

  ~Impl() {
    if (unix_path.empty()) return;
    // Removed only if it is still the file this listener made (another server may have replaced it).
    struct stat st {};
    if (lstat(unix_path.c_str(), &st) == 0 && st.st_ino == unix_inode) unlink(unix_path.c_str());
  }

  template <typename Protocol>
  void register_session(const std::shared_ptr<Session<Protocol>>& session) {
    std::lock_guard<std::mutex> lock(hub.mu);
    std::erase_if(hub.sessions, [](const auto& w) { return w.expired(); });
    hub.sessions.insert(session);
  }

  void accept_tcp() {
    tcp_acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
      if (ec) {
        if (ec == asio::error::operation_aborted || !tcp_acceptor.is_open()) return;
        hub.log(LogLevel::kWarning, "accept failed: " + ec.message());
        return accept_tcp();  // e.g. too many open files: keep serving the connections we have
      }
      // Answers go out as soon as they are written: with Nagle's algorithm the tail of a large
      // answer waits for the client's delayed ACK.
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      auto session = std::make_shared<Session<tcp>>(std::move(socket), hub);
      register_session(session);
      session->start(std::nullopt);
      accept_tcp();
    });
  }

  void accept_unix() {
    unix_acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, local::socket socket) {
      if (ec) {
        if (ec == asio::error::operation_aborted || !unix_acceptor.is_open()) return;
        hub.log(LogLevel::kWarning, "accept failed: " + ec.message());
        return accept_unix();
      }
      std::optional<HttpResponse> refusal;
      auto peer = peer_of(socket.native_handle());
      bool admitted = peer && (hub.options.admit_peer ? hub.options.admit_peer(*peer) : peer->uid == getuid());
      if (!admitted) {
        std::string who = peer ? "pid " + std::to_string(peer->pid) + ", uid " + std::to_string(peer->uid)
                               : std::string("a peer whose credentials could not be read");
        hub.log(LogLevel::kWarning, "refused " + who + " on " + address());
        refusal = error_response(403, "forbidden", "this service does not admit your process (" + who + ")");
      }
      auto session = std::make_shared<Session<local>>(std::move(socket), hub);
      register_session(session);
      session->start(std::move(refusal));
      accept_unix();
    });
  }

  void accept() { is_unix ? accept_unix() : accept_tcp(); }

  // Stops the listener once no connection has been open for options.idle_exit_ms.
  void watch_idle() {
    int64_t idle_ms = hub.options.idle_exit_ms;
    if (idle_ms <= 0) return;
    auto period = std::chrono::milliseconds(std::clamp<int64_t>(idle_ms / 4, 5, 1000));
    idle_timer.expires_after(period);
    idle_timer.async_wait([this, idle_ms](beast::error_code ec) {
      if (ec) return;
      bool idle;
      {
        std::lock_guard<std::mutex> lock(hub.mu);
        idle = hub.open_connections == 0 && hub.now_ms() - hub.idle_since_ms >= idle_ms;
      }
      if (idle && hub.options.busy && hub.options.busy()) idle = false;
      if (idle) {
        hub.log(LogLevel::kInfo, "no connection for " + std::to_string(idle_ms) + " ms: stopping");
        return stop();
      }
      watch_idle();
    });
  }

  std::string address() const {
    if (is_unix) return "unix:" + (unix_display.empty() ? unix_acceptor.local_endpoint().path() : unix_display);
    auto endpoint = tcp_acceptor.local_endpoint();
    std::string host = endpoint.address().to_string();
    if (endpoint.address().is_v6()) host = "[" + host + "]";
    return "http://" + host + ":" + std::to_string(endpoint.port());
  }

  // On the io_context: close the acceptor and idle connections; busy ones close after answering.
  void stop() {
    beast::error_code ignored;
    tcp_acceptor.close(ignored);
    unix_acceptor.close(ignored);
    idle_timer.cancel();
    std::vector<std::shared_ptr<SessionBase>> live;
    {
      std::lock_guard<std::mutex> lock(hub.mu);
      hub.stopping = true;
      for (const auto& w : hub.sessions) {
        if (auto s = w.lock()) live.push_back(std::move(s));
      }
    }
    for (auto& s : live) s->shut_if_idle();
    // Held long polls are answered now (their connections then close).
    if (hub.release_waiting) hub.release_waiting();
  }
};

namespace {

Status listen_failed(const std::string& what, const beast::error_code& ec) {
  return Status::invalid_argument("cannot listen on " + what + ": " + ec.message());
}

// A socket file at `path`: none, a stale one (nothing listens: removed), or an error.
Status clear_stale_socket(const std::string& path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return Status::ok();
  if (!S_ISSOCK(st.st_mode)) return Status::invalid_argument(path + " exists and is not a socket: not replacing it");
  asio::io_context probe_context;
  local::socket probe(probe_context);
  beast::error_code ec;
  probe.connect(local::endpoint(path), ec);
  if (!ec) return Status::invalid_argument("another server is listening on " + path);
  if (unlink(path.c_str()) != 0) {
    return Status::invalid_argument("cannot remove the stale socket " + path + ": " + std::strerror(errno));
  }
  return Status::ok();
}

}  // namespace

Listener::Listener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Listener::~Listener() = default;

namespace {

RequestHandler handler_of(Server& server) {
  return [&server](const HttpRequest& request) { return server.handle(request); };
}

// A listener in front of a Server: long polls held without a thread, released on stop().
std::unique_ptr<Listener::Impl> server_impl(Server& server, ListenerOptions options) {
  auto impl = std::make_unique<Listener::Impl>(handler_of(server), true, std::move(options));
  impl->hub.async_handler = [&server](const HttpRequest& request, std::function<void(HttpResponse)> done,
                                      std::shared_ptr<const std::atomic<bool>> gone) {
    server.handle_async(request, std::move(done), std::move(gone));
  };
  impl->hub.release_waiting = [&server] { server.release_waiting(); };
  return impl;
}

}  // namespace

Result<std::unique_ptr<Listener>> Listener::listen_tcp(Server& server, const std::string& host, uint16_t port,
                                                       ListenerOptions options) {
  return listen_tcp_with(server_impl(server, std::move(options)), host, port);
}

Result<std::unique_ptr<Listener>> Listener::listen_tcp(RequestHandler handler, const std::string& host, uint16_t port,
                                                       ListenerOptions options) {
  return listen_tcp_with(std::make_unique<Impl>(std::move(handler), false, std::move(options)), host, port);
}

Result<std::unique_ptr<Listener>> Listener::listen_tcp_with(std::unique_ptr<Impl> impl, const std::string& host,
                                                            uint16_t port) {
  beast::error_code ec;
  auto address = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec) return Status::invalid_argument("cannot listen on '" + host + "': not an IP address");
  tcp::endpoint endpoint(address, port);
  auto& a = impl->tcp_acceptor;
  a.open(endpoint.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(endpoint, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return listen_failed(host + ":" + std::to_string(port), ec);
  impl->port = a.local_endpoint().port();
  impl->accept();
  impl->watch_idle();
  return std::unique_ptr<Listener>(new Listener(std::move(impl)));
}

Result<std::unique_ptr<Listener>> Listener::listen_unix(Server& server, const std::string& path, ListenerOptions options) {
  return listen_unix_with(server_impl(server, std::move(options)), path);
}

Result<std::unique_ptr<Listener>> Listener::listen_unix(RequestHandler handler, const std::string& path,
                                                        ListenerOptions options) {
  return listen_unix_with(std::make_unique<Impl>(std::move(handler), false, std::move(options)), path);
}

Result<std::unique_ptr<Listener>> Listener::listen_unix_with(std::unique_ptr<Impl> impl, const std::string& path) {
  if (path.empty() || path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return Status::invalid_argument("a Unix socket path must be 1 to " + std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) +
                                    " bytes (got " + std::to_string(path.size()) + ")");
  }
  if (Status s = clear_stale_socket(path); !s) return s;
  impl->is_unix = true;
  beast::error_code ec;
  auto& a = impl->unix_acceptor;
  a.open(local(), ec);
  if (!ec) a.bind(local::endpoint(path), ec);
  if (ec) return listen_failed(path, ec);
  struct stat st {};
  if (chmod(path.c_str(), impl->hub.options.socket_mode) != 0 || lstat(path.c_str(), &st) != 0) {
    std::string why = std::strerror(errno);
    unlink(path.c_str());
    return Status::invalid_argument("cannot set the mode of " + path + ": " + why);
  }
  impl->unix_path = path;
  impl->unix_inode = st.st_ino;
  std::error_code absolute_ec;
  impl->unix_display = std::filesystem::absolute(path, absolute_ec).string();
  if (absolute_ec) impl->unix_display = path;
  a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return listen_failed(path, ec);
  impl->accept();
  impl->watch_idle();
  return std::unique_ptr<Listener>(new Listener(std::move(impl)));
}

Result<std::unique_ptr<Listener>> Listener::listen_inherited(Server& server, ListenerOptions options) {
  const char* fds = std::getenv("LISTEN_FDS");
  const char* pid = std::getenv("LISTEN_PID");
  if (!fds || std::atoi(fds) < 1) {
    return Status::invalid_argument("no socket was inherited (LISTEN_FDS is not set): give --listen or --unix");
  }
  if (pid && std::atoll(pid) != static_cast<long long>(getpid())) {
    return Status::invalid_argument("the inherited socket is for process " + std::string(pid) + ", not this one");
  }
  constexpr int kFirstFd = 3;  // SD_LISTEN_FDS_START
  // The protocol is for this process only: children must not take the socket for theirs.
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDNAMES");
  sockaddr_storage addr{};
  socklen_t size = sizeof addr;
  int listening = 0;
  socklen_t listening_size = sizeof listening;
  if (getsockname(kFirstFd, reinterpret_cast<sockaddr*>(&addr), &size) != 0 ||
      getsockopt(kFirstFd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &listening_size) != 0 || !listening) {
    return Status::invalid_argument("the inherited fd 3 is not a listening socket");
  }
  fcntl(kFirstFd, F_SETFD, FD_CLOEXEC);
  auto impl = server_impl(server, std::move(options));
  beast::error_code ec;
  if (addr.ss_family == AF_UNIX) {
    impl->is_unix = true;
    impl->unix_acceptor.assign(local(), kFirstFd, ec);
  } else if (addr.ss_family == AF_INET || addr.ss_family == AF_INET6) {
    impl->tcp_acceptor.assign(addr.ss_family == AF_INET ? tcp::v4() : tcp::v6(), kFirstFd, ec);
    if (!ec) impl->port = impl->tcp_acceptor.local_endpoint().port();
  } else {
    return Status::invalid_argument("the inherited socket is neither TCP nor a Unix socket");
  }
  if (ec) return listen_failed("the inherited socket", ec);
  impl->accept();
  impl->watch_idle();
  return std::unique_ptr<Listener>(new Listener(std::move(impl)));
}

std::string Listener::address() const { return impl_->address(); }

uint16_t Listener::port() const { return impl_->port; }

void Listener::run() {
  int extra = std::max(0, impl_->hub.options.threads - 1);
  std::vector<std::thread> threads;
  for (int i = 0; i < extra; ++i) threads.emplace_back([this] { impl_->ioc.run(); });
  impl_->ioc.run();
  for (auto& t : threads) t.join();
}

void Listener::stop() {
  asio::post(impl_->ioc, [impl = impl_.get()] { impl->stop(); });
}

}  // namespace offsync
