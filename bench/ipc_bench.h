#pragma once

#include <nlohmann/json.hpp>

namespace offsync::bench {

struct IpcConfig {
  int requests = 5000;  // round trips per side per round
  int rounds = 3;       // the best round of each side is kept
};

// A small request's round trip (GET /v1/health with keep-alive, libcurl) over a Unix socket against
// the same over TCP loopback, and against a raw Unix socket ping-pong of the same size (the limit),
// all in one run against one Server.
nlohmann::json run_ipc(const IpcConfig& config);

}  // namespace offsync::bench
