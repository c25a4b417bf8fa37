#include "pg_support.h"

#include <cstdlib>

#include <SQLiteCpp/Database.h>

#include "engine/common/crypto.h"

#if OFFSYNC_WITH_POSTGRES
#include <pqxx/pqxx>
#endif

namespace offsync::test {

bool testing_postgres() {
  const char* base = std::getenv("OFFSYNC_TEST_POSTGRES");
  return base && *base;
}

std::string test_postgres_for(const std::string& db_path) {
  if (!testing_postgres()) return "";
#if OFFSYNC_WITH_POSTGRES
  std::string base = std::getenv("OFFSYNC_TEST_POSTGRES");
  std::string schema = "t_" + hex(sha256(db_path)).substr(0, 24);
  {
    pqxx::connection c(base);
    pqxx::nontransaction s(c);
    s.exec("SET client_min_messages = warning");
    s.exec("CREATE SCHEMA IF NOT EXISTS " + schema);
  }
  return base + " options='-c search_path=" + schema + "'";
#else
  return "";
#endif
}

void run_in_server_store(const std::string& db_path, const std::string& sqlite_sql, const std::string& postgres_sql) {
  if (!testing_postgres()) {
    SQLite::Database db(db_path, SQLite::OPEN_READWRITE);
    db.exec(sqlite_sql);
    return;
  }
#if OFFSYNC_WITH_POSTGRES
  pqxx::connection c(test_postgres_for(db_path));
  pqxx::nontransaction s(c);
  s.exec(postgres_sql);
#endif
}

}  // namespace offsync::test
