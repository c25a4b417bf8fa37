// ClientStore: opening, the base and view of each record, the full refresh's staging, tombstones
// (the outbox: client_outbox_store.cc).
#include "storage/client_store.h"

#include "storage/client_outbox_sql.h"

namespace offsync::storage {

ClientStore::ClientStore(std::unique_ptr<SQLite::Database> db)
    : SqliteStore(std::move(db)),
      get_base_(*db_, "SELECT fields, hlc, field_hlc, deleted FROM base WHERE collection=? AND record_id=?"),
      get_view_(*db_, "SELECT fields FROM view WHERE collection=? AND record_id=?"),
      // An unchanged view row is left alone: an acknowledged write usually brings back exactly what
      // the view already shows, and rewriting a row costs far more than comparing it.
      set_view_(*db_, "INSERT INTO view (collection, record_id, fields) VALUES (?, ?, ?) "
                      "ON CONFLICT (collection, record_id) DO UPDATE SET fields = excluded.fields "
                      "WHERE fields IS NOT excluded.fields"),
      delete_view_(*db_, "DELETE FROM view WHERE collection=? AND record_id=?"),
      insert_mutation_(*db_, std::string("INSERT INTO outbox (") + kMutationColumns +
                                 ", idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
      last_mutation_of_(*db_, select_mutations("WHERE collection=? AND record_id=? ORDER BY id DESC LIMIT 1")),
      insert_tombstone_(*db_, "INSERT INTO tombstones (mutation_id, collection, record_id, deleted_at) "
                              "VALUES (?, ?, ?, ?)"),
      mark_sending_(*db_, "UPDATE outbox SET attempts=attempts+1, state=1 WHERE id=?"),
      mark_many_sending_(*db_, "UPDATE outbox SET attempts=attempts+1, state=1 WHERE id IN (SELECT value FROM json_each(?))"),
      read_many_(*db_, select_mutations("WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id")) {}

Result<std::unique_ptr<ClientStore>> ClientStore::open(const DatabaseOptions& options, size_t up_to) {
  DatabaseOptions checked = options;
  checked.known_schema_versions = kClientMigrations.size();
  auto db = open_database(checked);
  if (!db) return db.status();
  Status migrated = migrate(**db, kClientMigrations, up_to);
  if (!migrated) return migrated;
  if (up_to < kClientMigrations.size()) {
    // Old schemas are opened only to build test fixtures; the statements need the newest one.
    return Status::invalid_argument("a client store below the newest schema cannot be used");
  }
  return guarded("prepare client store", [&]() -> Result<std::unique_ptr<ClientStore>> {
    return std::unique_ptr<ClientStore>(new ClientStore(std::move(*db)));
  });
}

std::optional<BaseRecord> ClientStore::base(const std::string& collection, const std::string& record_id) {
  auto& s = fresh(get_base_);
  ResetOnExit done(s);
  s.bind(1, collection);
  s.bind(2, record_id);
  if (!s.executeStep()) return std::nullopt;
  BaseRecord row;
  row.fields = nlohmann::json::parse(s.getColumn(0).getString());
  row.hlc = s.getColumn(1).getString();
  row.field_hlc = nlohmann::json::parse(s.getColumn(2).getString());
  row.deleted = s.getColumn(3).getInt() != 0;
  return row;
}

std::optional<BaseText> ClientStore::base_text(const std::string& collection, const std::string& record_id) {
  SQLite::Statement& s =
      cached("SELECT fields, hlc, field_hlc, deleted, attachments FROM base WHERE collection=? AND record_id=?");
  ResetOnExit done(s);
  s.bind(1, collection);
  s.bind(2, record_id);
  if (!s.executeStep()) return std::nullopt;
  BaseText row;
  row.fields = s.getColumn(0).getString();
  row.hlc = s.getColumn(1).getString();
  row.field_hlc = s.getColumn(2).getString();
  row.deleted = s.getColumn(3).getInt() != 0;
  row.attachments = s.getColumn(4).getString();
  return row;
}

std::optional<std::string> ClientStore::base_hlc(const std::string& collection, const std::string& record_id) {
  SQLite::Statement& s = cached("SELECT hlc FROM base WHERE collection=? AND record_id=?");
  ResetOnExit done(s);
  s.bind(1, collection);
  s.bind(2, record_id);
  if (!s.executeStep()) return std::nullopt;
  return s.getColumn(0).getString();
}

void ClientStore::put_base(const std::string& collection, const std::string& record_id, const BaseRecord& row) {
  put_base_text(collection, record_id, {row.fields.dump(), row.hlc, row.field_hlc.dump(), row.deleted, "[]"});
}

namespace {
void bind_base(SQLite::Statement& s, const std::string& collection, const std::string& record_id, const BaseText& row) {
  s.bind(1, collection);
  s.bind(2, record_id);
  s.bind(3, row.fields);
  s.bind(4, row.hlc);
  s.bind(5, row.field_hlc);
  s.bind(6, row.deleted ? 1 : 0);
  s.bind(7, row.attachments);
}
}  // namespace

void ClientStore::put_base_text(const std::string& collection, const std::string& record_id, const BaseText& row) {
  SQLite::Statement& s = cached(
      "INSERT OR REPLACE INTO base (collection, record_id, fields, hlc, field_hlc, deleted, attachments) "
      "VALUES (?, ?, ?, ?, ?, ?, ?)");
  ResetOnExit done(s);
  bind_base(s, collection, record_id, row);
  s.exec();
}

std::optional<nlohmann::json> ClientStore::view(const std::string& collection, const std::string& record_id) {
  auto& s = fresh(get_view_);
  ResetOnExit done(s);
  s.bind(1, collection);
  s.bind(2, record_id);
  if (!s.executeStep()) return std::nullopt;
  return nlohmann::json::parse(s.getColumn(0).getString());
}

bool ClientStore::set_view(const std::string& collection, const std::string& record_id,
                           const std::optional<nlohmann::json>& fields) {
  if (fields) return set_view_text(collection, record_id, fields->dump());
  auto& s = fresh(delete_view_);
  s.bind(1, collection);
  s.bind(2, record_id);
  bool changed = s.exec() > 0;
  if (changed) touched_.insert(collection);
  return changed;
}

bool ClientStore::set_view_text(const std::string& collection, const std::string& record_id,
                                const std::string& fields) {
  auto& s = fresh(set_view_);
  s.bind(1, collection);
  s.bind(2, record_id);
  s.bind(3, fields);
  bool changed = s.exec() > 0;  // the upsert writes nothing when the text is the same
  if (changed) touched_.insert(collection);
  return changed;
}

bool ClientStore::take_touched(std::set<std::string>* collections, bool* all) {
  if (touched_.empty() && !touched_all_) return false;
  *collections = std::move(touched_);
  touched_.clear();
  *all = touched_all_;
  touched_all_ = false;
  return true;
}

std::vector<Record> ClientStore::list_view(const std::string& collection) {
  SQLite::Statement& s = cached("SELECT record_id, fields FROM view WHERE collection=? ORDER BY record_id");
  ResetOnExit done(s);
  s.bind(1, collection);
  std::vector<Record> out;
  while (s.executeStep()) {
    out.push_back(Record{collection, s.getColumn(0).getString(),
                         nlohmann::json::parse(s.getColumn(1).getString())});
  }
  return out;
}

void ClientStore::clear_incoming() { db_->exec("DELETE FROM base_incoming"); }

void ClientStore::put_incoming(const std::string& collection, const std::string& record_id, const BaseText& row) {
  SQLite::Statement& s = cached("INSERT OR REPLACE INTO base_incoming (collection, record_id, fields, hlc, field_hlc, deleted, attachments) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?)");
  ResetOnExit done(s);
  bind_base(s, collection, record_id, row);
  s.exec();
}

void ClientStore::swap_in_incoming() {
  db_->exec("DELETE FROM base");
  db_->exec("INSERT INTO base (collection, record_id, fields, hlc, field_hlc, deleted, attachments) "
            "SELECT collection, record_id, fields, hlc, field_hlc, deleted, attachments FROM base_incoming");
  db_->exec("DELETE FROM base_incoming");
}

std::vector<std::pair<std::string, std::string>> ClientStore::all_record_keys() {
  SQLite::Statement& s = cached("SELECT collection, record_id FROM base UNION "
                      "SELECT collection, record_id FROM outbox WHERE op != 3 UNION "
                      "SELECT collection, record_id FROM view");
  ResetOnExit done(s);
  std::vector<std::pair<std::string, std::string>> out;
  while (s.executeStep()) out.emplace_back(s.getColumn(0).getString(), s.getColumn(1).getString());
  return out;
}

void ClientStore::requeue_in_flight() {
  db_->exec("UPDATE outbox SET state=0 WHERE state=1");
}

void ClientStore::insert_tombstone(const Tombstone& t) {
  auto& s = fresh(insert_tombstone_);
  s.bind(1, t.mutation_id);
  s.bind(2, t.collection);
  s.bind(3, t.record_id);
  s.bind(4, t.deleted_at_ms);
  s.exec();
}

void ClientStore::delete_tombstone(const std::string& mutation_id) {
  SQLite::Statement& s = cached("DELETE FROM tombstones WHERE mutation_id=?");
  ResetOnExit done(s);
  s.bind(1, mutation_id);
  s.exec();
}

std::vector<Tombstone> ClientStore::tombstones() {
  SQLite::Statement& s = cached("SELECT collection, record_id, deleted_at, mutation_id FROM tombstones ORDER BY mutation_id");
  ResetOnExit done(s);
  std::vector<Tombstone> out;
  while (s.executeStep()) {
    out.push_back(Tombstone{s.getColumn(0).getString(), s.getColumn(1).getString(),
                            s.getColumn(2).getInt64(), s.getColumn(3).getString()});
  }
  return out;
}

}  // namespace offsync::storage
