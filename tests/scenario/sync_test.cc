// The sync worker against a real Server in this process, through a fault-injecting transport.
#include <doctest/doctest.h>

#include <condition_variable>
#include <thread>

#include "offsync/client.h"
#include "server_support.h"
#include "support.h"
#include "sync_support.h"

using nlohmann::json;
using namespace offsync;
using namespace offsync::test;

namespace {

constexpr const char* kSchema = R"({
  "min_app_version": "1.0.0",
  "collections": {
    "notes": {},
    "orders": {"fields": {"status": {"type": "string", "merge": "escalate"},
                          "qty": {"type": "number"}}}}})";

struct World {
  ScratchDir dir;
  ManualClock clock{1'800'000'000'000};
  std::unique_ptr<Server> server;
  std::shared_ptr<ScriptedTransport> transport;
  std::unique_ptr<Client> client;

  explicit World(SyncOptions sync = {}) {
    ServerOptions so{.db_path = dir.file("server.db")};
    so.schema = *Schema::parse(kSchema);
    server = open_server(std::move(so));
    transport = std::make_shared<ScriptedTransport>(server.get());
    client = open(dir.file("client.db"), sync);
  }

  std::unique_ptr<Client> open(const std::string& path, SyncOptions sync) {
    sync.transport = transport;
    sync.background = false;
    if (sync.app_version.empty()) sync.app_version = "1.4.2";
    if (sync.os_version.empty()) sync.os_version = "Android 14";
    return open_client({.path = path, .clock = &clock, .sync = sync});
  }

  SyncReport sync() {
    auto r = client->sync_once();
    REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
    return *r;
  }

  // Another device writing straight to the server.
  json server_write(const json& m) {
    auto r = server->handle(post_mutation(m, new_key()));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    return body_of(r);
  }

  // The record's HLC on the server, as another device that just pulled would know it.
  std::string server_hlc(const std::string& record) {
    json all = body_of(server->handle(get_sync()));
    for (const auto& c : all["changes"]) {
      if (c["record"] == record) return c["hlc"];
    }
    return "";
  }

  std::vector<json> batch_items() {
    std::vector<json> items;
    for (const auto& r : transport->sent()) {
      if (r.target == "/v1/mutations:batch") {
        json body = json::parse(r.body);
        for (const auto& i : body["mutations"]) items.push_back(i);
      }
    }
    return items;
  }
};

HttpResponse answer(int status, const json& body, std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump();
  for (auto& [k, v] : headers) r.headers.add(k, v);
  return r;
}

}  // namespace

TEST_CASE("three notes created offline drain in ULID order, each with its key, backing off while the server is down") {
  World w;
  std::vector<std::string> ids;
  for (const char* title : {"one", "two", "three"}) ids.push_back(w.client->create("notes", {{"title", title}})->mutation_id);

  w.transport->set_down(true);
  SyncReport down = w.sync();
  CHECK_FALSE(down.reached);
  auto outbox = *w.client->outbox();
  REQUIRE(outbox.size() == 3);
  for (const auto& m : outbox) {
    CHECK(m.state == MutationState::kPending);
    CHECK(m.attempts == 1);  // sent, frozen, outcome unknown
    CHECK(m.next_attempt_at_ms >= w.clock.now_ms());
    CHECK(m.next_attempt_at_ms <= w.clock.now_ms() + 1000);  // full jitter under base 1 s
  }
  CHECK(w.client->sync_status().state == SyncState::kOffline);

  // A second failure may wait up to twice as long.
  w.sync();
  for (const auto& m : *w.client->outbox()) {
    CHECK(m.attempts == 2);
    CHECK(m.next_attempt_at_ms <= w.clock.now_ms() + 2000);
  }

  w.transport->set_down(false);
  w.transport->clear();
  SyncReport up = w.sync();
  CHECK(up.reached);
  CHECK(up.applied == 3);
  CHECK(w.client->outbox()->empty());
  auto items = w.batch_items();
  REQUIRE(items.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(items[i]["idempotency_key"] == ids[i]);
    CHECK(items[i]["id"] == ids[i]);
  }
  CHECK(w.server->stats()->mutations_applied == 3);
}

TEST_CASE("without a batch endpoint, mutations go one by one in ULID order with Idempotency-Key") {
  World w;
  w.transport->set_script([](const HttpRequest& r) -> std::optional<Result<HttpResponse>> {
    if (r.target == "/v1/health") return answer(200, {{"status", "ok"}, {"batch", false}});
    return std::nullopt;
  });
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(*w.client->put("notes", "n" + std::to_string(i), {{"i", i}}));
  CHECK(w.sync().applied == 3);
  std::vector<std::string> keys;
  for (const auto& r : w.transport->sent()) {
    if (r.target == "/v1/mutations") keys.push_back(*r.headers.get("Idempotency-Key"));
  }
  CHECK(keys == ids);
}

TEST_CASE("an outbox larger than one batch drains in ULID order, batch after batch, each key once") {
  World w(SyncOptions{.batch_size = 3});
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(*w.client->put("notes", "n" + std::to_string(i), {{"i", i}}));
  SyncReport report = w.sync();
  CHECK(report.applied == 10);
  CHECK(w.client->outbox()->empty());
  std::vector<std::string> keys;
  for (const auto& item : w.batch_items()) keys.push_back(item["idempotency_key"]);
  CHECK(keys == ids);
  CHECK(w.server->stats()->mutations_applied == 10);
  for (int i = 0; i < 10; ++i) CHECK(w.client->get("notes", "n" + std::to_string(i))->fields == json({{"i", i}}));
}

TEST_CASE("when a batch gets 401 or no answer, the batch prepared behind it is never sent and stays unfrozen") {
  for (bool down : {false, true}) {
    CAPTURE(down);
    World w(SyncOptions{.batch_size = 2});
    for (int i = 0; i < 6; ++i) REQUIRE(w.client->put("notes", "n" + std::to_string(i), {{"i", i}}).is_ok());
    int batches = 0;
    w.transport->set_script([&](const HttpRequest& r) -> std::optional<Result<HttpResponse>> {
      if (r.target != "/v1/mutations:batch" || ++batches < 2) return std::nullopt;
      if (down) return Result<HttpResponse>(Status::transient("connection reset (test)"));
      return answer(401, {{"error", {{"code", "unauthenticated"}, {"message", "token expired"}}}});
    });
    SyncReport report = w.sync();
    CHECK(batches == 2);
    CHECK(report.applied == 2);
    CHECK(report.rejected == 0);
    CHECK(report.paused == !down);
    auto outbox = *w.client->outbox();
    REQUIRE(outbox.size() == 4);
    // The second batch was sent: frozen with its outcome unknown (or refused for auth).
    CHECK(outbox[0].attempts == 1);
    CHECK(outbox[1].attempts == 1);
    // The third was prepared while the second was in flight, and never left.
    CHECK(outbox[2].attempts == 0);
    CHECK(outbox[3].attempts == 0);
    for (const auto& m : outbox) CHECK(m.state == MutationState::kPending);
    // Unfrozen: a later edit folds into it.
    std::string folded = *w.client->patch("notes", "n4", {{"more", true}});
    CHECK(folded == outbox[2].id);
    w.transport->set_script(nullptr);
    w.client->set_token("");
    w.clock.advance(3'600'000);
    CHECK(w.sync().applied == 4);
    CHECK(w.server->stats()->mutations_applied == 6);
    CHECK(w.client->get("notes", "n4")->fields == json({{"i", 4}, {"more", true}}));
  }
}

TEST_CASE("a batch too large for the server is sent again in smaller batches, and nothing is rejected") {
  World w(SyncOptions{.batch_size = 8});
  ServerOptions small{.db_path = w.dir.file("small.db"), .max_batch_items = 3};
  small.schema = *Schema::parse(kSchema);
  auto server = open_server(std::move(small));
  auto transport = std::make_shared<ScriptedTransport>(server.get());
  auto client = open_client({.path = w.dir.file("c.db"), .clock = &w.clock,
                             .sync = SyncOptions{.transport = transport, .background = false, .batch_size = 8}});
  for (int i = 0; i < 10; ++i) REQUIRE(client->put("notes", "n" + std::to_string(i), {{"i", i}}).is_ok());
  auto report = client->sync_once();
  REQUIRE(report.is_ok());
  CHECK(report->applied == 10);
  CHECK(report->rejected == 0);
  CHECK(client->outbox()->empty());
  CHECK(server->stats()->mutations_applied == 10);
  std::vector<size_t> sizes;
  for (const auto& r : transport->sent()) {
    if (r.target == "/v1/mutations:batch") sizes.push_back(json::parse(r.body)["mutations"].size());
  }
  // Halved after each 413 (8, then 4, both refused), then 2 at a time.
  CHECK(sizes == std::vector<size_t>{8, 4, 2, 2, 2, 2, 2});
}

TEST_CASE("Retry-After is honoured for a 503 and a 429") {
  World w;
  REQUIRE(w.client->put("notes", "n1", {{"v", 1}}).is_ok());
  w.transport->set_script([](const HttpRequest& r) -> std::optional<Result<HttpResponse>> {
    if (r.target == "/v1/mutations:batch") return answer(503, {{"error", {{"code", "unavailable"}, {"message", "busy"}}}}, {{"Retry-After", "120"}});
    return std::nullopt;
  });
  SyncReport report = w.sync();
  CHECK(report.reached);
  CHECK(report.transient == 1);
  CHECK(report.transient_left == 1);
  auto m = w.client->outbox()->front();
  CHECK(m.state == MutationState::kPending);
  CHECK(m.next_attempt_at_ms >= w.clock.now_ms() + 120'000);
  CHECK(w.client->sync_status().state == SyncState::kBackingOff);
}

TEST_CASE("an answer lost after the server applied it is retried with the same key and applied once") {
  World w;
  std::string id = *w.client->put("notes", "n1", {{"v", 1}});
  w.transport->set_lose_answers(true);
  w.sync();
  CHECK(w.server->stats()->mutations_applied == 1);
  REQUIRE(w.client->outbox()->size() == 1);
  // A write after the lost answer must not fold into the frozen mutation.
  std::string later = *w.client->patch("notes", "n1", {{"w", 2}});
  CHECK(later != id);
  w.transport->set_lose_answers(false);
  SyncReport report = w.sync();
  CHECK(report.applied == 2);
  CHECK(w.client->outbox()->empty());
  auto stats = w.server->stats();
  CHECK(stats->mutations_applied == 2);
  CHECK(stats->replays == 1);
  CHECK(w.client->get("notes", "n1")->fields == json({{"v", 1}, {"w", 2}}));
}

TEST_CASE("a 409 on an escalate field surfaces for resolution and is never auto-merged") {
  World w;
  REQUIRE(w.client->put("orders", "o1", {{"status", "new"}, {"qty", 1}}).is_ok());
  REQUIRE(w.sync().applied == 1);
  // Another device ships the order; this one, offline, cancels it.
  json other = w.server_write({{"collection", "orders"}, {"record", "o1"}, {"op", "patch"},
                               {"fields", {{"status", "shipped"}}}, {"base", w.server_hlc("o1")}});
  std::string mine = *w.client->patch("orders", "o1", {{"status", "cancelled"}});
  REQUIRE(w.client->put("notes", "n1", {{"v", 1}}).is_ok());  // another record goes on

  struct Seen : SyncObserver {
    std::vector<Mutation> conflicts;
    void on_conflict(const Mutation& m) override { conflicts.push_back(m); }
  };
  auto seen = std::make_shared<Seen>();
  w.client->add_observer(seen);
  SyncReport report = w.sync();
  CHECK(report.conflicts == 1);
  CHECK(report.applied == 1);  // the note
  REQUIRE(seen->conflicts.size() == 1);
  CHECK(seen->conflicts[0].id == mine);
  CHECK(seen->conflicts[0].server_record["fields"]["status"] == "shipped");
  CHECK(w.client->mutation(mine)->state == MutationState::kConflict);

  // A later edit of the same record waits behind the conflict; it is not folded into it either.
  std::string later = *w.client->patch("orders", "o1", {{"qty", 5}});
  CHECK(later != mine);
  w.sync();
  CHECK(w.client->mutation(later)->attempts == 0);
  // Not merged: the app sees the server's status with its pending qty on top, not "cancelled".
  CHECK(w.client->get("orders", "o1")->fields == json({{"status", "shipped"}, {"qty", 5}}));
  CHECK(w.client->summary()->conflicts == 1);

  SUBCASE("keep-mine re-sends my change on top of the server's record, in its place") {
    REQUIRE(w.client->resolve(mine, Resolution::kKeepMine).is_ok());
    auto renewed = *w.client->mutation(mine);
    CHECK(renewed.idempotency_key != mine);
    CHECK(renewed.base_hlc == other["hlc"]);
    CHECK(w.sync().applied == 2);
    CHECK(w.client->outbox()->empty());
    json server_view = body_of(w.server->handle(get_sync()));
    json fields;
    for (const auto& c : server_view["changes"]) {
      if (c["record"] == "o1") fields = c["fields"];
    }
    CHECK(fields == json({{"status", "cancelled"}, {"qty", 5}}));
  }
  SUBCASE("take-server drops my change") {
    REQUIRE(w.client->resolve(mine, Resolution::kTakeServer).is_ok());
    CHECK(w.sync().applied == 1);
    CHECK(w.client->get("orders", "o1")->fields == json({{"status", "shipped"}, {"qty", 5}}));
  }
  SUBCASE("edit sends the record the user settled on") {
    REQUIRE(w.client->resolve(mine, Resolution::kEdited, {{"status", "returned"}, {"qty", 2}}).is_ok());
    CHECK(w.sync().applied == 2);
    CHECK(w.client->get("orders", "o1")->fields == json({{"status", "returned"}, {"qty", 5}}));
  }
}

TEST_CASE("a rejected mutation keeps the server's message, leaves the view, and holds back only its record") {
  World w;
  std::string bad = *w.client->put("orders", "o1", {{"qty", "many"}});  // qty must be a number
  std::string after = *w.client->put("orders", "o2", {{"qty", 2}});
  REQUIRE(w.client->patch("orders", "o1", {{"note", "x"}}).is_ok());  // folds into the unsent put
  SyncReport report = w.sync();
  CHECK(report.rejected == 1);
  CHECK(report.applied == 1);
  auto m = *w.client->mutation(bad);
  CHECK(m.state == MutationState::kRejected);
  CHECK(m.last_error.find("qty must be a number") != std::string::npos);
  CHECK(w.client->get("orders", "o1").status().code() == StatusCode::kNotFound);  // reverted exactly
  CHECK_FALSE(w.client->mutation(after).is_ok());                                 // applied and gone
  REQUIRE(w.client->discard(bad).is_ok());
  CHECK(w.client->summary()->rejected == 0);
}

TEST_CASE("a delete's tombstone is purged when the server acknowledges it") {
  World w;
  REQUIRE(w.client->put("notes", "n1", {{"v", 1}}).is_ok());
  w.sync();
  REQUIRE(w.client->remove("notes", "n1").is_ok());
  CHECK(w.client->tombstones()->size() == 1);
  w.transport->set_down(true);
  w.sync();
  CHECK(w.client->tombstones()->size() == 1);
  w.transport->set_down(false);
  w.sync();
  CHECK(w.client->tombstones()->empty());
  CHECK(w.client->outbox()->empty());
}

TEST_CASE("pull pages until has_more is false, and a pulled change keeps pending local edits on top") {
  World w(SyncOptions{.pull_limit = 3});
  for (int i = 0; i < 10; ++i) {
    w.server_write({{"collection", "notes"}, {"record", "s" + std::to_string(i)}, {"op", "upsert"},
                    {"fields", {{"i", i}}}, {"base", nullptr}});
  }
  SyncReport first = w.sync();
  CHECK(first.pulled == 10);
  CHECK(w.client->list("notes")->size() == 10);
  int pages = 0;
  for (const auto& r : w.transport->sent()) pages += r.target.rfind("/v1/sync", 0) == 0;
  CHECK(pages == 4);

  // A local edit waits offline while another device changes the same record.
  REQUIRE(w.client->patch("notes", "s1", {{"mine", true}}).is_ok());
  w.server_write({{"collection", "notes"}, {"record", "s1"}, {"op", "patch"}, {"fields", {{"theirs", true}}},
                  {"base", nullptr}});
  w.transport->set_script([](const HttpRequest& r) -> std::optional<Result<HttpResponse>> {
    if (r.target.rfind("/v1/mutations", 0) == 0) return Status::transient("push path down (test)");
    return std::nullopt;
  });
  w.sync();  // push fails, nothing pulled (unreachable)
  w.transport->set_script([](const HttpRequest& r) -> std::optional<Result<HttpResponse>> {
    if (r.target.rfind("/v1/mutations", 0) == 0) return answer(503, {{"error", {{"code", "unavailable"}, {"message", "x"}}}});
    return std::nullopt;
  });
  SyncReport second = w.sync();  // push answered 503, pull goes on
  CHECK(second.pulled == 1);
  CHECK(w.client->get("notes", "s1")->fields == json({{"i", 1}, {"theirs", true}, {"mine", true}}));
  CHECK(w.client->outbox()->size() == 1);
}

TEST_CASE("after a cursor rotation the client gets 410, refreshes fully, stores the new cursor and keeps its unsynced mutations") {
  World w;
  for (int i = 0; i < 5; ++i) REQUIRE(w.client->put("notes", "n" + std::to_string(i), {{"i", i}}).is_ok());
  w.sync();
  auto old_cursor = *w.client->cursor();
  REQUIRE(old_cursor.has_value());
  // Meanwhile: the server rotates its cursor encoding, another device deletes n0 and adds x.
  REQUIRE(w.server->rotate_cursor().is_ok());
  w.server_write({{"collection", "notes"}, {"record", "n0"}, {"op", "delete"}, {"base", nullptr}});
  w.server_write({{"collection", "notes"}, {"record", "x"}, {"op", "upsert"}, {"fields", {{"x", 1}}}, {"base", nullptr}});
  // And this device, offline, edits n1 and creates n9.
  w.transport->set_down(true);
  REQUIRE(w.client->patch("notes", "n1", {{"edited", true}}).is_ok());
  REQUIRE(w.client->put("notes", "n9", {{"i", 9}}).is_ok());
  w.sync();
  w.transport->set_down(false);
  // The push must not go first here: hold it back so the pull meets the 410 with mutations pending.
  w.transport->set_script([](const HttpRequest& r) -> std::optional<Result<HttpResponse>> {
    if (r.target.rfind("/v1/mutations", 0) == 0) return answer(503, {{"error", {{"code", "unavailable"}, {"message", "x"}}}});
    return std::nullopt;
  });
  SyncReport report = w.sync();
  CHECK(report.full_refresh);
  auto new_cursor = *w.client->cursor();
  REQUIRE(new_cursor.has_value());
  CHECK(new_cursor->first != old_cursor->first);
  CHECK(w.server->handle(get_sync(new_cursor->first)).status == 200);
  CHECK(w.client->outbox()->size() == 2);
  CHECK(w.client->get("notes", "n1")->fields == json({{"i", 1}, {"edited", true}}));
  CHECK(w.client->get("notes", "n9")->fields == json({{"i", 9}}));
  CHECK(w.client->get("notes", "x").is_ok());
  CHECK_FALSE(w.client->get("notes", "n0").is_ok());
  w.transport->set_script(nullptr);
  CHECK(w.sync().applied == 2);
  CHECK(w.client->outbox()->empty());
}

TEST_CASE("401 and 426 pause the whole queue and reject nothing") {
  World w(SyncOptions{.app_version = "0.9.0"});
  REQUIRE(w.client->put("notes", "n1", {{"v", 1}}).is_ok());
  SyncReport report = w.sync();
  CHECK(report.paused);
  CHECK(report.pause_reason.find("upgrade") != std::string::npos);
  CHECK(w.client->summary()->rejected == 0);
  CHECK(w.client->outbox()->front().state == MutationState::kPending);
  CHECK(w.client->sync_status().state == SyncState::kPaused);

  w.transport->set_script([](const HttpRequest& r) -> std::optional<Result<HttpResponse>> {
    if (r.headers.get("Authorization") != "Bearer good") {
      return answer(401, {{"error", {{"code", "unauthenticated"}, {"message", "token expired"}}}});
    }
    return std::nullopt;
  });
  auto fresh = w.open(w.dir.file("other.db"), SyncOptions{.token = "stale"});
  REQUIRE(fresh->put("notes", "n2", {{"v", 2}}).is_ok());
  auto paused = *fresh->sync_once();
  CHECK(paused.paused);
  CHECK(paused.pause_reason.find("sign in") != std::string::npos);
  CHECK(fresh->summary()->rejected == 0);
  fresh->set_token("good");
  auto resumed = *fresh->sync_once();
  CHECK(resumed.applied == 1);
}

TEST_CASE("queued REST requests go to their own API and their handler gets the outcome") {
  World w;
  w.transport->set_script([](const HttpRequest& r) -> std::optional<Result<HttpResponse>> {
    if (r.target == "https://calendar.example/events") {
      if (!r.headers.get("Idempotency-Key")) return answer(400, {{"error", "no key"}});
      return answer(201, {{"id", "ev1"}, {"title", json::parse(r.body)["title"]}});
    }
    if (r.target == "https://calendar.example/flaky") return answer(503, {{"error", "later"}});
    return std::nullopt;
  });
  std::vector<RestOutcome> outcomes;
  REQUIRE(w.client->register_handler("calendar", "create", [&](const RestOutcome& o) { outcomes.push_back(o); }).is_ok());
  RestRequest r{.module = "calendar", .action = "create", .method = "POST", .url = "https://calendar.example/events",
                .headers = {{"Content-Type", "application/json"}}, .body = R"({"title":"standup"})"};
  std::string id = *w.client->enqueue_request(r);
  r.url = "https://calendar.example/flaky";
  std::string flaky = *w.client->enqueue_request(r);
  SyncReport report = w.sync();
  REQUIRE(outcomes.size() == 1);
  CHECK(outcomes[0].mutation_id == id);
  CHECK(outcomes[0].status == 201);
  CHECK(json::parse(outcomes[0].body)["id"] == "ev1");
  CHECK(report.transient == 1);
  CHECK(w.client->mutation(flaky)->state == MutationState::kPending);
}

TEST_CASE("every sync carries the client's telemetry, and the server aggregates it") {
  World w;
  REQUIRE(w.client->put("orders", "bad", {{"qty", "x"}}).is_ok());
  w.transport->set_down(true);
  w.sync();
  w.transport->set_down(false);
  w.sync();
  std::string header, pushed;
  for (const auto& r : w.transport->sent()) {
    if (r.target.rfind("/v1/sync", 0) == 0) header = r.headers.get("Offsync-Outbox").value_or("");
    if (r.target.rfind("/v1/mutations", 0) == 0) pushed = r.headers.get("Offsync-Outbox").value_or("");
  }
  // The pull reports the outbox as the push left it; the push, as the round found it.
  CHECK(header == "pending=0, oldest_age_s=0, rejected=1");
  CHECK(pushed.starts_with("pending=1, oldest_age_s="));
  CHECK(pushed.ends_with(", rejected=0"));
  auto metrics = w.server->handle(HttpRequest{.method = "GET", .target = "/metrics"}).body;
  CHECK(metrics.find("offsync_sync_requests_total{app_version=\"1.4.2\",os_version=\"Android 14\",outcome=\"success\"} 1") !=
        std::string::npos);
  CHECK(metrics.find("offsync_client_outbox_rejected_count 1") != std::string::npos);
  CHECK(metrics.find("offsync_mutation_failures_total{endpoint=\"/v1/mutations:batch\",category=\"validation\"} 1") !=
        std::string::npos);
}

TEST_CASE("the background worker drains after a write, waits while offline, and drains when back online") {
  World w;
  SyncOptions sync{.transport = w.transport, .background = true, .app_version = "1.4.2"};
  auto client = open_client({.path = w.dir.file("bg.db"), .sync = sync});
  struct Waiter : SyncObserver {
    std::mutex mu;
    std::condition_variable cv;
    int idle_rounds = 0;
    void on_state(const SyncStatus& s) override {
      std::lock_guard<std::mutex> lock(mu);
      if (s.state == SyncState::kIdle) ++idle_rounds;
      cv.notify_all();
    }
    bool wait_idle(int n) {
      std::unique_lock<std::mutex> lock(mu);
      return cv.wait_for(lock, std::chrono::seconds(10), [&] { return idle_rounds >= n; });
    }
  };
  auto waiter = std::make_shared<Waiter>();
  client->add_observer(waiter);
  REQUIRE(client->put("notes", "bg1", {{"v", 1}}).is_ok());
  REQUIRE(waiter->wait_idle(1));
  for (int i = 0; i < 100 && !client->outbox()->empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(client->outbox()->empty());

  client->set_connectivity(Connectivity::kOffline);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  w.transport->clear();
  REQUIRE(client->put("notes", "bg2", {{"v", 2}}).is_ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(w.transport->sent().empty());  // no request, no polling, while offline
  CHECK(client->sync_status().state == SyncState::kOffline);
  client->set_connectivity(Connectivity::kOnline);
  for (int i = 0; i < 250 && !client->outbox()->empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(client->outbox()->empty());
  CHECK(w.server->stats()->mutations_applied == 2);
}
