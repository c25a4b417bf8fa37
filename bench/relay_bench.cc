#include "bench/relay_bench.h"

#include <algorithm>
#include <chrono>
#include <vector>
#include <cmath>
#include <stdexcept>
#include <thread>

#include <sys/resource.h>

#include "bench/live_server.h"
#include "bench/scratch.h"
#include "offsync/client.h"
#include "offsync/transport.h"

namespace offsync::bench {
namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

std::unique_ptr<Client> filled_client(const std::string& db, const std::string& url, int n) {
  auto transport = make_curl_transport({.base_url = url});
  if (!transport) throw std::runtime_error(transport.status().to_string());
  ClientOptions options{.path = db, .durability = Durability::kNormal};
  options.sync.transport = std::shared_ptr<Transport>(std::move(*transport));
  options.sync.background = false;
  auto client = Client::open(options);
  if (!client) throw std::runtime_error(client.status().to_string());
  for (int i = 0; i < n; ++i) {
    if (!(*client)->put("notes", "n" + std::to_string(i), {{"title", "note " + std::to_string(i)}, {"done", false}})) {
      throw std::runtime_error("fill failed");
    }
  }
  return std::move(*client);
}

// Seconds until the server has applied n mutations (polling its stats).
double until_applied(Server& server, int n, SteadyClock::time_point start) {
  for (;;) {
    auto stats = server.stats();
    if (stats && stats->mutations_applied >= n) return std::chrono::duration<double>(SteadyClock::now() - start).count();
    if (SteadyClock::now() - start > std::chrono::minutes(5)) throw std::runtime_error("the relay did not drain in 5 minutes");
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

// CPU seconds (user + system) the whole process has used: the share of the 2 cores each
// arrangement keeps busy says whether it is CPU-bound or waiting.
double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

struct Run {
  double seconds = 0, cpu_seconds = 0, local_seconds = 0;
};

Run direct_run(Scratch& scratch, int n) {
  LiveServer cloud(scratch.fresh("direct-cloud.db"));
  auto client = filled_client(scratch.fresh("direct-client.db"), cloud.url, n);
  Run r;
  auto start = SteadyClock::now();
  double cpu = cpu_seconds();
  auto report = client->sync_once();
  if (!report || report->applied != n) throw std::runtime_error("the direct drain did not apply everything");
  r.seconds = until_applied(*cloud.server, n, start);
  r.cpu_seconds = cpu_seconds() - cpu;
  return r;
}

Run relayed_run(Scratch& scratch, int n) {
  LiveServer cloud(scratch.fresh("relay-cloud.db"));
  auto upstream = make_curl_transport({.base_url = cloud.url});
  if (!upstream) throw std::runtime_error(upstream.status().to_string());
  ServerOptions relay_options{.db_path = scratch.fresh("relay.db")};
  relay_options.upstream.transport = std::shared_ptr<Transport>(std::move(*upstream));
  relay_options.upstream.client_path = scratch.fresh("relay-upstream.db");
  LiveServer relay(std::move(relay_options));
  auto client = filled_client(scratch.fresh("relay-client.db"), relay.url, n);
  Run r;
  auto start = SteadyClock::now();
  double cpu = cpu_seconds();
  auto report = client->sync_once();
  if (!report || report->applied != n) throw std::runtime_error("the relay did not apply everything");
  r.local_seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  r.seconds = until_applied(*cloud.server, n, start);
  r.cpu_seconds = cpu_seconds() - cpu;
  return r;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t mid = v.size() / 2;
  return v.size() % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

double round2(double x) { return std::round(x * 100) / 100; }

}  // namespace

json run_relay(const RelayConfig& c) {
  if (c.mutations <= 0) throw std::invalid_argument("--mutations must be positive");
  if (c.rounds <= 0) throw std::invalid_argument("--rounds must be positive");
  Scratch scratch;
  const double n = c.mutations;
  std::vector<double> direct, relayed, local, ratios, direct_busy, relayed_busy, direct_cpu, relayed_cpu;
  for (int i = 0; i < c.rounds; ++i) {
    Run d = direct_run(scratch, c.mutations);
    Run r = relayed_run(scratch, c.mutations);
    direct.push_back(n / d.seconds);
    relayed.push_back(n / r.seconds);
    local.push_back(n / r.local_seconds);
    ratios.push_back(d.seconds / r.seconds);
    direct_busy.push_back(d.cpu_seconds / d.seconds);
    relayed_busy.push_back(r.cpu_seconds / r.seconds);
    direct_cpu.push_back(d.cpu_seconds / n * 1e6);
    relayed_cpu.push_back(r.cpu_seconds / n * 1e6);
  }
  json each = json::array();
  for (double r : ratios) each.push_back(round2(r));
  return {{"benchmark", "relay"},
          {"mutations", c.mutations},
          {"rounds", c.rounds},
          {"direct_mutations_per_s", std::round(median(direct))},
          {"through_relay_mutations_per_s", std::round(median(relayed))},
          {"client_to_relay_mutations_per_s", std::round(median(local))},
          {"ratio_relay_over_direct", round2(median(ratios))},
          {"ratio_each_round", each},
          {"direct_cores_busy", round2(median(direct_busy))},
          {"through_relay_cores_busy", round2(median(relayed_busy))},
          {"cpu_us_per_mutation_direct", std::round(median(direct_cpu))},
          {"cpu_us_per_mutation_through_relay", std::round(median(relayed_cpu))},
          {"goal_ratio", 0.5},
          {"note", "medians over the rounds (direct, then through the relay, each round); through the relay: from "
                   "the client's first request until the cloud has applied the last mutation (the relay answers, "
                   "hands over, forwards in batches); both sides at full durability; cores_busy: process CPU "
                   "seconds over wall seconds (2 cores here)"}};
}

}  // namespace offsync::bench
