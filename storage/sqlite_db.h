// Shared SQLite plumbing for the client and server stores: opening with offsync's pragmas,
// numbered migrations, transactions, and the mapping of SQLite errors onto Status.
//
// Thread safety: a SQLite::Database here is used by one thread at a time (the store's owner
// serialises access).
#pragma once

#include <nlohmann/json.hpp>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>

#include <cstdint>
#include <memory>
#include <string>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "offsync/durability.h"
#include "offsync/status.h"
#include "storage/store.h"

namespace offsync::storage {


// Opens (creating if needed) a database in WAL mode with the durability's synchronous setting.
Result<std::unique_ptr<SQLite::Database>> open_database(const DatabaseOptions& options);

// Brings the database to schema version `up_to` (default: all of `migrations`), one transaction
// per migration, recorded in PRAGMA user_version. Migration i (0-based) makes version i + 1.
// A database newer than this build knows is refused with kCorrupt, never touched.
Status migrate(SQLite::Database& db, const std::vector<std::string_view>& migrations,
               size_t up_to = SIZE_MAX);

// Maps a SQLite failure onto offsync's codes: full disk or quota → kResourceExhausted, a damaged
// file → kCorrupt, a lock held too long → kTransient, anything else → kInternal.
Status status_from_sqlite(const SQLite::Exception& e, std::string_view what);

// BEGIN IMMEDIATE on construction; ROLLBACK on destruction unless commit() succeeded.
class WriteTransaction {
 public:
  explicit WriteTransaction(SQLite::Database& db);
  ~WriteTransaction();
  WriteTransaction(const WriteTransaction&) = delete;
  WriteTransaction& operator=(const WriteTransaction&) = delete;
  void commit();

 private:
  SQLite::Database& db_;
  bool done_ = false;
};

// A prepared statement reset and unbound for reuse.
SQLite::Statement& fresh(SQLite::Statement& statement);

// Resets a cached statement and drops its bindings when the scope ends. A statement left mid-result
// keeps its connection's read snapshot open, and later reads would not see other connections'
// commits; a binding left behind could point at text bound without a copy (bindNoCopy).
class ResetOnExit {
 public:
  explicit ResetOnExit(SQLite::Statement& s) : s_(s) {}
  ~ResetOnExit() {
    s_.tryReset();
    try {
      s_.clearBindings();  // sqlite3_clear_bindings cannot fail; SQLiteCpp still declares a throw
    } catch (...) {
    }
  }
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;

 private:
  SQLite::Statement& s_;
};

// What both stores share: the connection, statements prepared once per SQL text, and the meta
// table (key TEXT PRIMARY KEY, value TEXT) every store schema has.
class SqliteStore {
 public:
  SQLite::Database& db() { return *db_; }
  std::optional<std::string> meta(const std::string& key);
  void set_meta(const std::string& key, const std::string& value);

 protected:
  explicit SqliteStore(std::unique_ptr<SQLite::Database> db) : db_(std::move(db)) {}
  ~SqliteStore() = default;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  // Reset and unbound; reset again by the caller's ResetOnExit.
  SQLite::Statement& cached(const std::string& sql);

  // Bytes [offset, offset + length) of a file stored as chunk rows: `rows` (bound, unstepped)
  // yields (rowid, offset, length(data)) of table's rows in offset order, the first one holding
  // `offset`. Each row's BLOB is read in place (sqlite3_blob_read), never loaded whole; the bytes
  // stop at the first gap.
  std::string read_chunk_rows(SQLite::Statement& rows, const char* table, int64_t offset, int64_t length);

  std::unique_ptr<SQLite::Database> db_;

 private:
  std::unordered_map<std::string, std::unique_ptr<SQLite::Statement>> statements_;  // destroyed before db_
};

}  // namespace offsync::storage
