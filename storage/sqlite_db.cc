#include "storage/sqlite_db.h"

#include <sqlite3.h>

#include <chrono>
#include <thread>

namespace offsync::storage {

namespace {

Status too_new(size_t version, size_t known) {
  return Status::corrupt("database schema version " + std::to_string(version) +
                         " is newer than this build of offsync knows (" + std::to_string(known) +
                         "); it was left as it is");
}

// Switching a new store to WAL takes an exclusive lock, and SQLite answers SQLITE_BUSY at once
// (without its busy handler) while another process opening the same new store holds one: retried
// within the busy timeout. A store already in WAL is left alone.
void enable_wal(SQLite::Database& db, int busy_timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(busy_timeout_ms);
  while (true) {
    try {
      if (db.execAndGet("PRAGMA journal_mode").getString() != "wal") db.exec("PRAGMA journal_mode=WAL");
      return;
    } catch (const SQLite::Exception& e) {
      bool busy = e.getErrorCode() == SQLITE_BUSY || e.getErrorCode() == SQLITE_LOCKED;
      if (!busy || std::chrono::steady_clock::now() >= deadline) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
}

}  // namespace

Result<std::unique_ptr<SQLite::Database>> open_database(const DatabaseOptions& options) {
  if (options.path.empty()) return Status::invalid_argument("database path is empty");
  return guarded("open " + options.path, [&]() -> Result<std::unique_ptr<SQLite::Database>> {
    auto db = std::make_unique<SQLite::Database>(
        options.path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_FULLMUTEX, 0, options.vfs);
    db->setBusyTimeout(options.busy_timeout_ms);
    // A store written by a newer build is refused before anything here changes it (journal mode
    // included): that build may still open it.
    if (options.known_schema_versions > 0) {
      auto version = static_cast<size_t>(db->execAndGet("PRAGMA user_version").getInt64());
      if (version > options.known_schema_versions) return too_new(version, options.known_schema_versions);
    }
    // Reading the header here turns "not a database" into an error at open, not at first use.
    // Only a database not yet created takes a page size (WAL mode fixes it): set before the first write.
    if (options.page_size > 0) db->exec("PRAGMA page_size=" + std::to_string(options.page_size));
    enable_wal(*db, options.busy_timeout_ms);
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
    while (true) {
      // The version is read inside the write transaction: another process opening the same new
      // store at the same moment migrates it first, and this one then sees its work.
      WriteTransaction tx(db);
      auto current = static_cast<size_t>(db.execAndGet("PRAGMA user_version").getInt64());
      if (current > migrations.size()) return too_new(current, migrations.size());
      if (current >= target) return Status::ok();
      db.exec(std::string(migrations[current]));
      db.exec("PRAGMA user_version=" + std::to_string(current + 1));
      tx.commit();
    }
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

std::string SqliteStore::read_chunk_rows(SQLite::Statement& rows, const char* table, int64_t offset, int64_t length) {
  std::string out;
  int64_t end = offset + length;
  while (out.size() < static_cast<size_t>(std::max<int64_t>(length, 0)) && rows.executeStep()) {
    int64_t rowid = rows.getColumn(0).getInt64();
    int64_t row_offset = rows.getColumn(1).getInt64();
    int64_t size = rows.getColumn(2).getInt64();
    int64_t from = std::max(offset, row_offset), to = std::min(end, row_offset + size);
    if (from != offset + static_cast<int64_t>(out.size())) break;  // a gap
    if (to <= from) continue;
    sqlite3_blob* blob = nullptr;
    if (sqlite3_blob_open(db_->getHandle(), "main", table, "data", rowid, 0, &blob) != SQLITE_OK) {
      sqlite3_blob_close(blob);
      throw SQLite::Exception(db_->getHandle());
    }
    size_t at = out.size();
    out.resize(at + static_cast<size_t>(to - from));
    int rc = sqlite3_blob_read(blob, out.data() + at, static_cast<int>(to - from), static_cast<int>(from - row_offset));
    sqlite3_blob_close(blob);
    if (rc != SQLITE_OK) throw SQLite::Exception(db_->getHandle(), rc);
  }
  return out;
}

}  // namespace offsync::storage

