#include "storage/sqlite_server_store.h"

namespace offsync::storage {
namespace {

constexpr const char* kRecordColumns =
    "collection, record_id, fields, field_hlc, hlc, deleted, attachments, seq, changed_at";

}  // namespace

SqliteServerStore::SqliteServerStore(std::unique_ptr<SQLite::Database> db)
    : SqliteStore(std::move(db)),
      get_answer_(*db_, "SELECT fingerprint, status, body, created_at FROM idempotency WHERE principal=? AND key=?"),
      put_answer_(*db_, "INSERT OR REPLACE INTO idempotency (principal, key, fingerprint, status, body, created_at) "
                        "VALUES (?, ?, ?, ?, ?, ?)"),
      get_record_(*db_, std::string("SELECT ") + kRecordColumns +
                            " FROM records WHERE partition=? AND collection=? AND record_id=?"),
      put_record_(*db_, std::string("INSERT OR REPLACE INTO records (partition, ") + kRecordColumns +
                            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
      read_seq_(*db_, "SELECT CAST(value AS INTEGER) FROM meta WHERE key='seq'"),
      write_seq_(*db_, "UPDATE meta SET value = ? WHERE key='seq'"),
      bump_(*db_, "UPDATE counters SET value = value + ? WHERE name=?"),
      begin_(*db_, "BEGIN IMMEDIATE"),
      commit_(*db_, "COMMIT"),
      rollback_(*db_, "ROLLBACK"),
      savepoint_(*db_, "SAVEPOINT step"),
      release_(*db_, "RELEASE step"),
      rollback_to_(*db_, "ROLLBACK TO step") {}

void SqliteServerStore::begin() {
  fresh(begin_).exec();
  in_transaction_ = true;
  auto& s = fresh(read_seq_);
  ResetOnExit done(s);
  s.executeStep();
  seq_ = s.getColumn(0).getInt64();
  applied_ = replays_ = 0;
}

void SqliteServerStore::commit() {
  auto& w = fresh(write_seq_);
  w.bind(1, std::to_string(seq_));
  w.exec();
  for (auto [name, n] : {std::pair{"mutations_applied", applied_}, std::pair{"replays", replays_}}) {
    if (n == 0) continue;
    auto& b = fresh(bump_);
    b.bind(1, n);
    b.bind(2, name);
    b.exec();
  }
  fresh(commit_).exec();
  in_transaction_ = false;
}

void SqliteServerStore::rollback() noexcept {
  if (!in_transaction_) return;
  in_transaction_ = false;
  try {
    fresh(rollback_).exec();
  } catch (...) {
    // SQLite already rolled back (it does after some errors); nothing is left to undo.
  }
}

void SqliteServerStore::savepoint() {
  fresh(savepoint_).exec();
  mark_ = {seq_, applied_, replays_};
}
void SqliteServerStore::release_savepoint() { fresh(release_).exec(); }
void SqliteServerStore::rollback_to_savepoint() {
  fresh(rollback_to_).exec();
  fresh(release_).exec();
  seq_ = mark_.seq;
  applied_ = mark_.applied;
  replays_ = mark_.replays;
}

Result<std::unique_ptr<SqliteServerStore>> SqliteServerStore::open_sqlite(const DatabaseOptions& options) {
  DatabaseOptions with_page = options;
  if (with_page.page_size == 0) with_page.page_size = kServerPageSize;
  with_page.known_schema_versions = kServerMigrations.size();
  auto db = open_database(with_page);
  if (!db) return db.status();
  if (Status s = migrate(**db, kServerMigrations); !s) return s;
  return guarded("prepare server store", [&]() -> Result<std::unique_ptr<SqliteServerStore>> {
    return std::unique_ptr<SqliteServerStore>(new SqliteServerStore(std::move(*db)));
  });
}

// Whatever the database: the ids must all be complete before any is marked.
std::vector<std::string> ServerStore::reference_attachments(const std::string& principal,
                                                          const std::vector<std::string>& ids) {
  std::vector<std::string> missing;
  for (const auto& id : ids) {
    auto a = attachment(principal, id);
    if (!a || !a->complete) missing.push_back(id);
  }
  if (!missing.empty()) return missing;
  for (const auto& id : ids) mark_referenced(principal, id);
  return missing;
}

Result<std::unique_ptr<ServerStore>> ServerStore::open(const DatabaseOptions& options) {
  auto store = SqliteServerStore::open_sqlite(options);
  if (!store) return store.status();
  return std::unique_ptr<ServerStore>(std::move(*store));
}

std::optional<StoredAnswer> SqliteServerStore::answer(const std::string& principal, const std::string& key) {
  auto& s = fresh(get_answer_);
  ResetOnExit done(s);
  s.bind(1, principal);
  s.bind(2, key);
  if (!s.executeStep()) return std::nullopt;
  return StoredAnswer{s.getColumn(0).getString(), s.getColumn(1).getInt(), s.getColumn(2).getString(),
                      s.getColumn(3).getInt64()};
}

void SqliteServerStore::put_answer(const std::string& principal, const std::string& key, const StoredAnswer& a) {
  auto& s = fresh(put_answer_);
  ResetOnExit done(s);
  s.bind(1, principal);
  s.bind(2, key);
  s.bind(3, a.fingerprint);
  s.bind(4, a.status);
  s.bindNoCopy(5, a.body);
  s.bind(6, a.created_at_ms);
  s.exec();
}

int64_t SqliteServerStore::sweep_answers(int64_t created_before_ms) {
  SQLite::Statement& s = cached("DELETE FROM idempotency WHERE created_at < ?");
  ResetOnExit done(s);
  s.bind(1, created_before_ms);
  return s.exec();
}

StoredRecord SqliteServerStore::read_record(SQLite::Statement& s) {
  StoredRecord r;
  r.collection = s.getColumn(0).getString();
  r.record_id = s.getColumn(1).getString();
  r.fields = nlohmann::json::parse(s.getColumn(2).getString());
  r.field_hlc = nlohmann::json::parse(s.getColumn(3).getString());
  r.hlc = s.getColumn(4).getString();
  r.deleted = s.getColumn(5).getInt() != 0;
  r.attachments = nlohmann::json::parse(s.getColumn(6).getString());
  r.seq = s.getColumn(7).getInt64();
  r.changed_at_ms = s.getColumn(8).getInt64();
  return r;
}

std::optional<StoredRecord> SqliteServerStore::record(const std::string& partition, const std::string& collection,
                                                const std::string& record_id) {
  auto& s = fresh(get_record_);
  ResetOnExit done(s);
  s.bind(1, partition);
  s.bind(2, collection);
  s.bind(3, record_id);
  if (!s.executeStep()) return std::nullopt;
  return read_record(s);
}

int64_t SqliteServerStore::next_seq() { return ++seq_; }

void SqliteServerStore::put_record(const std::string& partition, const StoredRecord& r, const std::string& fields_text,
                             const std::string& field_hlc_text, const std::string& attachments_text) {
  auto& s = fresh(put_record_);
  ResetOnExit done(s);
  s.bind(1, partition);
  s.bind(2, r.collection);
  s.bind(3, r.record_id);
  s.bindNoCopy(4, fields_text);
  s.bindNoCopy(5, field_hlc_text);
  s.bind(6, r.hlc);
  s.bind(7, r.deleted ? 1 : 0);
  s.bindNoCopy(8, attachments_text);
  s.bind(9, r.seq);
  s.bind(10, r.changed_at_ms);
  s.exec();
}

std::vector<ServerStore::RecordText> SqliteServerStore::changes_after_text(const std::string& partition, int64_t after,
                                                                    int64_t limit) {
  SQLite::Statement& s = cached(std::string("SELECT ") + kRecordColumns +
                                " FROM records WHERE partition=? AND seq > ? ORDER BY seq LIMIT ?");
  ResetOnExit done(s);
  s.bind(1, partition);
  s.bind(2, after);
  s.bind(3, limit);
  std::vector<RecordText> out;
  while (s.executeStep()) {
    RecordText r;
    r.record.collection = s.getColumn(0).getString();
    r.record.record_id = s.getColumn(1).getString();
    r.fields = s.getColumn(2).getString();
    r.field_hlc = s.getColumn(3).getString();
    r.record.hlc = s.getColumn(4).getString();
    r.record.deleted = s.getColumn(5).getInt() != 0;
    r.attachments = s.getColumn(6).getString();
    r.record.seq = s.getColumn(7).getInt64();
    r.record.changed_at_ms = s.getColumn(8).getInt64();
    out.push_back(std::move(r));
  }
  return out;
}

ServerStore::Purge SqliteServerStore::purge_tombstones(int64_t changed_before_ms) {
  SQLite::Statement& top = cached("SELECT COALESCE(MAX(seq), 0) FROM records WHERE deleted=1 AND changed_at < ?");
  ResetOnExit done_top(top);
  top.bind(1, changed_before_ms);
  top.executeStep();
  Purge purge;
  purge.max_seq = top.getColumn(0).getInt64();
  SQLite::Statement& del = cached("DELETE FROM records WHERE deleted=1 AND changed_at < ?");
  ResetOnExit done_del(del);
  del.bind(1, changed_before_ms);
  purge.removed = del.exec();
  return purge;
}

std::optional<std::string> SqliteServerStore::max_hlc() {
  SQLite::Statement& s = cached("SELECT MAX(hlc) FROM records");
  ResetOnExit done(s);
  if (!s.executeStep() || s.getColumn(0).isNull()) return std::nullopt;
  return s.getColumn(0).getString();
}


ServerCounts SqliteServerStore::counts() {
  ServerCounts c;
  auto one = [&](const char* sql) { return db_->execAndGet(sql).getInt64(); };
  c.mutations_applied = one("SELECT value FROM counters WHERE name='mutations_applied'");
  c.replays = one("SELECT value FROM counters WHERE name='replays'");
  c.idempotency_keys = one("SELECT COUNT(*) FROM idempotency");
  c.changes = one("SELECT COUNT(*) FROM records");
  c.tombstones = one("SELECT COUNT(*) FROM records WHERE deleted=1");
  c.last_seq = one("SELECT CAST(value AS INTEGER) FROM meta WHERE key='seq'");
  c.compacted_seq = one("SELECT CAST(value AS INTEGER) FROM meta WHERE key='compacted_seq'");
  return c;
}

std::vector<CursorKey> SqliteServerStore::cursor_keys() {
  SQLite::Statement& s = cached("SELECT version, secret, retired FROM cursor_keys ORDER BY version");
  ResetOnExit done(s);
  std::vector<CursorKey> out;
  while (s.executeStep()) {
    const auto& blob = s.getColumn(1);
    out.push_back(CursorKey{static_cast<uint32_t>(s.getColumn(0).getInt64()),
                            std::string(static_cast<const char*>(blob.getBlob()), static_cast<size_t>(blob.getBytes())),
                            s.getColumn(2).getInt() != 0});
  }
  return out;
}

void SqliteServerStore::add_cursor_key(const CursorKey& key) {
  SQLite::Statement& s = cached("INSERT INTO cursor_keys (version, secret, retired) VALUES (?, ?, ?)");
  ResetOnExit done(s);
  s.bind(1, static_cast<int64_t>(key.version));
  s.bind(2, key.secret.data(), static_cast<int>(key.secret.size()));
  s.bind(3, key.retired ? 1 : 0);
  s.exec();
}

void SqliteServerStore::retire_cursor_keys_below(uint32_t version) {
  SQLite::Statement& s = cached("UPDATE cursor_keys SET retired=1 WHERE version < ?");
  ResetOnExit done(s);
  s.bind(1, static_cast<int64_t>(version));
  s.exec();
}

}  // namespace offsync::storage
