// A server listening on TCP loopback from a thread of the benchmark's process.
#pragma once

#include <stdexcept>
#include <string>
#include <thread>

#include "offsync/listener.h"
#include "offsync/server.h"

namespace offsync::bench {

struct LiveServer {
  std::unique_ptr<Server> server;
  std::unique_ptr<Listener> listener;
  std::thread thread;
  std::string url;

  explicit LiveServer(const std::string& db) : LiveServer(ServerOptions{.db_path = db}) {}
  explicit LiveServer(ServerOptions options) {
    ListenerOptions listening;
    listening.max_body_bytes = options.max_body_bytes;
    auto s = Server::open(std::move(options));
    if (!s) throw std::runtime_error(s.status().to_string());
    server = std::move(*s);
    auto l = Listener::listen_tcp(*server, "127.0.0.1", 0, listening);
    if (!l) throw std::runtime_error(l.status().to_string());
    listener = std::move(*l);
    url = "http://127.0.0.1:" + std::to_string(listener->port());
    thread = std::thread([this] { listener->run(); });
  }
  ~LiveServer() {
    listener->stop();
    thread.join();
  }
  LiveServer(const LiveServer&) = delete;
  LiveServer& operator=(const LiveServer&) = delete;
};

}  // namespace offsync::bench
