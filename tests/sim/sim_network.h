// The simulation's network (issue 12): every client's requests go through it to the one server,
// synchronously and in one thread, so that a seed decides everything. It drops requests, drops
// answers after the server applied them, duplicates, delays (delivering later, after other
// requests: reordering), partitions, answers 5xx/429 and garbage; and it records, for the
// invariants, how many times the server applied each mutation.
#pragma once

#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "offsync/server.h"
#include "offsync/transport.h"

namespace offsync::sim {

// Bugs planted on purpose, to show that the invariants catch them (the real code has none).
enum class Plant {
  kNone,
  kNoIdempotency,     // the server sees a fresh key on every delivery: retries apply again
  kPhantomDeleteAck,  // a delete is answered "applied" but never reaches the server
  kSkippedChange,     // a sync page loses one of its changes on the way
};

class SimNetwork {
 public:
  SimNetwork(std::mt19937_64& rng, std::function<void(const std::string&)> trace, Plant plant)
      : rng_(rng), trace_(std::move(trace)), plant_(plant) {}
  void set_server(Server* server) { server_ = server; }

  Result<HttpResponse> send(int client, const HttpRequest& request);
  // Delivers up to n delayed requests (their answers go nowhere).
  void flush_delayed(size_t n);
  size_t delayed() const { return delayed_.size(); }

  bool faults = true;              // off: every request is delivered and answered (healing)
  std::set<int> partitioned;       // clients that reach nothing
  // Body "id" of each mutation the server applied (200, not a replay) -> how many times.
  std::map<std::string, int> applied;
  int64_t delivered = 0;

 private:
  HttpResponse deliver(const HttpRequest& request);
  void observe(const HttpRequest& request, const HttpResponse& response);
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  std::string fresh_key();

  std::mt19937_64& rng_;
  std::function<void(const std::string&)> trace_;
  Plant plant_;
  Server* server_ = nullptr;
  std::vector<HttpRequest> delayed_;
};

// One client's way to the network.
class SimTransport final : public Transport {
 public:
  SimTransport(SimNetwork& network, int client) : network_(network), client_(client) {}
  Result<HttpResponse> send(const HttpRequest& request) override { return network_.send(client_, request); }

 private:
  SimNetwork& network_;
  int client_;
};

}  // namespace offsync::sim
