// The simulation's network (issue 12): every request goes through it to its server (the cloud, or
// the relay on the device), synchronously and in one thread, so that a seed decides everything. It drops requests, drops
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
#include "sim/sim_api.h"
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
  // The server answering at `target` ("cloud", "relay"); null while it is down.
  void set_server(const std::string& target, Server* server) { servers_[target] = server; }

  // A request from `from` (a client's index; the relay's uplink is kRelayUplink) to `target`.
  Result<HttpResponse> send(int from, const std::string& target, const HttpRequest& request);
  // Delivers up to n delayed requests (their answers go nowhere).
  void flush_delayed(size_t n);
  size_t delayed() const { return delayed_.size(); }

  static constexpr int kRelayUplink = 1000;
  bool faults = true;              // off: every request is delivered and answered (healing)
  std::set<int> partitioned;       // senders that reach nothing
  // Per target: body "id" of each mutation it applied (200, not a replay) -> how many times.
  std::map<std::string, std::map<std::string, int>> applied;
  // Per target: the app's own API, reached by generic REST requests (/api/...).
  std::map<std::string, SimApi> apis;
  int64_t delivered = 0;

 private:
  HttpResponse deliver(const std::string& target, const HttpRequest& request);
  void observe(const std::string& target, const HttpRequest& request, const HttpResponse& response);
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  std::string fresh_key();

  std::mt19937_64& rng_;
  std::function<void(const std::string&)> trace_;
  Plant plant_;
  std::map<std::string, Server*> servers_;
  std::vector<std::pair<std::string, HttpRequest>> delayed_;
};

// One sender's way to its server.
class SimTransport final : public Transport {
 public:
  SimTransport(SimNetwork& network, int from, std::string target) : network_(network), from_(from), target_(std::move(target)) {}
  Result<HttpResponse> send(const HttpRequest& request) override { return network_.send(from_, target_, request); }

 private:
  SimNetwork& network_;
  int from_;
  std::string target_;
};

}  // namespace offsync::sim
