// Several server processes on one database (issue 13). Each Server here has its own connection,
// clock and in-memory state, as a process has: on SQLite they share a file, and in the "pg:" run
// (scripts/test) a PostgreSQL schema.
#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "offsync/clock.h"
#include "offsync/server.h"
#include "pg_support.h"
#include "server_support.h"
#include "support.h"

using namespace offsync;
using namespace offsync::test;
using nlohmann::json;

namespace {

// Pulls from the cursor until the server has nothing more; returns the records seen.
std::vector<std::string> pull(Server& server, std::string& cursor) {
  std::vector<std::string> seen;
  for (int page = 0; page < 100; ++page) {
    json body = body_of(server.handle(get_sync(cursor, 100)));
    for (const auto& change : body["changes"]) seen.push_back(change["record"].get<std::string>());
    cursor = body.value("cursor", cursor);
    if (!body.value("has_more", false)) break;
  }
  return seen;
}

// A validator that holds its write transaction open (the request inside it) until opened.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, opened = false;
  RecordValidator validator() {
    return [this](const json&) -> std::optional<SchemaViolation> {
      std::unique_lock<std::mutex> lock(mu);
      entered = true;
      cv.notify_all();
      cv.wait(lock, [&] { return opened; });
      return std::nullopt;
    };
  }
  bool wait_entered() {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(10), [&] { return entered; });
  }
  void open() {
    {
      std::lock_guard<std::mutex> lock(mu);
      opened = true;
    }
    cv.notify_all();
  }
};

}  // namespace

TEST_CASE("two server processes on one database apply each key once, whichever process the retries reach") {
  ScratchDir dir;
  auto a = open_server({.db_path = dir.file("shared.db"), .durability = Durability::kNormal});
  auto b = open_server({.db_path = dir.file("shared.db"), .durability = Durability::kNormal});
  // A retry reaching the other process gets the stored answer.
  std::string key = new_key();
  auto first = a->handle(post_mutation(note_upsert("n1", {{"v", 1}}), key));
  REQUIRE(first.status == 200);
  auto retry = b->handle(post_mutation(note_upsert("n1", {{"v", 1}}), key));
  CHECK(retry.status == 200);
  CHECK(retry.headers.get("Idempotent-Replayed") == std::optional<std::string>("true"));
  CHECK(retry.body == first.body);
  // Many retries at once, spread over both: one effect.
  std::string racing = new_key();
  std::atomic<int> applied{0}, replayed{0}, in_progress{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      Server& to = i % 2 ? *a : *b;
      HttpResponse r = i % 4 < 2 ? to.handle(post_mutation(note_upsert("n2", {{"v", 2}}), racing))
                                 : to.handle(post_batch(json::array({[&] {
                                     json item = note_upsert("n2", {{"v", 2}});
                                     item["idempotency_key"] = racing;
                                     return item;
                                   }()})));
      json body = body_of(r);
      int status = r.status;
      bool replay = r.headers.get("Idempotent-Replayed").has_value();
      if (body.contains("results")) {
        status = body["results"][0]["status"];
        replay = body["results"][0].value("replayed", false);
      }
      if (status == 200 && !replay) ++applied;
      else if (status == 200) ++replayed;
      else if (status == 409) ++in_progress;
      else ++other;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(applied == 1);
  CHECK(other == 0);
  CHECK(applied + replayed + in_progress == 8);
  CHECK(a->stats()->mutations_applied == 2);
  CHECK(b->stats()->mutations_applied == 2);
}

TEST_CASE("a change committed late by a slow transaction is never skipped by a cursor that moved past others") {
  ScratchDir dir;
  // Process A's validator of "slow" holds its write transaction open until released.
  Gate gate;
  ServerOptions slow_options{.db_path = dir.file("shared.db"), .durability = Durability::kNormal};
  slow_options.validators["slow"] = gate.validator();
  auto a = open_server(std::move(slow_options));
  auto b = open_server({.db_path = dir.file("shared.db"), .durability = Durability::kNormal});
  // The device pulls from a third process: B's one connection waits for the write turn with its
  // request (a process serves its requests in turn).
  auto c = open_server({.db_path = dir.file("shared.db"), .durability = Durability::kNormal});
  REQUIRE(b->handle(post_mutation(note_upsert("before", {{"v", 0}}), new_key())).status == 200);
  std::string cursor;
  CHECK(pull(*c, cursor) == std::vector<std::string>{"before"});

  json slow = {{"collection", "slow"}, {"record", "s1"}, {"op", "upsert"}, {"fields", {{"v", 1}}}};
  std::thread held([&] { CHECK(a->handle(post_mutation(slow, new_key())).status == 200); });
  REQUIRE(gate.wait_entered());
  // Meanwhile process B takes another write, and a device pulls from B.
  std::atomic<bool> quick_done{false};
  std::thread quick([&] {
    auto answer = b->handle(post_mutation(note_upsert("quick", {{"v", 2}}), new_key()));
    CHECK_MESSAGE(answer.status == 200, answer.body);
    quick_done = true;
  });
  std::vector<std::string> seen;
  for (int i = 0; i < 5; ++i) {
    for (auto& r : pull(*c, cursor)) seen.push_back(r);
    std::this_thread::sleep_for(std::chrono::milliseconds(40));
  }
  // B's write cannot commit a change-log position above the held one before it commits: the
  // device has seen neither.
  CHECK(seen.empty());
  CHECK_FALSE(quick_done);
  gate.open();
  held.join();
  quick.join();
  for (auto& r : pull(*c, cursor)) seen.push_back(r);
  // Both, in the order they committed: nothing skipped.
  CHECK(seen == std::vector<std::string>{"s1", "quick"});
}

TEST_CASE("a write through a process whose clock is behind still comes after the record's last change") {
  // The record's HLC orders its versions: a device keeps the newer of two versions by it (a
  // replayed answer against a pull), and an escalate field conflicts when its HLC is above the
  // edit's base. A process whose clock is behind must still stamp its change above the last one.
  ScratchDir dir;
  ManualClock ahead{1'900'000'000'000 + 3'600'000}, behind{1'900'000'000'000};
  auto a = open_server({.db_path = dir.file("shared.db"), .durability = Durability::kNormal, .clock = &ahead});
  auto b = open_server({.db_path = dir.file("shared.db"), .durability = Durability::kNormal, .clock = &behind});
  auto hlc_of = [&](Server& s) { return body_of(s.handle(get_sync("", 100)))["changes"][0]["hlc"].get<std::string>(); };
  REQUIRE(a->handle(post_mutation(note_upsert("n1", {{"title", "first"}}), new_key())).status == 200);
  std::string first = hlc_of(*a);
  // Later in real time, through the process whose wall clock is an hour behind.
  json patch = {{"collection", "notes"}, {"record", "n1"}, {"op", "patch"}, {"fields", {{"title", "second"}}}};
  REQUIRE(b->handle(post_mutation(patch, new_key())).status == 200);
  std::string second = hlc_of(*a);
  CHECK(second > first);
  CHECK(body_of(a->handle(get_sync("", 100)))["changes"][0]["fields"]["title"] == "second");
  // And a third write, back on A, is after both.
  json again = {{"collection", "notes"}, {"record", "n1"}, {"op", "patch"}, {"fields", {{"title", "third"}}}};
  REQUIRE(a->handle(post_mutation(again, new_key())).status == 200);
  CHECK(hlc_of(*b) > second);
  CHECK(body_of(b->handle(get_sync("", 100)))["changes"][0]["fields"]["title"] == "third");
}

TEST_CASE("a retry reaching another process while the first attempt runs answers 409 at once") {
  // The in-flight rule across processes holds where processes share a PostgreSQL database; on a
  // SQLite file a second process waits for the write turn instead (docs/operations.md).
  if (!testing_postgres()) return;
  ScratchDir dir;
  Gate gate;
  ServerOptions slow_options{.db_path = dir.file("shared.db"), .durability = Durability::kNormal};
  slow_options.validators["slow"] = gate.validator();
  auto a = open_server(std::move(slow_options));
  auto b = open_server({.db_path = dir.file("shared.db"), .durability = Durability::kNormal});
  json slow = {{"collection", "slow"}, {"record", "s1"}, {"op", "upsert"}, {"fields", {{"v", 1}}}};
  std::string key = new_key();
  HttpResponse first;
  std::thread held([&] { first = a->handle(post_mutation(slow, key)); });
  REQUIRE(gate.wait_entered());
  // While A holds the key: B answers the retry, alone or in a batch, without waiting for A.
  std::atomic<bool> answered{false};
  HttpResponse single, batched;
  std::thread retry([&] {
    single = b->handle(post_mutation(slow, key));
    json item = slow;
    item["idempotency_key"] = key;
    batched = b->handle(post_batch(json::array({item})));
    answered = true;
  });
  for (int i = 0; i < 500 && !answered; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  bool answered_while_held = answered;
  gate.open();
  held.join();
  retry.join();
  CHECK(answered_while_held);
  CHECK(single.status == 409);
  CHECK(body_of(single)["error"]["code"] == "request_in_progress");
  CHECK(single.headers.get("Retry-After").has_value());
  CHECK(body_of(batched)["results"][0]["status"] == 409);
  // The first attempt then answers, and the retry gets its answer replayed.
  REQUIRE(first.status == 200);
  auto again = b->handle(post_mutation(slow, key));
  CHECK(again.status == 200);
  CHECK(again.headers.get("Idempotent-Replayed") == std::optional<std::string>("true"));
  CHECK(a->stats()->mutations_applied == 1);
}
