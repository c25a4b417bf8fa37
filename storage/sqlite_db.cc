#include "storage/sqlite_db.h"

#include <sqlite3.h>

namespace offsync::storage {

Result<std::unique_ptr<SQLite::Database>> open_database(const DatabaseOptions& options) {
  if (options.path.empty()) return Status::invalid_argument("database path is empty");
  return guarded("open " + options.path, [&]() -> Result<std::unique_ptr<SQLite::Database>> {
    auto db = std::make_unique<SQLite::Database>(
        options.path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_FULLMUTEX);
    db->setBusyTimeout(options.busy_timeout_ms);
    // Reading the header here turns "not a database" into an error at open, not at first use.
    // Only a database not yet created takes a page size (WAL mode fixes it): set before the first write.
    if (options.page_size > 0) db->exec("PRAGMA page_size=" + std::to_string(options.page_size));
    db->exec("PRAGMA journal_mode=WAL");
    db->exec(options.durability == Durability::kFull ? "PRAGMA synchronous=FULL"
                                                     : "PRAGMA synchronous=NORMAL");
    db->exec("PRAGMA foreign_keys=ON");
    db->exec("PRAGMA temp_store=MEMORY");
    if (options.max_page_count > 0) {
      db->exec("PRAGMA max_page_count=" + std::to_string(options.max_page_count));
    }
    return db;
  });
}

Status migrate(SQLite::Database& db, const std::vector<std::string_view>& migrations, size_t up_to) {
  return guarded("migrate", [&]() -> Status {
    size_t target = std::min(up_to, migrations.size());
    auto current = static_cast<size_t>(db.execAndGet("PRAGMA user_version").getInt64());
    if (current > migrations.size()) {
      return Status::corrupt("database schema version " + std::to_string(current) +
                             " is newer than this build of offsync knows (" +
                             std::to_string(migrations.size()) + ")");
    }
    for (size_t v = current; v < target; ++v) {
      WriteTransaction tx(db);
      db.exec(std::string(migrations[v]));
      db.exec("PRAGMA user_version=" + std::to_string(v + 1));
      tx.commit();
    }
    return Status::ok();
  });
}

Status status_from_sqlite(const SQLite::Exception& e, std::string_view what) {
  std::string message = std::string(what) + ": " + e.what();
  switch (e.getErrorCode()) {
    case SQLITE_FULL: return Status::resource_exhausted(message + " (the disk or the store's quota is full)");
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return Status::corrupt(message);
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return Status::transient(message);
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM: return Status::invalid_argument(message);
    default: return Status::internal(message);
  }
}

WriteTransaction::WriteTransaction(SQLite::Database& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }

WriteTransaction::~WriteTransaction() {
  if (done_) return;
  try {
    db_.exec("ROLLBACK");
  } catch (...) {
    // SQLite rolls back by itself after some errors (SQLITE_FULL among them); nothing is left to undo.
  }
}

void WriteTransaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

SQLite::Statement& SqliteStore::cached(const std::string& sql) {
  auto& slot = statements_[sql];
  if (!slot) slot = std::make_unique<SQLite::Statement>(*db_, sql);
  return fresh(*slot);
}

std::optional<std::string> SqliteStore::meta(const std::string& key) {
  SQLite::Statement& s = cached("SELECT value FROM meta WHERE key=?");
  ResetOnExit done(s);
  s.bind(1, key);
  if (!s.executeStep()) return std::nullopt;
  return s.getColumn(0).getString();
}

void SqliteStore::set_meta(const std::string& key, const std::string& value) {
  SQLite::Statement& s = cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)");
  ResetOnExit done(s);
  s.bind(1, key);
  s.bind(2, value);
  s.exec();
}

SQLite::Statement& fresh(SQLite::Statement& statement) {
  // tryReset: after a failed step, reset() would throw that old error again and fail this use
  // too; the failure was reported when it happened.
  statement.tryReset();
  statement.clearBindings();
  return statement;
}

}  // namespace offsync::storage
