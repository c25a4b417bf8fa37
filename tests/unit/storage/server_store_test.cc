#include <doctest/doctest.h>

#include "storage/sqlite_server_store.h"
#include "storage/sqlite_db.h"
#include "support.h"

using namespace offsync;

TEST_CASE("a new server store gets 8 KiB pages, and a store made with 4 KiB pages keeps them and opens") {
  test::ScratchDir dir;
  {
    auto fresh = storage::SqliteServerStore::open_sqlite({.path = dir.file("new.db")});
    REQUIRE(fresh.is_ok());
    CHECK((*fresh)->db().execAndGet("PRAGMA page_size").getInt() == storage::kServerPageSize);
  }
  {
    // As earlier builds made it: SQLite's default page size, schema in place.
    auto old = storage::open_database({.path = dir.file("old.db"), .page_size = 4096});
    REQUIRE(old.is_ok());
    REQUIRE(storage::migrate(**old, storage::kServerMigrations).is_ok());
  }
  auto reopened = storage::SqliteServerStore::open_sqlite({.path = dir.file("old.db")});
  REQUIRE(reopened.is_ok());
  CHECK((*reopened)->db().execAndGet("PRAGMA page_size").getInt() == 4096);
  CHECK((*reopened)->db().execAndGet("PRAGMA journal_mode").getString() == "wal");
  CHECK((*reopened)->counts().changes == 0);
}

TEST_CASE("a relay's senders and outcomes go with the stored answers, and only the old ones") {
  test::ScratchDir dir;
  auto store = storage::ServerStore::open({.path = dir.file("relay.db")});
  REQUIRE(store.is_ok());
  auto& s = **store;
  s.put_relay_sender("alice", "K1", "C1", 1'000);
  s.put_relay_sender("alice", "K2", "C1", 9'000);
  s.put_relay_sender("bob", "K1", "C2", 9'000);  // keys are per principal
  s.put_relay_outcome("alice", 1, "K1", "C1", R"({"state":"rejected"})", 1'000);
  s.put_relay_outcome("alice", 2, "K2", "C1", R"({"state":"conflict"})", 9'000);
  CHECK(s.relay_sender("alice", "K1") == "C1");
  CHECK(s.relay_sender("bob", "K1") == "C2");
  CHECK(s.sweep_relay(5'000) == 2);
  CHECK(s.relay_sender("alice", "K1").empty());
  CHECK(s.relay_sender("alice", "K2") == "C1");
  CHECK(s.relay_sender("bob", "K1") == "C2");
  auto left = s.relay_outcomes("alice", "C1", 0, INT64_MAX);
  REQUIRE(left.size() == 1);
  CHECK(left[0].first == 2);
}

TEST_CASE("a relay's upstream identity: a newer one is taken once, and its tokens are not kept after") {
  test::ScratchDir dir;
  auto store = storage::ServerStore::open({.path = dir.file("relay.db")});
  REQUIRE(store.is_ok());
  auto& s = **store;
  s.put_relay_identity("alice", "cloud-alice", "A1", "R1");
  auto ids = s.relay_identities();
  REQUIRE(ids.size() == 1);
  CHECK(ids[0].version == 1);
  CHECK(ids[0].applied_version == 0);
  CHECK(ids[0].access_token == "A1");
  s.relay_identity_applied("alice", 1, "");
  ids = s.relay_identities();
  CHECK(ids[0].applied_version == 1);
  CHECK(ids[0].access_token.empty());
  CHECK(ids[0].refresh_token.empty());
  s.put_relay_identity("alice", "cloud-alice", "A2", "R2");
  ids = s.relay_identities();
  CHECK(ids[0].version == 2);
  CHECK(ids[0].access_token == "A2");
  // A taking of version 1 that finishes late does not blank version 2.
  s.relay_identity_applied("alice", 1, "");
  CHECK(s.relay_identities()[0].access_token == "A2");
}
