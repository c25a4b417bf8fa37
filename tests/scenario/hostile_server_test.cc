// The sync worker against broken and malicious servers: every answer such a server could give
// leaves the client running, its outbox intact and the reason visible. Each case was found
// against an earlier build (issue 8).
#include <doctest/doctest.h>

#include <atomic>
#include <future>
#include <thread>

#include <SQLiteCpp/SQLiteCpp.h>

#include "offsync/client.h"
#include "server_support.h"
#include "support.h"
#include "sync_support.h"

using nlohmann::json;
using namespace offsync;
using namespace offsync::test;

namespace {

constexpr int64_t kHour = 3600 * 1000;

struct Hostile {
  ScratchDir dir;
  ManualClock clock{1'800'000'000'000};
  std::unique_ptr<Server> server;
  std::shared_ptr<ScriptedTransport> transport;
  std::unique_ptr<Client> client;
  std::vector<std::string> logged;
  std::mutex log_mu;

  explicit Hostile(bool background = false) {
    server = open_server({.db_path = dir.file("server.db")});
    transport = std::make_shared<ScriptedTransport>(server.get());
    client = open(background);
  }

  std::unique_ptr<Client> open(bool background = false) {
    ClientOptions o{.path = dir.file("client.db"), .clock = &clock};
    o.sync.transport = transport;
    o.sync.background = background;
    o.log = [this](LogLevel, std::string_view component, std::string_view message) {
      std::lock_guard<std::mutex> lock(log_mu);
      logged.push_back(std::string(component) + ": " + std::string(message));
    };
    return open_client(std::move(o));
  }

  // Answers every request to `target` with `answer`, after letting the server apply it when
  // `forward` is set (a body garbled or cut after the server applied it).
  void answer_with(const std::string& target, std::function<HttpResponse(const HttpResponse&)> make, bool forward) {
    auto inner = make_in_process_transport(*server);
    std::shared_ptr<Transport> shared(std::move(inner));
    transport->set_script([=](const HttpRequest& r) -> std::optional<Result<HttpResponse>> {
      if (r.path() != target) return std::nullopt;
      HttpResponse real;
      if (forward) real = *shared->send(r);
      return make(real);
    });
  }

  // Every mutation is still in the outbox, pending, its reason stored.
  void check_outbox_intact(size_t expected, const std::string& reason_part) {
    auto outbox = *client->outbox();
    REQUIRE(outbox.size() == expected);
    for (const auto& m : outbox) {
      CHECK(m.state == MutationState::kPending);
      CHECK_MESSAGE(m.last_error.find(reason_part) != std::string::npos, m.last_error);
    }
  }

  // The real server answers again: everything settles, each mutation applied once.
  void heal_and_check(int64_t applied_before_heal) {
    transport->set_script(nullptr);
    auto report = client->sync_once();
    REQUIRE(report.is_ok());
    CHECK(client->outbox()->empty());
    CHECK(server->stats()->mutations_applied == applied_before_heal);
  }
};

HttpResponse html(int status = 200) {
  HttpResponse r;
  r.status = status;
  r.headers.set("Content-Type", "text/html");
  r.body = "<html><body>Sign in to the hotel Wi-Fi</body></html>";
  return r;
}

// Writes one put, one patch and one delete (of a record the server has) and returns nothing.
void three_kinds(Hostile& h) {
  REQUIRE(h.client->put("notes", "gone", {{"t", "x"}}).is_ok());
  REQUIRE(h.client->put("notes", "edited", {{"t", "x"}}).is_ok());
  REQUIRE(h.client->sync_once().is_ok());
  REQUIRE(h.client->put("notes", "new", {{"t", "n"}}).is_ok());
  REQUIRE(h.client->patch("notes", "edited", {{"t", "y"}}).is_ok());
  REQUIRE(h.client->remove("notes", "gone").is_ok());
}

}  // namespace

TEST_CASE("a captive portal answering 200 text/html to a batch acknowledges nothing") {
  Hostile h;
  three_kinds(h);
  h.answer_with("/v1/mutations:batch", [](const HttpResponse&) { return html(); }, false);
  auto report = h.client->sync_once();
  REQUIRE(report.is_ok());
  CHECK(report->applied == 0);
  CHECK(report->rejected == 0);
  CHECK(report->transient == 3);
  h.check_outbox_intact(3, "unreadable answer");
  CHECK(h.client->get("notes", "gone").status().code() == StatusCode::kNotFound);  // still deleted locally
  CHECK(h.server->stats()->mutations_applied == 2);
  h.heal_and_check(5);
  CHECK(h.server->stats()->tombstones == 1);  // the delete reached the server
}

TEST_CASE("a batch answer cut short or garbled after the server applied it is settled by the replay") {
  std::vector<std::pair<const char*, std::function<HttpResponse(const HttpResponse&)>>> breakages = {
      {"cut short", [](const HttpResponse& real) {
         HttpResponse r = real;
         r.body = r.body.substr(0, r.body.size() / 2);
         return r;
       }},
      {"no results", [](const HttpResponse& real) {
         HttpResponse r = real;
         r.body = R"({"ok": true})";
         return r;
       }},
      {"wrong types", [](const HttpResponse& real) {
         HttpResponse r = real;
         r.body = R"({"results": [{"status": "200", "body": 7}, {"status": 1e300, "body": []}, {"status": -5}]})";
         return r;
       }},
      {"one result short", [](const HttpResponse& real) {
         json body = json::parse(real.body);
         body["results"].erase(body["results"].size() - 1);
         HttpResponse r = real;
         r.body = body.dump();
         return r;
       }},
      {"items that are not applied records", [](const HttpResponse& real) {
         json body = json::parse(real.body);
         for (auto& item : body["results"]) item["body"] = {{"status", "applied"}, {"record", 42}};
         HttpResponse r = real;
         r.body = body.dump();
         return r;
       }},
      {"nested 100,000 deep", [](const HttpResponse& real) {
         HttpResponse r = real;
         r.body = "{\"results\":" + std::string(100'000, '[') + std::string(100'000, ']') + "}";
         return r;
       }},
  };
  for (const auto& [name, breakage] : breakages) {
    CAPTURE(name);
    Hostile h;
    three_kinds(h);
    h.answer_with("/v1/mutations:batch", breakage, true);
    auto report = h.client->sync_once();
    REQUIRE(report.is_ok());
    CHECK(report->applied == 0);
    CHECK(report->rejected == 0);
    CHECK(h.client->outbox()->size() == 3);
    for (const auto& m : *h.client->outbox()) CHECK(m.state == MutationState::kPending);
    CHECK(h.server->stats()->mutations_applied == 5);  // the server did apply them
    h.heal_and_check(5);                               // and the replay settles them, none twice
  }
}

TEST_CASE("a single-endpoint 200 that is not an applied record leaves the mutation pending") {
  Hostile h;
  REQUIRE(h.client->put("notes", "doomed", {{"t", 1}}).is_ok());
  REQUIRE(h.client->sync_once().is_ok());
  h.client.reset();
  h.client = h.open();  // a new process asks /v1/health again
  h.transport->set_script([](const HttpRequest& r) -> std::optional<Result<HttpResponse>> {
    if (r.path() == "/v1/health") {
      HttpResponse ok;
      ok.body = R"({"status":"ok","batch":false})";
      return ok;
    }
    if (r.path() == "/v1/mutations") return html();
    return std::nullopt;
  });
  REQUIRE(h.client->remove("notes", "doomed").is_ok());
  auto report = h.client->sync_once();
  REQUIRE(report.is_ok());
  CHECK(report->applied == 0);
  h.check_outbox_intact(1, "unreadable answer");
}

TEST_CASE("an absurd Retry-After neither throws out of sync_once nor stops the background worker") {
  Hostile h;
  REQUIRE(h.client->put("notes", "n", {{"t", 1}}).is_ok());
  h.answer_with("/v1/mutations:batch", [](const HttpResponse&) {
    HttpResponse r;
    r.status = 503;
    r.headers.set("Retry-After", "99999999999999999999");
    r.body = R"({"error":{"code":"unavailable","message":"busy"}})";
    return r;
  }, false);
  auto report = h.client->sync_once();
  REQUIRE(report.is_ok());
  auto m = h.client->outbox()->front();
  CHECK(m.next_attempt_at_ms <= h.clock.now_ms() + 12 * kHour);
  CHECK(m.next_attempt_at_ms >= h.clock.now_ms() + 12 * kHour - 1000);
  h.client.reset();
  h.client = h.open(true);  // the worker runs a round at start and meets the same header
  h.client->sync_now();
  for (int i = 0; i < 200 && h.client->sync_status().state != SyncState::kBackingOff; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(h.client->sync_status().state == SyncState::kBackingOff);
}

TEST_CASE("a pull that fails says why and is not a completed sync") {
  std::vector<std::pair<const char*, HttpResponse>> pages;
  pages.emplace_back("html", html());
  HttpResponse error;
  error.status = 500;
  error.body = R"({"error":{"code":"internal","message":"boom"}})";
  pages.emplace_back("500", error);
  HttpResponse stuck;
  stuck.body = R"({"changes":[],"cursor":"c1","has_more":true})";
  pages.emplace_back("has_more without moving", stuck);
  HttpResponse deep;
  deep.body = "{\"changes\":" + std::string(100'000, '[') + std::string(100'000, ']') + ",\"cursor\":\"x\"}";
  pages.emplace_back("deep", deep);
  for (const auto& [name, page] : pages) {
    CAPTURE(name);
    Hostile h;
    HttpResponse answer = page;
    h.transport->set_script([answer](const HttpRequest& r) -> std::optional<Result<HttpResponse>> {
      if (r.path() == "/v1/sync") return answer;
      return std::nullopt;
    });
    auto report = h.client->sync_once();
    REQUIRE(report.is_ok());
    CHECK(report->reached);
    CHECK_FALSE(report->pull_complete);
    CHECK_FALSE(report->pull_failure.empty());
  }
}

TEST_CASE("a store that cannot be written stops the round with its error instead of spinning") {
  Hostile h;
  for (int i = 0; i < 3; ++i) REQUIRE(h.client->put("notes", "n" + std::to_string(i), {{"i", i}}).is_ok());
  {
    SQLite::Database raw(h.dir.file("client.db"), SQLite::OPEN_READWRITE);
    raw.exec("CREATE TRIGGER full_disk BEFORE UPDATE ON outbox BEGIN SELECT RAISE(FAIL, 'database or disk is full (test)'); END");
  }
  auto round = std::async(std::launch::async, [&] { return h.client->sync_once(); });
  if (round.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    FAIL("sync_once() did not return within 20 s: the worker spins on a store fault");
    std::quick_exit(1);
  }
  auto report = round.get();
  CHECK_FALSE(report.is_ok());
  CHECK(report.status().message().find("disk is full") != std::string::npos);
  CHECK(h.client->sync_status().state == SyncState::kBackingOff);
  CHECK(h.client->sync_status().next_attempt_at_ms > h.clock.now_ms());
  CHECK(h.client->outbox()->size() == 3);
  bool told = false;
  for (const auto& line : h.logged) told = told || line.find("disk is full") != std::string::npos;
  CHECK(told);
}

TEST_CASE("observers hear that the client went offline") {
  Hostile h(true);
  struct States : SyncObserver {
    std::atomic<bool> offline{false};
    void on_state(const SyncStatus& s) override {
      if (s.state == SyncState::kOffline) offline = true;
    }
  };
  auto states = std::make_shared<States>();
  h.client->add_observer(states);
  h.client->set_connectivity(Connectivity::kOffline);
  for (int i = 0; i < 200 && !states->offline; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(states->offline);
  CHECK(h.client->sync_status().state == SyncState::kOffline);
}

TEST_CASE("a clock stepped back between two runs keeps the outbox in the order the user wrote") {
  Hostile h;
  REQUIRE(h.client->put("notes", "r", {{"v", 1}}).is_ok());
  REQUIRE(h.client->sync_once().is_ok());
  std::string deleted = *h.client->remove("notes", "r");
  h.client.reset();
  h.clock.advance(-kHour);  // the user fixed the time, or the RTC died
  h.client = h.open();
  std::string again = *h.client->put("notes", "r", {{"v", 2}});
  CHECK(again > deleted);
  std::string second = *h.client->put("notes", "s", {{"v", 1}});
  std::string third = *h.client->put("notes", "s", {{"v", 2}});
  CHECK(second > deleted);
  CHECK(third >= second);
  REQUIRE(h.client->sync_once().is_ok());
  REQUIRE(h.client->sync_once().is_ok());
  CHECK(h.client->outbox()->empty());
  json all = body_of(h.server->handle(get_sync()));
  std::map<std::string, json> live;
  for (const auto& c : all["changes"]) {
    if (c["op"] == "upsert") live[c["record"]] = c["fields"];
  }
  CHECK(live["r"] == json({{"v", 2}}));
  CHECK(live["s"] == json({{"v", 2}}));
}

TEST_CASE("an observer that throws is logged and neither stops the round nor the other observers") {
  Hostile h;
  struct Thrower : SyncObserver {
    void on_view_changed(const std::vector<std::pair<std::string, std::string>>&) override {
      throw std::runtime_error("the app's observer failed");
    }
    void on_state(const SyncStatus&) override { throw 42; }
  };
  struct Counter : SyncObserver {
    int changed = 0;
    void on_view_changed(const std::vector<std::pair<std::string, std::string>>& r) override {
      changed += static_cast<int>(r.size());
    }
  };
  auto counter = std::make_shared<Counter>();
  h.client->add_observer(std::make_shared<Thrower>());
  h.client->add_observer(counter);
  REQUIRE(h.client->put("notes", "n", {{"v", 1}}).is_ok());
  // Another device's record, which the pull brings: the view changes (the acknowledgement of "n",
  // which the view already showed, is no news to observers).
  REQUIRE(h.server->handle(post_mutation({{"collection", "notes"}, {"record", "elsewhere"}, {"op", "upsert"},
                                          {"fields", {{"v", 9}}}},
                                         new_key()))
              .status == 200);
  auto report = h.client->sync_once();
  REQUIRE(report.is_ok());
  CHECK(report->applied == 1);
  CHECK(h.client->outbox()->empty());
  CHECK(counter->changed >= 1);
  bool told = false;
  for (const auto& line : h.logged) told = told || line.find("the app's observer failed") != std::string::npos;
  CHECK(told);
}
