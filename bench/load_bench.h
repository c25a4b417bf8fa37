// offsync-bench load (issue 13): many devices write, then all sync at once through the server
// processes, then every device syncs again; every mutation must be applied exactly once and every
// device must show the server's state. Side by side: SQLite (one process), PostgreSQL (one server
// process) and PostgreSQL (two server processes behind the devices, round robin).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace offsync::bench {

struct LoadConfig {
  int devices = 200;
  int mutations = 100;        // per device, over a shared set of that many records
  int threads = 16;           // devices syncing at once
  std::string postgres;       // a libpq connection string (default: $OFFSYNC_PG_CONNINFO)
  std::string self;           // this program, to start the server processes
};

nlohmann::json run_load(const LoadConfig& config);

// Internal: one server process on PostgreSQL; prints its URL, serves until stdin closes.
int serve_child(const std::string& postgres);

}  // namespace offsync::bench
