#include "bench/server_apply.h"

#include <chrono>
#include <stdexcept>

#include "bench/scratch.h"
#include "offsync/server.h"
#include "offsync/ulid.h"
#include "storage/server_store.h"
#include "storage/sqlite_db.h"

namespace offsync::bench {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

json mutation(int i) {
  return {{"collection", "notes"},
          {"record", "n" + std::to_string(i)},
          {"op", "upsert"},
          {"fields", {{"title", "note " + std::to_string(i)}, {"body", "applied by the bench"}, {"done", false}}},
          {"base", nullptr}};
}

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

double engine_single(const std::string& path, int n) {
  auto server = Server::open({.db_path = path});
  if (!server) throw std::runtime_error(server.status().to_string());
  UlidGenerator keys(system_clock(), system_random());
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    HttpRequest r{.method = "POST", .target = "/v1/mutations"};
    r.headers.add("Content-Type", "application/json");
    r.headers.add("Idempotency-Key", keys.generate()->to_string());
    r.body = mutation(i).dump();
    if ((*server)->handle(r).status != 200) throw std::runtime_error("mutation refused");
  }
  return n / seconds_since(start);
}

double engine_batched(const std::string& path, int n, int batch_size) {
  auto server = Server::open({.db_path = path});
  if (!server) throw std::runtime_error(server.status().to_string());
  UlidGenerator keys(system_clock(), system_random());
  auto start = Clock::now();
  for (int i = 0; i < n; i += batch_size) {
    json items = json::array();
    for (int j = i; j < std::min(n, i + batch_size); ++j) {
      json m = mutation(j);
      m["idempotency_key"] = keys.generate()->to_string();
      items.push_back(std::move(m));
    }
    HttpRequest r{.method = "POST", .target = "/v1/mutations:batch"};
    r.headers.add("Content-Type", "application/json");
    r.body = json{{"mutations", items}}.dump();
    if ((*server)->handle(r).status != 200) throw std::runtime_error("batch refused");
  }
  return n / seconds_since(start);
}

// The baseline: the same two rows per mutation (the record, the stored answer) with prepared
// statements, `per_commit` mutations per transaction, the same schema and pragmas.
double raw(const std::string& path, int n, int per_commit) {
  auto db = storage::open_database({.path = path, .page_size = storage::kServerPageSize});  // the server's pragmas
  if (!db) throw std::runtime_error(db.status().to_string());
  if (Status s = storage::migrate(**db, storage::kServerMigrations); !s) throw std::runtime_error(s.to_string());
  SQLite::Statement record(**db,
                           "INSERT OR REPLACE INTO records (partition, collection, record_id, fields, field_hlc, hlc, "
                           "deleted, attachments, seq, changed_at) VALUES ('', 'notes', ?, ?, '{}', ?, 0, '[]', ?, ?)");
  SQLite::Statement answer(**db,
                           "INSERT INTO idempotency (principal, key, fingerprint, status, body, created_at) "
                           "VALUES ('', ?, ?, 200, ?, ?)");
  UlidGenerator keys(system_clock(), system_random());
  auto start = Clock::now();
  for (int i = 0; i < n; i += per_commit) {
    (*db)->exec("BEGIN IMMEDIATE");
    for (int j = i; j < std::min(n, i + per_commit); ++j) {
      std::string fields = mutation(j)["fields"].dump();
      int64_t now = system_clock().now_ms();
      record.bind(1, "n" + std::to_string(j));
      record.bind(2, fields);
      record.bind(3, std::to_string(now));
      record.bind(4, static_cast<int64_t>(j + 1));
      record.bind(5, now);
      record.exec();
      record.reset();
      answer.bind(1, keys.generate()->to_string());
      answer.bind(2, "fingerprint");
      answer.bind(3, fields);
      answer.bind(4, now);
      answer.exec();
      answer.reset();
    }
    (*db)->exec("COMMIT");
  }
  return n / seconds_since(start);
}

json side_by_side(double engine, double baseline, int n) {
  return {{"mutations", n},
          {"engine_mutations_per_s", std::round(engine)},
          {"raw_sqlite_rows_per_s", std::round(baseline)},
          {"ratio_engine_over_raw", std::round(engine / baseline * 1000) / 1000}};
}

}  // namespace

json run_server_apply(const ServerApplyConfig& c) {
  Scratch scratch;
  double single = 0, single_raw = 0, batched = 0, batched_raw = 0;
  for (int r = 0; r < c.rounds; ++r) {
    single_raw = std::max(single_raw, raw(scratch.fresh("raw1.db"), c.single, 1));
    single = std::max(single, engine_single(scratch.fresh("single.db"), c.single));
    batched_raw = std::max(batched_raw, raw(scratch.fresh("rawb.db"), c.batched, c.batch_size));
    batched = std::max(batched, engine_batched(scratch.fresh("batch.db"), c.batched, c.batch_size));
  }
  return {{"benchmark", "server-apply"},
          {"durability", "full"},
          {"single", side_by_side(single, single_raw, c.single)},
          {"batch", side_by_side(batched, batched_raw, c.batched)},
          {"batch_size", c.batch_size},
          {"note", "raw commits once per mutation (single) or once per batch (batch), as the engine does"}};
}

}  // namespace offsync::bench
