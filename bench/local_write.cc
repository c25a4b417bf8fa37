#include "bench/local_write.h"

#include "bench/scratch.h"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>

#include "offsync/client.h"
#include "offsync/ulid.h"
#include "storage/client_store.h"
#include "storage/sqlite_db.h"

namespace offsync::bench {
namespace {

using Clock = std::chrono::steady_clock;

nlohmann::json note(int i) {
  return {{"title", "note " + std::to_string(i)}, {"body", "written while offline"}, {"done", false}};
}

double engine_rate(const std::string& path, Durability durability, int writes) {
  auto client = Client::open(ClientOptions{.path = path, .durability = durability});
  if (!client) throw std::runtime_error(client.status().to_string());
  auto start = Clock::now();
  for (int i = 0; i < writes; ++i) {
    auto id = (*client)->put("notes", "n" + std::to_string(i), note(i));
    if (!id) throw std::runtime_error(id.status().to_string());
  }
  return writes / std::chrono::duration<double>(Clock::now() - start).count();
}

// The baseline: what a hand-written outbox would do per write, with no engine in between:
// one transaction, a view row and an outbox row with a fresh ULID, prepared statements.
double raw_rate(const std::string& path, Durability durability, int writes) {
  auto db = storage::open_database({path, durability});
  if (!db) throw std::runtime_error(db.status().to_string());
  if (Status s = storage::migrate(**db, storage::kClientMigrations); !s) throw std::runtime_error(s.to_string());
  SQLite::Statement begin(**db, "BEGIN IMMEDIATE"), commit(**db, "COMMIT");
  SQLite::Statement view(**db, "INSERT OR REPLACE INTO view (collection, record_id, fields) VALUES (?, ?, ?)");
  SQLite::Statement outbox(**db,
                           "INSERT INTO outbox (id, collection, record_id, op, payload, created_at) "
                           "VALUES (?, ?, ?, 0, ?, ?)");
  UlidGenerator ulids(system_clock(), system_random());
  auto start = Clock::now();
  for (int i = 0; i < writes; ++i) {
    std::string record = "n" + std::to_string(i);
    std::string fields = note(i).dump();
    begin.exec();
    begin.reset();
    view.bind(1, "notes");
    view.bind(2, record);
    view.bind(3, fields);
    view.exec();
    view.reset();
    outbox.bind(1, ulids.generate()->to_string());
    outbox.bind(2, "notes");
    outbox.bind(3, record);
    outbox.bind(4, fields);
    outbox.bind(5, static_cast<int64_t>(system_clock().now_ms()));
    outbox.exec();
    outbox.reset();
    commit.exec();
    commit.reset();
  }
  return writes / std::chrono::duration<double>(Clock::now() - start).count();
}

nlohmann::json compare(Scratch& scratch, Durability durability, int writes, int rounds) {
  double best_engine = 0, best_raw = 0;
  for (int r = 0; r < rounds; ++r) {
    best_raw = std::max(best_raw, raw_rate(scratch.fresh("raw.db"), durability, writes));
    best_engine = std::max(best_engine, engine_rate(scratch.fresh("engine.db"), durability, writes));
  }
  return {{"writes_per_round", writes},
          {"rounds", rounds},
          {"engine_rows_per_s", std::round(best_engine)},
          {"raw_sqlite_rows_per_s", std::round(best_raw)},
          {"ratio_engine_over_raw", std::round(best_engine / best_raw * 1000) / 1000}};
}

}  // namespace

nlohmann::json run_local_write(const LocalWriteConfig& config) {
  Scratch scratch;
  return {{"benchmark", "local-write"},
          {"full", compare(scratch, Durability::kFull, config.writes_full, config.rounds)},
          {"normal", compare(scratch, Durability::kNormal, config.writes_normal, config.rounds)},
          {"note", "full is the default durability (survives power loss); normal survives a process kill"}};
}

}  // namespace offsync::bench
