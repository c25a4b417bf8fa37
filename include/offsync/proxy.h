// offsync/proxy.h — the embedded localhost proxy: an app whose HTTP code speaks only TCP uses
// http://127.0.0.1:PORT, and the proxy forwards each request to an IPC service (offsync/ipc.h),
// starting the provider on demand as the IPC transport does.
//
// Any local process can reach a loopback port, so the proxy listens on loopback only and answers
// 401 to a request without its per-launch secret: `Authorization: Bearer <secret>` (then removed, so
// the provider sees no Authorization), or `Offsync-Proxy-Secret: <secret>` (removed; an
// Authorization header then passes through to the provider, e.g. the app's own bearer token).
//
// Thread safety: run() blocks its caller; stop() may be called from any thread.
//
// Ownership: start() returns the caller's proxy; stop() it and let run() return before destroying it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "offsync/listener.h"
#include "offsync/status.h"

namespace offsync {

struct ProxyOptions {
  std::string ipc_service;          // where requests go (unix:/path or a registered name)
  std::string services_dir;         // empty: default_services_dir()
  std::string host = "127.0.0.1";   // a loopback address: anything else is refused
  uint16_t port = 0;                // 0: any free port (see LocalProxy::url())
  std::string secret;               // empty: 32 random bytes, hex
  ListenerOptions listener;         // limits and threads (the proxy's own)
};

class LocalProxy {
 public:
  static Result<std::unique_ptr<LocalProxy>> start(ProxyOptions options);
  ~LocalProxy();
  LocalProxy(const LocalProxy&) = delete;
  LocalProxy& operator=(const LocalProxy&) = delete;

  std::string url() const;             // http://127.0.0.1:PORT
  const std::string& secret() const;   // what requests must carry
  void run();
  void stop();

  struct Impl;

 private:
  explicit LocalProxy(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace offsync
