// The offline test matrix of the offline spec (../shared/seeds/002): every device state crossed
// with every mutation state, each cell a test that checks the matrix's evidence — the outbox back
// to zero, a rejected mutation showing a human-readable reason, one server result per idempotency
// key, and sync metrics that report app version, OS version and oldest pending age. Time is
// virtual: "the radio returns after 30 minutes" takes milliseconds.
#include <doctest/doctest.h>

#include <memory>
#include <set>
#include <string>

#include "offsync/client.h"
#include "server_support.h"
#include "support.h"
#include "sync_support.h"

using nlohmann::json;
using namespace offsync;
using namespace offsync::test;

namespace {

enum class DeviceState { kForegroundRadioOff, kBackgroundRadioBackAfter30Minutes, kKilledWithPendingRows };
enum class MutationCase { kCreate, kUpdate, kDelete, kDuplicateRetry, kStaleUpdateLww, kStaleUpdateEscalate };

constexpr const char* kSchema = R"({"collections": {
  "notes": {},
  "tasks": {"required": ["title"], "fields": {"status": {"type": "string", "merge": "escalate"}}}}})";
constexpr int64_t kThirtyMinutesMs = 30LL * 60 * 1000;

struct Cell {
  ScratchDir dir;
  ManualClock clock{1'900'000'000'000};
  std::unique_ptr<Server> server;
  std::shared_ptr<ScriptedTransport> radio;
  std::unique_ptr<Client> app;
  int direct_writes = 0;  // another device's, straight on the server
  DeviceState device;

  explicit Cell(DeviceState d) : device(d) {
    ServerOptions so{.db_path = dir.file("server.db"), .durability = Durability::kNormal, .clock = &clock};
    so.schema = *Schema::parse(kSchema);
    server = open_server(std::move(so));
    radio = std::make_shared<ScriptedTransport>(server.get());
    open_app();
  }

  void open_app() {
    SyncOptions sync{.transport = radio, .background = device != DeviceState::kKilledWithPendingRows};
    sync.app_version = "2.3.1";
    sync.os_version = "Android 14";
    sync.backoff_base_ms = 60'000;  // a real wait of a minute or more, unless time is virtual
    app = open_client({.path = dir.file("app.db"), .durability = Durability::kNormal, .clock = &clock, .sync = sync});
  }

  // Another device edits the record on the server.
  void edit_elsewhere(const std::string& collection, const std::string& record, const json& fields) {
    json body = {{"collection", collection}, {"record", record}, {"op", "patch"}, {"fields", fields},
                 {"base", server_record(collection, record)["hlc"]}};  // that device is up to date
    REQUIRE(server->handle(post_mutation(body, new_key())).status == 200);
    ++direct_writes;
  }

  json server_record(const std::string& collection, const std::string& record) {
    json page = body_of(server->handle(get_sync()));
    for (const auto& c : page["changes"]) {
      if (c["collection"] == collection && c["record"] == record) return c;
    }
    return nullptr;
  }

  std::vector<Mutation> outbox() { return app->outbox().value(); }

  // Every key the app sent (single requests' header, batch items' member).
  std::set<std::string> keys_sent() {
    std::set<std::string> keys;
    for (const auto& r : radio->sent()) {
      if (auto key = r.headers.get("Idempotency-Key")) keys.insert(*key);
      if (r.path() != "/v1/mutations:batch") continue;
      json body = json::parse(r.body, nullptr, false);
      if (!body.is_object() || !body.contains("mutations")) continue;
      for (const auto& item : body["mutations"]) keys.insert(item.value("idempotency_key", std::string()));
    }
    keys.erase("");
    return keys;
  }
};

// The app works offline, then the radio comes back in the way the device state says.
void go_offline(Cell& c) {
  c.radio->set_down(true);
  if (c.device == DeviceState::kForegroundRadioOff) c.app->set_connectivity(Connectivity::kOffline);
}

void come_back(Cell& c) {
  switch (c.device) {
    case DeviceState::kForegroundRadioOff: {
      // The app knew the radio was off: not one request was tried meanwhile.
      CHECK(c.radio->sent().empty());
      c.radio->set_down(false);
      c.app->set_connectivity(Connectivity::kOnline);  // wakes the worker
      break;
    }
    case DeviceState::kBackgroundRadioBackAfter30Minutes: {
      // The worker found no network and backs off (not a request per write).
      CHECK(eventually([&] { return c.app->sync_status().state == SyncState::kOffline; }, 5'000));
      size_t tried = c.radio->sent().size();
      CHECK(tried >= 1);
      CHECK(tried <= 3);
      c.radio->set_down(false);
      c.clock.advance(kThirtyMinutesMs);  // the worker's probe comes due: no real waiting
      break;
    }
    case DeviceState::kKilledWithPendingRows: {
      // The OS kills the app right after its requests left: the server applied them, the app never
      // heard back. A new process opens the same store.
      c.radio->set_down(false);
      c.radio->set_lose_answers(true);
      REQUIRE(c.app->sync_once().is_ok());
      CHECK_FALSE(c.outbox().empty());
      c.app.reset();
      c.radio->set_lose_answers(false);
      c.open_app();
      REQUIRE(c.app->sync_once().is_ok());
      break;
    }
  }
  // Settled: nothing left but the mutations that wait for the user (rejected, in conflict).
  CHECK(eventually([&] {
    if (c.device == DeviceState::kKilledWithPendingRows) (void)c.app->sync_once();
    c.clock.advance(60'000);  // a retry after a lost answer backs off: time passes
    for (const auto& m : c.outbox()) {
      if (m.state != MutationState::kRejected && m.state != MutationState::kConflict) return false;
    }
    return true;
  }, 10'000));
}

void run_cell(DeviceState device, MutationCase mutation) {
  Cell c(device);
  // What the device had before the radio went: two records, synced.
  REQUIRE(c.app->put("notes", "n1", {{"text", "first"}}).is_ok());
  REQUIRE(c.app->put("tasks", "t1", {{"title", "fix the pump"}, {"status", "open"}}).is_ok());
  if (device == DeviceState::kKilledWithPendingRows) REQUIRE(c.app->sync_once().is_ok());
  CHECK(eventually([&] { return c.outbox().empty() && c.server_record("tasks", "t1").is_object(); }, 10'000));
  c.radio->clear();

  go_offline(c);
  std::string mine;
  switch (mutation) {
    case MutationCase::kCreate: mine = c.app->put("notes", "n2", {{"text", "made offline"}}).value(); break;
    case MutationCase::kUpdate: mine = c.app->patch("notes", "n1", {{"text", "edited offline"}}).value(); break;
    case MutationCase::kDelete: mine = c.app->remove("notes", "n1").value(); break;
    case MutationCase::kDuplicateRetry: {
      mine = c.app->put("notes", "n2", {{"text", "sent twice"}}).value();
      // The server applies the first request that arrives, and its answer is lost on the way
      // back: the same keys go again.
      auto answered = std::make_shared<int>(0);
      c.radio->set_script([&c, answered](const HttpRequest& r) -> std::optional<Result<HttpResponse>> {
        if (r.method != "POST" || (*answered)++ > 0) return std::nullopt;
        (void)c.server->handle(r);
        return Result<HttpResponse>(Status::transient("the answer was lost (test)"));
      });
      break;
    }
    case MutationCase::kStaleUpdateLww:
      mine = c.app->patch("notes", "n1", {{"text", "mine"}}).value();
      c.edit_elsewhere("notes", "n1", {{"text", "theirs"}});
      break;
    case MutationCase::kStaleUpdateEscalate:
      mine = c.app->patch("tasks", "t1", {{"status", "done"}}).value();
      c.edit_elsewhere("tasks", "t1", {{"status", "cancelled"}});
      break;
  }
  // In every cell, one write the server will refuse: a task without its title.
  std::string refused = c.app->put("tasks", "t2", {{"status", "open"}}).value();
  CHECK(c.outbox().size() == 2);
  CHECK(c.app->get("tasks", "t2").is_ok());  // the app shows it while it waits

  come_back(c);

  // The refusal, with the server's reason in words, waits for the user, who discards it.
  auto rejected = c.app->mutation(refused);
  REQUIRE(rejected.is_ok());
  CHECK(rejected->state == MutationState::kRejected);
  CHECK(rejected->last_error.find("title") != std::string::npos);
  CHECK(rejected->last_error.find('{') == std::string::npos);
  REQUIRE(c.app->discard(refused).is_ok());
  CHECK_FALSE(c.app->get("tasks", "t2").is_ok());

  switch (mutation) {
    case MutationCase::kCreate:
    case MutationCase::kDuplicateRetry:
      CHECK(c.server_record("notes", "n2")["fields"]["text"] ==
            (mutation == MutationCase::kCreate ? "made offline" : "sent twice"));
      break;
    case MutationCase::kUpdate: CHECK(c.server_record("notes", "n1")["fields"]["text"] == "edited offline"); break;
    case MutationCase::kDelete: {
      CHECK(c.server_record("notes", "n1")["op"] == "delete");
      CHECK(c.app->tombstones()->empty());  // purged once the server acknowledged
      break;
    }
    case MutationCase::kStaleUpdateLww:
      // Merged on the server by ingest order (its HLC): the app's edit arrived last and wins; no conflict.
      CHECK(c.server_record("notes", "n1")["fields"]["text"] == "mine");
      break;
    case MutationCase::kStaleUpdateEscalate: {
      // Never merged automatically: the user sees the conflict with the server's record.
      auto conflict = c.app->mutation(mine);
      REQUIRE(conflict.is_ok());
      CHECK(conflict->state == MutationState::kConflict);
      CHECK(conflict->server_record["fields"]["status"] == "cancelled");
      CHECK(c.server_record("tasks", "t1")["fields"]["status"] == "cancelled");
      REQUIRE(c.app->resolve(mine, Resolution::kKeepMine).is_ok());
      if (device == DeviceState::kKilledWithPendingRows) REQUIRE(c.app->sync_once().is_ok());
      CHECK(eventually([&] { return c.server_record("tasks", "t1")["fields"]["status"] == "done"; }, 10'000));
      break;
    }
  }
  // The outbox is back to zero, and the view is the server's.
  if (device == DeviceState::kKilledWithPendingRows) REQUIRE(c.app->sync_once().is_ok());
  CHECK(eventually([&] { return c.outbox().empty(); }, 10'000));
  // One stored result per idempotency key: every key the app sent (some more than once), and
  // the other device's.
  std::set<std::string> keys = c.keys_sent();
  auto stats = c.server->stats();
  REQUIRE(stats.is_ok());
  CHECK(stats->idempotency_keys == static_cast<int64_t>(keys.size()) + 2 /* before */ + c.direct_writes);
  if (mutation == MutationCase::kDuplicateRetry || device == DeviceState::kKilledWithPendingRows) {
    CHECK(stats->replays >= 1);
  }
  // The sync metric reports the app's version, its OS and its outbox's oldest pending age.
  std::string metrics = c.server->handle(HttpRequest{.method = "GET", .target = "/metrics"}).body;
  CHECK(metrics.find("app_version=\"2.3.1\"") != std::string::npos);
  CHECK(metrics.find("os_version=\"Android 14\"") != std::string::npos);
  CHECK(metrics.find("offsync_client_outbox_oldest_age_seconds_count") != std::string::npos);
  if (device == DeviceState::kBackgroundRadioBackAfter30Minutes) {
    // The first sync after the radio came back reported writes half an hour old.
    // (a bucket line alone would be there for any age: the sum says how old). The push carried
    // it: by the pull, the outbox it speaks of is drained.
    const std::string sum = "offsync_client_outbox_oldest_age_seconds_sum ";
    size_t at = metrics.find(sum);
    REQUIRE(at != std::string::npos);
    CHECK(std::stod(metrics.substr(at + sum.size())) >= 1800.0);
  }
}

}  // namespace

// One test per cell: the device state, then the mutation state.
TEST_CASE("matrix: app in the foreground with the radio off - create") { run_cell(DeviceState::kForegroundRadioOff, MutationCase::kCreate); }
TEST_CASE("matrix: app in the foreground with the radio off - update") { run_cell(DeviceState::kForegroundRadioOff, MutationCase::kUpdate); }
TEST_CASE("matrix: app in the foreground with the radio off - delete") { run_cell(DeviceState::kForegroundRadioOff, MutationCase::kDelete); }
TEST_CASE("matrix: app in the foreground with the radio off - duplicate retry with the same key") { run_cell(DeviceState::kForegroundRadioOff, MutationCase::kDuplicateRetry); }
TEST_CASE("matrix: app in the foreground with the radio off - stale update of an lww field") { run_cell(DeviceState::kForegroundRadioOff, MutationCase::kStaleUpdateLww); }
TEST_CASE("matrix: app in the foreground with the radio off - stale update of an escalate field") { run_cell(DeviceState::kForegroundRadioOff, MutationCase::kStaleUpdateEscalate); }
TEST_CASE("matrix: app in the background, radio back after 30 minutes - create") { run_cell(DeviceState::kBackgroundRadioBackAfter30Minutes, MutationCase::kCreate); }
TEST_CASE("matrix: app in the background, radio back after 30 minutes - update") { run_cell(DeviceState::kBackgroundRadioBackAfter30Minutes, MutationCase::kUpdate); }
TEST_CASE("matrix: app in the background, radio back after 30 minutes - delete") { run_cell(DeviceState::kBackgroundRadioBackAfter30Minutes, MutationCase::kDelete); }
TEST_CASE("matrix: app in the background, radio back after 30 minutes - duplicate retry with the same key") { run_cell(DeviceState::kBackgroundRadioBackAfter30Minutes, MutationCase::kDuplicateRetry); }
TEST_CASE("matrix: app in the background, radio back after 30 minutes - stale update of an lww field") { run_cell(DeviceState::kBackgroundRadioBackAfter30Minutes, MutationCase::kStaleUpdateLww); }
TEST_CASE("matrix: app in the background, radio back after 30 minutes - stale update of an escalate field") { run_cell(DeviceState::kBackgroundRadioBackAfter30Minutes, MutationCase::kStaleUpdateEscalate); }
TEST_CASE("matrix: app killed by the OS with pending outbox rows - create") { run_cell(DeviceState::kKilledWithPendingRows, MutationCase::kCreate); }
TEST_CASE("matrix: app killed by the OS with pending outbox rows - update") { run_cell(DeviceState::kKilledWithPendingRows, MutationCase::kUpdate); }
TEST_CASE("matrix: app killed by the OS with pending outbox rows - delete") { run_cell(DeviceState::kKilledWithPendingRows, MutationCase::kDelete); }
TEST_CASE("matrix: app killed by the OS with pending outbox rows - duplicate retry with the same key") { run_cell(DeviceState::kKilledWithPendingRows, MutationCase::kDuplicateRetry); }
TEST_CASE("matrix: app killed by the OS with pending outbox rows - stale update of an lww field") { run_cell(DeviceState::kKilledWithPendingRows, MutationCase::kStaleUpdateLww); }
TEST_CASE("matrix: app killed by the OS with pending outbox rows - stale update of an escalate field") { run_cell(DeviceState::kKilledWithPendingRows, MutationCase::kStaleUpdateEscalate); }
