#include <doctest/doctest.h>

#include "storage/server_store.h"
#include "storage/sqlite_db.h"
#include "support.h"

using namespace offsync;

TEST_CASE("a new server store gets 8 KiB pages, and a store made with 4 KiB pages keeps them and opens") {
  test::ScratchDir dir;
  {
    auto fresh = storage::ServerStore::open({.path = dir.file("new.db")});
    REQUIRE(fresh.is_ok());
    CHECK((*fresh)->db().execAndGet("PRAGMA page_size").getInt() == storage::kServerPageSize);
  }
  {
    // As earlier builds made it: SQLite's default page size, schema in place.
    auto old = storage::open_database({.path = dir.file("old.db"), .page_size = 4096});
    REQUIRE(old.is_ok());
    REQUIRE(storage::migrate(**old, storage::kServerMigrations).is_ok());
  }
  auto reopened = storage::ServerStore::open({.path = dir.file("old.db")});
  REQUIRE(reopened.is_ok());
  CHECK((*reopened)->db().execAndGet("PRAGMA page_size").getInt() == 4096);
  CHECK((*reopened)->db().execAndGet("PRAGMA journal_mode").getString() == "wal");
  CHECK((*reopened)->counts().changes == 0);
}
