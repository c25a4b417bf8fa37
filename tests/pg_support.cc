#include "pg_support.h"

#include <unistd.h>

#include <chrono>
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
  // Salted per test process: CTest runs hundreds of processes (and the e2e tests thousands of
  // children), so a pid and with it a ScratchDir path comes back within one run, and a schema named
  // after the path alone would hand a later test the data an earlier one left.
  static const std::string salt =
      std::to_string(::getpid()) + "-" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  std::string schema = "t_" + hex(sha256(salt + "\n" + db_path)).substr(0, 24);
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

std::string store_flag() { return testing_postgres() ? "--postgres" : "--db"; }

std::string store_arg(const std::string& db_path) {
  return testing_postgres() ? test_postgres_for(db_path) : db_path;
}

std::string store_exec_args(const std::string& db_path) {
  // Exec= words: double quotes keep the connection string's spaces and single quotes.
  return " " + store_flag() + " \"" + store_arg(db_path) + "\"";
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

struct StoreWriteLock::Impl {
  std::unique_ptr<SQLite::Database> sqlite;
#if OFFSYNC_WITH_POSTGRES
  std::unique_ptr<pqxx::connection> postgres;
  std::unique_ptr<pqxx::work> turn;
#endif
};

StoreWriteLock::StoreWriteLock(const std::string& db_path) : impl_(std::make_unique<Impl>()) {
  if (!testing_postgres()) {
    impl_->sqlite = std::make_unique<SQLite::Database>(db_path, SQLite::OPEN_READWRITE);
    impl_->sqlite->exec("BEGIN EXCLUSIVE");
    return;
  }
#if OFFSYNC_WITH_POSTGRES
  impl_->postgres = std::make_unique<pqxx::connection>(test_postgres_for(db_path));
  impl_->turn = std::make_unique<pqxx::work>(*impl_->postgres);
  impl_->turn->exec("SELECT value FROM meta WHERE key='seq' FOR UPDATE");  // storage/pg_server_store.h
#endif
}

StoreWriteLock::~StoreWriteLock() {
  try {
    if (impl_->sqlite) impl_->sqlite->exec("ROLLBACK");
  } catch (...) {
  }
}

}  // namespace offsync::test
