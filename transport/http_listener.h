// HTTP/1.1 listeners (Boost.Beast) that serve a Server: each request's bytes become an HttpRequest
// for Server::handle, its HttpResponse becomes bytes again. Keep-alive, many concurrent
// connections, request size limits, and a clean stop: stop() closes the listening socket and idle
// connections at once, lets every request already being handled finish and be answered, then run()
// returns.
//
// Thread safety: run() blocks its caller and serves from `threads` threads; stop() may be called
// from any thread, also from a signal handler installed with asio (not from a raw signal handler).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "offsync/server.h"
#include "offsync/status.h"

namespace offsync {

struct ListenerOptions {
  size_t max_body_bytes = 8 << 20;     // larger request bodies are answered 413 and the connection closed
  size_t max_header_bytes = 16 << 10;  // larger request heads are answered 431
  int idle_timeout_s = 60;             // a connection silent this long is closed
  int threads = 2;                     // network threads (accept, read, write; never wait on the store)
  int handler_threads = 4;             // threads that run Server::handle for store-bound requests
  size_t max_queued_requests = 256;    // store-bound requests waiting for a handler; more get 503
};

class HttpListener {
 public:
  // Listens on host:port (port 0: an ephemeral port, see port()). The Server must outlive the listener.
  static Result<std::unique_ptr<HttpListener>> listen_tcp(Server& server, const std::string& host, uint16_t port,
                                                          ListenerOptions options = {});
  ~HttpListener();

  uint16_t port() const;
  void run();
  void stop();

  struct Impl;

 private:
  explicit HttpListener(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace offsync
