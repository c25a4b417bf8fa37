#include "storage/pg_session.h"


namespace offsync::storage {

namespace {

constexpr const char* kRecordColumns =
    "collection, record_id, fields, field_hlc, hlc, deleted, attachments, seq, changed_at";

// The advisory lock key under which processes migrate the schema one at a time ("offsync" in ASCII).
constexpr int64_t kMigrationLock = 0x6f666673796e63;

std::string text(const pqxx::field& f) { return f.is_null() ? std::string() : f.as<std::string>(); }
int64_t number(const pqxx::field& f) { return f.is_null() ? 0 : f.as<int64_t>(); }

}  // namespace

PgServerStore::PgServerStore(std::unique_ptr<Session> session) : session_(std::move(session)) {}

PgServerStore::~PgServerStore() { rollback(); }

Result<std::unique_ptr<PgServerStore>> PgServerStore::open_postgres(const std::string& conninfo) {
  return guarded("open the PostgreSQL store", [&]() -> Result<std::unique_ptr<PgServerStore>> {
    std::unique_ptr<PgServerStore> store(new PgServerStore(std::make_unique<Session>(conninfo)));
    pqxx::nontransaction& s = store->session_->raw();
    // One process migrates at a time; the others wait, then find the schema current.
    s.exec_params("SELECT pg_advisory_lock($1)", kMigrationLock);
    struct Unlock {
      pqxx::nontransaction& s;
      ~Unlock() {
        try {
          s.exec_params("SELECT pg_advisory_unlock($1)", kMigrationLock);
        } catch (...) {
        }
      }
    } unlock{s};
    s.exec("CREATE TABLE IF NOT EXISTS offsync_schema (version INTEGER NOT NULL)");
    auto rows = s.exec("SELECT version FROM offsync_schema");
    int64_t version = rows.empty() ? 0 : number(rows[0][0]);
    if (version > static_cast<int64_t>(kServerPgMigrations.size())) {
      return Status::corrupt("the PostgreSQL store has schema version " + std::to_string(version) +
                             ", newer than this build knows (" + std::to_string(kServerPgMigrations.size()) +
                             "): refused, untouched");
    }
    for (size_t i = static_cast<size_t>(version); i < kServerPgMigrations.size(); ++i) {
      s.exec("BEGIN");
      try {
        s.exec(std::string(kServerPgMigrations[i]));
        s.exec("DELETE FROM offsync_schema");
        s.exec_params("INSERT INTO offsync_schema (version) VALUES ($1)", static_cast<int64_t>(i + 1));
        s.exec("COMMIT");
      } catch (...) {
        try {
          s.exec("ROLLBACK");
        } catch (...) {
        }
        throw;
      }
    }
    return store;
  });
}

std::optional<std::string> PgServerStore::meta(const std::string& key) {
  auto r = session_->exec_params("SELECT value FROM meta WHERE key=$1", key);
  if (r.empty()) return std::nullopt;
  return text(r[0][0]);
}

void PgServerStore::set_meta(const std::string& key, const std::string& value) {
  session_->exec_params(
      "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key,
      value);
}

// ---- Transactions ----

void PgServerStore::begin() {
  // Writers take turns here, across processes: see the header. One round trip with BEGIN.
  constexpr const char* kTurn = "SELECT value FROM meta WHERE key='seq' FOR UPDATE";
  auto r = claimed_ ? session_->exec(kTurn) : session_->begin(std::string("BEGIN; ") + kTurn);
  claimed_ = false;
  seq_ = r.empty() ? 0 : std::stoll(text(r[0][0]));
  applied_ = replays_ = 0;
}

std::vector<size_t> PgServerStore::claim_keys(const std::string& principal, const std::vector<std::string>& keys) {
  if (keys.empty()) return {};
  // One round trip with BEGIN; never waits (pg_try_advisory_xact_lock).
  std::string sql = "BEGIN; SELECT i - 1 FROM unnest(ARRAY[";
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i > 0) sql += ',';
    sql += session_->quote(principal + '\n' + keys[i]);
  }
  sql += "]::text[]) WITH ORDINALITY AS claim(k, i) WHERE NOT pg_try_advisory_xact_lock(hashtextextended(k, 0))";
  auto rows = session_->begin(sql);
  claimed_ = true;
  std::vector<size_t> held;
  for (const auto& row : rows) held.push_back(static_cast<size_t>(number(row[0])));
  return held;
}

void PgServerStore::commit() {
  // One round trip: the values are numbers this store computed.
  std::string sql = "UPDATE meta SET value='" + std::to_string(seq_) + "' WHERE key='seq'; ";
  for (auto [name, n] : {std::pair{"mutations_applied", applied_}, std::pair{"replays", replays_}}) {
    if (n != 0) sql += "UPDATE counters SET value = value + " + std::to_string(n) + " WHERE name='" + name + "'; ";
  }
  session_->exec(sql + "COMMIT");
  session_->end();
}

void PgServerStore::rollback() noexcept {
  claimed_ = false;
  if (!session_->in_transaction()) return;
  session_->end();
  if (session_->broken()) return;  // the server rolled it back with the connection
  try {
    session_->exec("ROLLBACK");
  } catch (...) {
    // The connection is gone: the server rolled the transaction back with it.
  }
}

void PgServerStore::savepoint() {
  session_->exec("SAVEPOINT step");
  mark_ = {seq_, applied_, replays_};
}

void PgServerStore::release_savepoint() { session_->exec("RELEASE SAVEPOINT step"); }

void PgServerStore::rollback_to_savepoint() {
  session_->exec("ROLLBACK TO SAVEPOINT step");
  session_->exec("RELEASE SAVEPOINT step");
  seq_ = mark_.seq;
  applied_ = mark_.applied;
  replays_ = mark_.replays;
}

int64_t PgServerStore::next_seq() { return ++seq_; }

// ---- Idempotency and records ----

std::optional<StoredAnswer> PgServerStore::answer(const std::string& principal, const std::string& key) {
  auto r = session_->exec_params(
      "SELECT fingerprint, status, body, created_at FROM idempotency WHERE principal=$1 AND key=$2", principal, key);
  if (r.empty()) return std::nullopt;
  return StoredAnswer{text(r[0][0]), static_cast<int>(number(r[0][1])), text(r[0][2]), number(r[0][3])};
}

void PgServerStore::put_answer(const std::string& principal, const std::string& key, const StoredAnswer& a) {
  session_->exec_params(
      "INSERT INTO idempotency (principal, key, fingerprint, status, body, created_at) VALUES ($1, $2, $3, $4, $5, $6) "
      "ON CONFLICT (principal, key) DO UPDATE SET fingerprint=excluded.fingerprint, status=excluded.status, "
      "body=excluded.body, created_at=excluded.created_at",
      principal, key, a.fingerprint, a.status, a.body, a.created_at_ms);
}

int64_t PgServerStore::sweep_answers(int64_t created_before_ms) {
  return session_->exec_params("DELETE FROM idempotency WHERE created_at < $1", created_before_ms).affected_rows();
}

std::optional<StoredRecord> PgServerStore::record(const std::string& partition, const std::string& collection,
                                                  const std::string& record_id) {
  auto r = session_->exec_params(std::string("SELECT ") + kRecordColumns +
                                     " FROM records WHERE partition=$1 AND collection=$2 AND record_id=$3",
                                 partition, collection, record_id);
  if (r.empty()) return std::nullopt;
  const auto& row = r[0];
  StoredRecord out;
  out.collection = text(row[0]);
  out.record_id = text(row[1]);
  out.fields = nlohmann::json::parse(text(row[2]));
  out.field_hlc = nlohmann::json::parse(text(row[3]));
  out.hlc = text(row[4]);
  out.deleted = number(row[5]) != 0;
  out.attachments = nlohmann::json::parse(text(row[6]));
  out.seq = number(row[7]);
  out.changed_at_ms = number(row[8]);
  return out;
}

void PgServerStore::put_record(const std::string& partition, const StoredRecord& r, const std::string& fields_text,
                               const std::string& field_hlc_text, const std::string& attachments_text) {
  session_->exec_params(
      std::string("INSERT INTO records (partition, ") + kRecordColumns +
          ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (partition, collection, record_id) DO "
          "UPDATE SET fields=excluded.fields, field_hlc=excluded.field_hlc, hlc=excluded.hlc, "
          "deleted=excluded.deleted, attachments=excluded.attachments, seq=excluded.seq, "
          "changed_at=excluded.changed_at",
      partition, r.collection, r.record_id, fields_text, field_hlc_text, r.hlc, r.deleted ? 1 : 0, attachments_text,
      r.seq, r.changed_at_ms);
}

std::vector<ServerStore::RecordText> PgServerStore::changes_after_text(const std::string& partition, int64_t after,
                                                                       int64_t limit) {
  auto rows = session_->exec_params(std::string("SELECT ") + kRecordColumns +
                                        " FROM records WHERE partition=$1 AND seq > $2 ORDER BY seq LIMIT $3",
                                    partition, after, limit);
  std::vector<RecordText> out;
  out.reserve(rows.size());
  for (const auto& row : rows) {
    RecordText r;
    r.record.collection = text(row[0]);
    r.record.record_id = text(row[1]);
    r.fields = text(row[2]);
    r.field_hlc = text(row[3]);
    r.record.hlc = text(row[4]);
    r.record.deleted = number(row[5]) != 0;
    r.attachments = text(row[6]);
    r.record.seq = number(row[7]);
    r.record.changed_at_ms = number(row[8]);
    out.push_back(std::move(r));
  }
  return out;
}

ServerStore::Purge PgServerStore::purge_tombstones(int64_t changed_before_ms) {
  Purge purge;
  purge.max_seq = number(
      session_->exec_params("SELECT COALESCE(MAX(seq), 0) FROM records WHERE deleted=1 AND changed_at < $1",
                            changed_before_ms)[0][0]);
  purge.removed =
      session_->exec_params("DELETE FROM records WHERE deleted=1 AND changed_at < $1", changed_before_ms).affected_rows();
  return purge;
}

std::optional<std::string> PgServerStore::max_hlc() {
  auto r = session_->exec("SELECT MAX(hlc) FROM records");
  if (r.empty() || r[0][0].is_null()) return std::nullopt;
  return text(r[0][0]);
}

ServerCounts PgServerStore::counts() {
  auto r = session_->exec(
      "SELECT (SELECT value FROM counters WHERE name='mutations_applied'), "
      "(SELECT value FROM counters WHERE name='replays'), (SELECT COUNT(*) FROM idempotency), "
      "(SELECT COUNT(*) FROM records), (SELECT COUNT(*) FROM records WHERE deleted=1), "
      "(SELECT CAST(value AS BIGINT) FROM meta WHERE key='seq'), "
      "(SELECT CAST(value AS BIGINT) FROM meta WHERE key='compacted_seq')");
  const auto& row = r[0];
  return ServerCounts{number(row[0]), number(row[1]), number(row[2]), number(row[3]),
                      number(row[4]), number(row[5]), number(row[6])};
}

// ---- Cursor keys ----

std::vector<CursorKey> PgServerStore::cursor_keys() {
  std::vector<CursorKey> out;
  for (const auto& row : session_->exec("SELECT version, secret, retired FROM cursor_keys ORDER BY version")) {
    pqxx::binarystring secret(row[1]);
    out.push_back(CursorKey{static_cast<uint32_t>(number(row[0])), secret.str(), number(row[2]) != 0});
  }
  return out;
}

void PgServerStore::add_cursor_key(const CursorKey& key) {
  session_->exec_params("INSERT INTO cursor_keys (version, secret, retired) VALUES ($1, $2, $3)",
                        static_cast<int64_t>(key.version), pqxx::binarystring(key.secret), key.retired ? 1 : 0);
}

void PgServerStore::retire_cursor_keys_below(uint32_t version) {
  session_->exec_params("UPDATE cursor_keys SET retired=1 WHERE version < $1", static_cast<int64_t>(version));
}

}  // namespace offsync::storage
