#pragma once

#include <nlohmann/json.hpp>

namespace offsync::bench {

struct QueryConfig {
  int records = 100'000;  // records in the collection queried
  int queries = 2'000;    // indexed queries per side per round
  int scans = 20;         // unindexed queries per side
  int rounds = 3;         // engine and raw alternate, best round of each kept
  int live_samples = 200; // writes timed to their live query's callback
  int push_samples = 30;  // writes timed from one device to another's live query
  int waiting = 1'000;    // long polls held by a server, for its memory per waiting device
};

// Client::query (a 50-row indexed query) against the same query through raw SQLite on the same
// file, the unindexed scan for contrast, live-query notification latency, device-to-device
// latency through the server push on loopback, and the server's memory per waiting device.
nlohmann::json run_query(const QueryConfig& config);

}  // namespace offsync::bench
