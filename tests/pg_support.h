// The server tests against PostgreSQL (issue 13): with OFFSYNC_TEST_POSTGRES set (a libpq
// connection string to a throwaway cluster, scripts/pg-cluster), every server a test opens with
// open_server() (server_support.h) stores in PostgreSQL instead of its SQLite file: a schema of
// its own per db_path, so that a test that reopens "the same file" finds the same data.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace offsync::test {

// "" without OFFSYNC_TEST_POSTGRES; else that connection string with a search_path of a schema
// named after db_path (created if missing).
std::string test_postgres_for(const std::string& db_path);

// Whether the tests run against PostgreSQL.
bool testing_postgres();

// The command-line option that opens a server store (`offsync serve|admin|auth`) and its value for
// the store of db_path: "--db" and db_path, or in the "pg:" run "--postgres" and the connection
// string of db_path's schema.
std::string store_flag();
std::string store_arg(const std::string& db_path);
// The same as words of a service file's Exec= line, with a leading space (quoted as it parses).
std::string store_exec_args(const std::string& db_path);

// Runs SQL in the store of the server opened at db_path, whichever it is (a fault planted by a
// test: a trigger, a dropped table): `sqlite_sql` in its SQLite file, or `postgres_sql` in its schema.
void run_in_server_store(const std::string& db_path, const std::string& sqlite_sql, const std::string& postgres_sql);

// Holds the write lock of the server store at db_path, as another process would (a backup, an
// `admin` command), until destroyed: SQLite's BEGIN EXCLUSIVE, or PostgreSQL's write turn.
class StoreWriteLock {
 public:
  explicit StoreWriteLock(const std::string& db_path);
  ~StoreWriteLock();
  StoreWriteLock(const StoreWriteLock&) = delete;
  StoreWriteLock& operator=(const StoreWriteLock&) = delete;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace offsync::test
