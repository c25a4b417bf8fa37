// offsync/transport.h — how the client's bytes reach a server: the engine only ever calls
// Transport::send; libcurl over the network, an in-process server, or an IPC shim sit behind it.
//
// Thread safety: a client's calls to send() never overlap, but they may come from different threads:
// the sync worker carries each batch on a helper thread while it records the previous one's
// answers. Implementations need not be safe for concurrent calls unless they say so.
#pragma once

#include <memory>
#include <string>

#include "offsync/http.h"
#include "offsync/server.h"
#include "offsync/status.h"

namespace offsync {

class Transport {
 public:
  virtual ~Transport() = default;
  // Sends one request and returns the server's answer, whatever its status. A request that got no
  // answer (refused, reset, timed out) is a kTransient Status; the request may or may not have
  // reached the server, so the caller retries it with the same idempotency key.
  // request.target is a path ("/v1/sync?...") resolved against the transport's base URL, or an
  // absolute http(s) URL (generic REST requests to another API).
  virtual Result<HttpResponse> send(const HttpRequest& request) = 0;

  // A second transport to the same server with its own connection, for the long poll that waits
  // for other devices' changes (SyncOptions::watch_wait_s) while this one pushes. nullptr when the
  // transport cannot make one (the client then pulls only when it syncs; SyncOptions::watch_transport
  // supplies one).
  virtual std::unique_ptr<Transport> open_another() { return nullptr; }
  // Makes a send() in progress on another thread, and any later one, end soon with kTransient (a
  // client closing while its long poll waits). Safe to call from any thread. Default: nothing
  // (the send ends by itself).
  virtual void cancel() {}
};

struct CurlTransportOptions {
  std::string base_url;              // e.g. "https://api.example.org" (no trailing path needed)
  std::string unix_socket;           // non-empty: connect to this Unix socket instead of TCP
  long connect_timeout_ms = 10'000;  // giving up on connecting is a transient failure
  long total_timeout_ms = 60'000;    // the whole exchange; past it, the outcome is unknown
  bool verify_tls = true;            // certificate and host name checks; off only for tests
  std::string ca_file;               // extra CA bundle; empty: the system's
};

// A libcurl transport with one connection kept alive between calls.
Result<std::unique_ptr<Transport>> make_curl_transport(const CurlTransportOptions& options);

// Calls server.handle() in this process, with no bytes in between: for tests, the simulation and
// an app that embeds both halves. The server must outlive the transport.
std::unique_ptr<Transport> make_in_process_transport(Server& server);

}  // namespace offsync
