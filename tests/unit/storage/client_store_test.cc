#include <SQLiteCpp/Database.h>
#include <doctest/doctest.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <thread>

#include "offsync/client.h"
#include "storage/client_store.h"
#include "storage/sqlite_db.h"
#include "support.h"

using namespace offsync;

TEST_CASE("a store made by schema 1 opens with the current build and keeps its outbox") {
  test::ScratchDir dir;
  std::string path = dir.file("old.db");
  {
    auto old = storage::ClientStore::open({path}, 1);  // stops at schema 1
    REQUIRE_FALSE(old.is_ok());
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    CHECK(db.execAndGet("PRAGMA user_version").getInt() == 1);
    db.exec("INSERT INTO view VALUES ('notes', 'n1', '{\"v\":1}')");
    db.exec("INSERT INTO outbox (id, collection, record_id, op, payload, created_at) "
            "VALUES ('01ARZ3NDEKTSV4RRFFQ69G5FAV', 'notes', 'n1', 0, '{\"v\":1}', 1000)");
  }
  auto client = test::open_client({.path = path});
  auto outbox = client->outbox();
  REQUIRE(outbox->size() == 1);
  CHECK(outbox->front().id == "01ARZ3NDEKTSV4RRFFQ69G5FAV");
  CHECK(outbox->front().module.empty());
  CHECK(client->get("notes", "n1")->fields == nlohmann::json({{"v", 1}}));
  // Schema 2's table is there and usable.
  RestRequest r{.module = "m", .action = "a", .url = "/x"};
  CHECK(client->enqueue_request(r).is_ok());
  SQLite::Database db(path);
  CHECK(db.execAndGet("PRAGMA user_version").getInt() == static_cast<int>(storage::kClientMigrations.size()));
}

TEST_CASE("a store from a newer offsync is refused, untouched") {
  test::ScratchDir dir;
  std::string path = dir.file("new.db");
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("PRAGMA user_version=99");
  }
  auto client = Client::open({.path = path});
  REQUIRE_FALSE(client.is_ok());
  CHECK(client.status().code() == StatusCode::kCorrupt);
  CHECK(client.status().message().find("newer") != std::string::npos);
  SQLite::Database db(path);
  CHECK(db.execAndGet("PRAGMA user_version").getInt() == 99);
  CHECK(db.execAndGet("PRAGMA journal_mode").getString() == "delete");  // not switched to WAL first
}

TEST_CASE("many openers of one new store at the same moment all succeed") {
  for (int round = 0; round < 10; ++round) {
    test::ScratchDir dir;
    std::string path = dir.file("shared.db");
    std::vector<std::thread> openers;
    std::atomic<int> failures{0};
    std::string first_error;
    std::mutex mu;
    for (int i = 0; i < 6; ++i) {
      openers.emplace_back([&] {
        auto client = Client::open({.path = path});
        if (!client) {
          ++failures;
          std::lock_guard<std::mutex> lock(mu);
          first_error = client.status().to_string();
        }
      });
    }
    for (auto& t : openers) t.join();
    CHECK_MESSAGE(failures == 0, first_error);
  }
}

TEST_CASE("a Result built from an OK status holds an internal error, not a missing value") {
  Result<int> wrong(Status::ok());
  CHECK_FALSE(wrong.is_ok());
  CHECK(wrong.status().code() == StatusCode::kInternal);
}

TEST_CASE("a file that is not a database is refused with kCorrupt") {
  test::ScratchDir dir;
  std::string path = dir.file("junk.db");
  std::ofstream(path) << std::string(4096, 'j');
  auto client = Client::open({.path = path});
  REQUIRE_FALSE(client.is_ok());
  CHECK(client.status().code() == StatusCode::kCorrupt);
}

TEST_CASE("an unwritable path is refused with a message naming it") {
  auto client = Client::open({.path = "/nonexistent-dir/x/c.db"});
  REQUIRE_FALSE(client.is_ok());
  CHECK(client.status().message().find("/nonexistent-dir/x/c.db") != std::string::npos);
}

TEST_CASE("the durability setting picks SQLite's synchronous mode, in WAL") {
  test::ScratchDir dir;
  auto full = storage::open_database({dir.file("f.db"), Durability::kFull});
  auto normal = storage::open_database({dir.file("n.db"), Durability::kNormal});
  REQUIRE(full.is_ok());
  REQUIRE(normal.is_ok());
  CHECK((*full)->execAndGet("PRAGMA journal_mode").getString() == "wal");
  CHECK((*full)->execAndGet("PRAGMA synchronous").getInt() == 2);    // FULL
  CHECK((*normal)->execAndGet("PRAGMA synchronous").getInt() == 1);  // NORMAL
}
