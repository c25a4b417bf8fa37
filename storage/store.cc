// What a store's failure means (storage/store.h), whichever database threw it.
#include "storage/store.h"

#include <SQLiteCpp/Exception.h>
#include <sqlite3.h>

#if OFFSYNC_WITH_POSTGRES
#include <pqxx/except>

#include "storage/pg_server_store.h"
#endif

#include "storage/server_store.h"
#include "storage/sqlite_db.h"

namespace offsync::storage {

#if OFFSYNC_WITH_POSTGRES
namespace {

// SQLSTATE classes (PostgreSQL, appendix A): 53 insufficient resources (53100 disk full), 08
// connection exceptions, 40 transaction rollback (serialization, deadlock), 57 operator
// intervention (a server shutting down), XX internal error (data corrupted).
Status status_from_postgres(const pqxx::failure& e, std::string_view what) {
  std::string message = std::string(what) + ": " + e.what();
  if (dynamic_cast<const pqxx::broken_connection*>(&e)) return Status::transient(message);
  const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e);
  std::string state = sql ? sql->sqlstate() : "";
  if (state == "53100" || state == "53200") return Status::resource_exhausted(message + " (the database is full)");
  if (state.starts_with("08") || state.starts_with("40") || state.starts_with("57") || state == "53300") {
    return Status::transient(message);
  }
  if (state == "XX001" || state == "XX002") return Status::corrupt(message);
  return Status::internal(message);
}

}  // namespace
#endif

Status store_status(const std::exception& e, std::string_view what) {
  if (const auto* sqlite = dynamic_cast<const SQLite::Exception*>(&e)) return status_from_sqlite(*sqlite, what);
#if OFFSYNC_WITH_POSTGRES
  if (const auto* pg = dynamic_cast<const pqxx::failure*>(&e)) return status_from_postgres(*pg, what);
#endif
  return Status::internal(std::string(what) + ": " + e.what());
}

bool is_store_failure(const std::exception& e) {
  if (dynamic_cast<const SQLite::Exception*>(&e)) return true;
#if OFFSYNC_WITH_POSTGRES
  if (dynamic_cast<const pqxx::failure*>(&e)) return true;
#endif
  return false;
}

bool is_store_full(const std::exception& e) {
  if (const auto* sqlite = dynamic_cast<const SQLite::Exception*>(&e)) return sqlite->getErrorCode() == SQLITE_FULL;
#if OFFSYNC_WITH_POSTGRES
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) return sql->sqlstate() == "53100";
#endif
  return false;
}

Result<std::unique_ptr<ServerStore>> ServerStore::open_postgres(const std::string& conninfo) {
#if OFFSYNC_WITH_POSTGRES
  auto store = PgServerStore::open_postgres(conninfo);
  if (!store) return store.status();
  return std::unique_ptr<ServerStore>(std::move(*store));
#else
  (void)conninfo;
  return Status::invalid_argument("this build of offsync has no PostgreSQL store (configure with -DOFFSYNC_POSTGRES=ON)");
#endif
}

}  // namespace offsync::storage
