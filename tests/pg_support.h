// The server tests against PostgreSQL (issue 13): with OFFSYNC_TEST_POSTGRES set (a libpq
// connection string to a throwaway cluster, scripts/pg-cluster), every server a test opens with
// open_server() (server_support.h) stores in PostgreSQL instead of its SQLite file: a schema of
// its own per db_path, so that a test that reopens "the same file" finds the same data.
#pragma once

#include <string>

namespace offsync::test {

// "" without OFFSYNC_TEST_POSTGRES; else that connection string with a search_path of a schema
// named after db_path (created if missing).
std::string test_postgres_for(const std::string& db_path);

// Whether the tests run against PostgreSQL.
bool testing_postgres();

// Runs SQL in the store of the server opened at db_path, whichever it is (a fault planted by a
// test: a trigger, a dropped table): `sqlite_sql` in its SQLite file, or `postgres_sql` in its schema.
void run_in_server_store(const std::string& db_path, const std::string& sqlite_sql, const std::string& postgres_sql);

}  // namespace offsync::test
