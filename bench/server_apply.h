#pragma once

#include <nlohmann/json.hpp>

namespace offsync::bench {

struct ServerApplyConfig {
  int single = 2000;    // mutations through POST /v1/mutations, one request each
  int batched = 20000;  // mutations through POST /v1/mutations:batch
  int batch_size = 100;
  int rounds = 3;       // engine and raw alternate; the best round of each is kept
};

// Server::handle with idempotency against raw SQLite writing the same rows (the record and the
// stored answer) with prepared statements and the same pragmas, in this process.
nlohmann::json run_server_apply(const ServerApplyConfig& config);

}  // namespace offsync::bench
