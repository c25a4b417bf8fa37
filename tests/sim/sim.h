// offsync-sim (issue 12): a deterministic simulation of many clients and one server in one
// process, on virtual clocks, over a network that loses, duplicates, delays and garbles requests,
// with clients that crash between any two file writes and a server that restarts. Random
// workloads; the invariants are checked as it goes and after healing. A seed replays exactly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/sim_network.h"

namespace offsync::sim {

struct Config {
  uint64_t seed = 1;
  int clients = 3;
  int steps = 300;
  Plant plant = Plant::kNone;
  bool echo = false;  // print the trace while running
  // A libpq connection string: the cloud server and the relay then store in PostgreSQL, each in a
  // schema of its own made for the run and dropped after it. Empty: SQLite files.
  std::string postgres;
};

struct Outcome {
  bool ok = true;
  std::string failure;              // the first invariant that did not hold
  std::vector<std::string> trace;   // what happened, step by step
  int64_t applied = 0, crashes = 0, restarts = 0, conflicts = 0, rejected = 0, writes = 0;
};

Outcome run(const Config& config);

// "none", "no-idempotency", "phantom-delete-ack", "skipped-change"
std::vector<std::string> plant_names();
bool parse_plant(const std::string& name, Plant* out);

}  // namespace offsync::sim
