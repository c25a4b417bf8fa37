#include "bench/relay_bench.h"

#include <chrono>
#include <cmath>
#include <stdexcept>
#include <thread>

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

}  // namespace

json run_relay(const RelayConfig& c) {
  if (c.mutations <= 0) throw std::invalid_argument("--mutations must be positive");
  Scratch scratch;
  double direct_s = 0, relayed_s = 0, local_s = 0;
  {
    LiveServer cloud(scratch.fresh("direct-cloud.db"));
    auto client = filled_client(scratch.fresh("direct-client.db"), cloud.url, c.mutations);
    auto start = SteadyClock::now();
    auto report = client->sync_once();
    if (!report || report->applied != c.mutations) throw std::runtime_error("the direct drain did not apply everything");
    direct_s = until_applied(*cloud.server, c.mutations, start);
  }
  {
    LiveServer cloud(scratch.fresh("relay-cloud.db"));
    auto upstream = make_curl_transport({.base_url = cloud.url});
    if (!upstream) throw std::runtime_error(upstream.status().to_string());
    ServerOptions relay_options{.db_path = scratch.fresh("relay.db")};
    relay_options.upstream.transport = std::shared_ptr<Transport>(std::move(*upstream));
    relay_options.upstream.client_path = scratch.fresh("relay-upstream.db");
    LiveServer relay(std::move(relay_options));
    auto client = filled_client(scratch.fresh("relay-client.db"), relay.url, c.mutations);
    auto start = SteadyClock::now();
    auto report = client->sync_once();
    if (!report || report->applied != c.mutations) throw std::runtime_error("the relay did not apply everything");
    local_s = std::chrono::duration<double>(SteadyClock::now() - start).count();
    relayed_s = until_applied(*cloud.server, c.mutations, start);
  }
  double direct = c.mutations / direct_s, relayed = c.mutations / relayed_s;
  return {{"benchmark", "relay"},
          {"mutations", c.mutations},
          {"direct_mutations_per_s", std::round(direct)},
          {"through_relay_mutations_per_s", std::round(relayed)},
          {"client_to_relay_mutations_per_s", std::round(c.mutations / local_s)},
          {"ratio_relay_over_direct", std::round(relayed / direct * 100) / 100},
          {"goal_ratio", 0.5},
          {"note", "through the relay: from the client's first request until the cloud has applied the last "
                   "mutation (the relay answers, hands over, forwards in batches); both sides at full durability"}};
}

}  // namespace offsync::bench
