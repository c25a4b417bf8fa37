#pragma once

#include <nlohmann/json.hpp>

namespace offsync::bench {

struct LocalWriteConfig {
  int writes_full = 2000;     // per round at Durability::kFull (each one an fsync)
  int writes_normal = 20000;  // per round at Durability::kNormal
  int rounds = 3;             // engine and raw alternate, best round of each kept
};

// Client::put against raw SQLite doing the same two inserts (view row + outbox row) with prepared
// statements and the same pragmas, side by side in this process, at both durability settings.
nlohmann::json run_local_write(const LocalWriteConfig& config);

}  // namespace offsync::bench
