// Mutation ids never repeat across restarts, even once the mutations that held the newest ids
// have left the outbox and the clock stepped back (found by offsync-sim, seed 37 of 6 clients x
// 3,000 steps: a reopened client issued an id it had used before, and the relay answered its new
// mutation 422 idempotency_key_reused).
#include <doctest/doctest.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include "offsync/client.h"
#include "offsync/transport.h"
#include "server_support.h"
#include "support.h"

using namespace offsync;
using namespace offsync::test;

namespace {

// A server and an app store that the tests reopen, on a clock they step back.
struct Restarts {
  ScratchDir dir;
  ManualClock clock{1'900'000'000'000};
  std::unique_ptr<Server> server = open_server({.db_path = dir.file("server.db"), .durability = Durability::kNormal});
  std::unique_ptr<Client> open() {
    return open_client({.path = dir.file("app.db"), .durability = Durability::kNormal, .clock = &clock,
                        .sync = {.transport = make_in_process_transport(*server), .background = false}});
  }
};

}  // namespace

TEST_CASE("after its acknowledged mutations left the outbox and the clock stepped back, a reopened client issues ids above them") {
  Restarts world;
  auto& [dir, clock, server] = world;
  auto open = [&] { return world.open(); };
  std::string before;
  {
    auto app = open();
    for (int i = 0; i < 5; ++i) before = app->put("notes", "n" + std::to_string(i), {{"i", i}}).value();
    REQUIRE(app->sync_once()->applied == 5);
    REQUIRE(app->outbox()->empty());
    // A discarded one leaves the outbox too.
    before = app->put("notes", "gone", {{"x", 1}}).value();
    REQUIRE(app->discard(before).is_ok());
  }
  clock.advance(-3600LL * 1000);  // the device's clock is set an hour back
  auto app = open();
  std::string after = app->put("notes", "later", {{"i", 6}}).value();
  CHECK(after > before);
  auto report = app->sync_once();
  REQUIRE(report.is_ok());
  CHECK(report->applied == 1);
  CHECK(server->stats()->replays == 0);  // a new mutation, not taken for a retry
  // A sign-out wipes the outbox, not the high-water mark.
  std::string pending = app->put("notes", "unsent", {{"i", 7}}).value();
  REQUIRE(app->sign_out().is_ok());
  clock.advance(-3600LL * 1000);
  app.reset();
  app = open();
  CHECK(app->put("notes", "fresh", {{"i", 8}}).value() > pending);
}

TEST_CASE("a high-water mark damaged on disk hides no id, is repaired, and ids still go up after the clock stepped back") {
  Restarts world;
  auto& [dir, clock, server] = world;
  auto open = [&] { return world.open(); };
  std::string pending;
  {
    auto app = open();
    for (int i = 0; i < 3; ++i) REQUIRE(app->put("notes", "n" + std::to_string(i), {{"i", i}}).is_ok());
    REQUIRE(app->sync_once()->applied == 3);
    pending = app->put("notes", "unsent", {{"i", 3}}).value();  // still in the outbox
  }
  auto damage = [&] {
    SQLite::Database db(dir.file("app.db"), SQLite::OPEN_READWRITE);
    db.exec("UPDATE meta SET value = 'zzzzzzzzzzzzzzzzzzzzzzzzzz' WHERE key = 'ids.high_water'");  // sorts above any ULID
    REQUIRE(db.getChanges() == 1);
  };
  damage();
  // The mark no longer hides the outbox's newest id: a new id goes above it.
  clock.advance(-3600LL * 1000);
  auto app = open();
  std::string after = app->put("notes", "later", {{"i", 4}}).value();
  CHECK(after > pending);
  REQUIRE(app->sync_once()->applied == 2);
  REQUIRE(app->outbox()->empty());
  CHECK(server->stats()->replays == 0);
  app.reset();
  {
    // Repaired: a ULID again, at or above the newest id issued.
    SQLite::Database db(dir.file("app.db"), SQLite::OPEN_READONLY);
    std::string mark = db.execAndGet("SELECT value FROM meta WHERE key = 'ids.high_water'").getString();
    CHECK(mark.size() == 26);
    CHECK(mark >= after);
  }
  // So the protection holds again with an empty outbox and the clock stepped back once more.
  clock.advance(-3600LL * 1000);
  app = open();
  CHECK(app->put("notes", "again", {{"i", 5}}).value() > after);
}

TEST_CASE("a relay's upstream client never takes a forwarded key for one of its own ids") {
  // Its ids count up from the keys it holds (found by offsync-sim, seed 143 of 6 clients x 3,000
  // steps: a forwarded mutation whose key equalled an id of the relay's own was skipped as
  // "already queued", and never reached the cloud).
  ScratchDir dir;
  auto lane = open_client({.path = dir.file("lane.db"), .durability = Durability::kNormal, .coalesce = false});
  auto first = lane->forward({{"01KA0000000000000000000001", "notes", "a", MutationOp::kUpsert, {{"v", 1}}, {}}});
  REQUIRE(first.is_ok());
  CHECK(*first == 1);
  std::string own_id = lane->outbox()->front().id;
  auto second = lane->forward({{own_id, "notes", "b", MutationOp::kUpsert, {{"v", 2}}, {}}});
  REQUIRE(second.is_ok());
  CHECK(*second == 1);
  auto again = lane->forward({{own_id, "notes", "b", MutationOp::kUpsert, {{"v", 2}}, {}}});
  CHECK(*again == 0);  // the same key twice is still one mutation
  CHECK(lane->outbox()->size() == 2);
}
