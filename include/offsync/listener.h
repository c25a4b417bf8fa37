// offsync/listener.h — serving a Server over HTTP/1.1: on TCP, on a Unix domain socket (local IPC),
// or on a listening socket inherited from systemd socket activation (LISTEN_FDS). Each request's
// bytes become an HttpRequest for Server::handle, its HttpResponse becomes bytes again: the same
// protocol, whatever carries it. This is what `offsync serve` runs and what an API-provider app
// embeds in its own process.
//
// Keep-alive, many concurrent connections, limits on request size, and a clean stop: stop() closes
// the listening socket and idle connections at once, lets every request already being handled
// finish and be answered, then run() returns. Store-bound requests run on a bounded pool of
// handler threads; /v1/health and /metrics never wait for the store.
//
// Thread safety: run() blocks its caller and serves from `threads` threads; stop() may be called
// from any thread (not from a raw signal handler). The Server must outlive the Listener.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "offsync/clock.h"
#include "offsync/limits.h"
#include "offsync/log.h"
#include "offsync/server.h"
#include "offsync/status.h"

namespace offsync {

// Who is at the other end of a Unix socket (SO_PEERCRED), as the kernel vouches for it.
struct PeerCredentials {
  int64_t pid = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
};

// Answers one request; called on a handler thread (it may block). Server::handle is one.
using RequestHandler = std::function<HttpResponse(const HttpRequest&)>;

// Admits a peer, or not (answered 403 and logged). Called on a network thread; must not block.
using PeerPolicy = std::function<bool(const PeerCredentials&)>;

struct ListenerOptions {
  // --- Limits ---
  size_t max_body_bytes = limits::kMaxBodyBytes;  // larger request bodies get 413 and the connection closes
  size_t max_header_bytes = 16 << 10;             // larger request heads get 431
  int idle_timeout_s = 60;                        // a connection silent this long is closed
  // --- Threads ---
  int threads = 2;                   // network threads (accept, read, write; never wait on the store)
  int handler_threads = 4;           // threads that run Server::handle for store-bound requests
  size_t max_queued_requests = 256;  // store-bound requests waiting for a handler; more get 503
  // --- Local IPC ---
  int64_t idle_exit_ms = 0;    // > 0: run() returns once no connection has been open this long
  const Clock* clock = nullptr;  // what measures that (null: a monotonic real clock); checked
                                 // every idle_exit_ms / 4 of real time, between 5 ms and 1 s
  std::function<bool()> busy;  // while it says true, the idle exit waits (a relay still forwarding);
                               // called on a network thread, must not block
  uint32_t socket_mode = 0600; // permissions of a Unix socket file this listener creates
  PeerPolicy admit_peer;       // Unix sockets only; null admits processes of this process's uid
  // --- Diagnostics ---
  LogSink log;                 // refused peers, accept failures (offsync/log.h)
};

class Listener {
 public:
  // Listens on host:port (an IP address; port 0: an ephemeral port, see port()).
  static Result<std::unique_ptr<Listener>> listen_tcp(Server& server, const std::string& host, uint16_t port,
                                                      ListenerOptions options = {});
  // The same for any handler (a proxy, an app's own API): every request runs on a handler thread.
  static Result<std::unique_ptr<Listener>> listen_tcp(RequestHandler handler, const std::string& host, uint16_t port,
                                                      ListenerOptions options = {});
  static Result<std::unique_ptr<Listener>> listen_unix(RequestHandler handler, const std::string& path,
                                                       ListenerOptions options = {});
  // Listens on a Unix domain socket at `path`, created with options.socket_mode. A socket file left
  // by a process that died is replaced; a path where something still listens, or that is not a
  // socket, is refused. The file is removed when the Listener is destroyed.
  static Result<std::unique_ptr<Listener>> listen_unix(Server& server, const std::string& path,
                                                       ListenerOptions options = {});
  // Serves the listening socket passed by systemd socket activation (LISTEN_PID is this process,
  // LISTEN_FDS >= 1: fd 3), TCP or Unix. Fails with a reason when there is none.
  static Result<std::unique_ptr<Listener>> listen_inherited(Server& server, ListenerOptions options = {});
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // "http://127.0.0.1:8080" for TCP, "unix:/path/to.sock" for a Unix socket.
  std::string address() const;
  uint16_t port() const;  // TCP: the port listened on; 0 otherwise
  void run();
  void stop();

  struct Impl;

 private:
  explicit Listener(std::unique_ptr<Impl> impl);
  static Result<std::unique_ptr<Listener>> listen_tcp_with(std::unique_ptr<Impl> impl, const std::string& host,
                                                           uint16_t port);
  static Result<std::unique_ptr<Listener>> listen_unix_with(std::unique_ptr<Impl> impl, const std::string& path);
  std::unique_ptr<Impl> impl_;
};

}  // namespace offsync
