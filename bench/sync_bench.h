#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace offsync::bench {

struct DrainConfig {
  int mutations = 20000;
  int baseline = 2000;        // mutations sent by the hand-written curl loop
  int rss_mutations = 100000; // 0: skip the peak-RSS run
  int batch_size = 0;         // SyncOptions::batch_size; 0: the default
  std::string self;           // this program's path, to run the RSS child
};

// A client outbox drained to a real server over loopback against a hand-written loop (one curl
// POST per mutation, no outbox) in the same run; and the peak RSS of a client process draining
// rss_mutations.
nlohmann::json run_drain(const DrainConfig& config);

// The child of the RSS run: drains the store at `db` to `url`, prints its peak RSS in KiB.
int drain_child(const std::string& db, const std::string& url);

struct PullConfig {
  int changes = 20000;
  int small_store = 1000;
  int large_store = 100000;
};

// Changes/s applied by a pull; and the time to pull one change into a store of 1k vs 100k records.
nlohmann::json run_pull(const PullConfig& config);

}  // namespace offsync::bench
