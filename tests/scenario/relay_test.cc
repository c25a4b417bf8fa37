// Relay mode: a server half on the device that answers its local clients at once and is itself a
// client of the cloud (engine/server/relay.cc).
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <filesystem>
#include <set>
#include <thread>

#include "offsync/transport.h"
#include "pg_support.h"
#include "server_support.h"
#include "support.h"
#include "sync_support.h"

using nlohmann::json;
using namespace offsync;
using namespace offsync::test;

namespace {

struct Device {
  ScratchDir dir;
  std::unique_ptr<Server> cloud;
  std::shared_ptr<ScriptedTransport> uplink;  // the relay's way to the cloud
  std::unique_ptr<Server> relay;
  std::unique_ptr<Client> math;               // a client app of the relay

  Device() {
    cloud = open_server({.db_path = dir.file("cloud.db"), .durability = Durability::kNormal});
    uplink = std::make_shared<ScriptedTransport>(cloud.get());
    open_relay();
    math = open_client({.path = dir.file("math.db"), .durability = Durability::kNormal,
                        .sync = {.transport = make_in_process_transport(*relay), .background = false}});
  }
  void open_relay() {
    ServerOptions o{.db_path = dir.file("lms.db"), .durability = Durability::kNormal};
    o.upstream.transport = uplink;
    o.upstream.pull_min_interval_ms = 0;
    relay = open_server(std::move(o));
  }
  int64_t cloud_applied() { return cloud->stats()->mutations_applied; }
  // A fresh cloud with these rules (the relay has none of its own), and task t1 ("open") written
  // by the math app through the relay and applied there.
  void cloud_with_rules_and_task(const char* schema) {
    relay.reset();
    cloud = open_server({.db_path = dir.file("cloud2.db"), .schema = *Schema::parse(schema)});
    uplink = std::make_shared<ScriptedTransport>(cloud.get());
    open_relay();
    math = on_relay("math2");
    REQUIRE(math->put("tasks", "t1", {{"status", "open"}, {"title", "fix"}}).is_ok());
    REQUIRE(math->sync_once()->applied == 1);
    REQUIRE(eventually([&] { return cloud_applied() == 1; }));
  }
  // Another device, straight on the cloud; another app of the relay on this device.
  std::unique_ptr<Client> on_cloud(const std::string& name) { return client_of(*cloud, name); }
  std::unique_ptr<Client> on_relay(const std::string& name) { return client_of(*relay, name); }
  std::unique_ptr<Client> client_of(Server& server, const std::string& name) {
    return open_client({.path = dir.file(name + ".db"),
                        .sync = {.transport = make_in_process_transport(server), .background = false}});
  }
};

}  // namespace

TEST_CASE("relay: with the cloud down the relay answers at once, and every write reaches the cloud once it returns") {
  Device d;
  d.uplink->set_down(true);
  for (int i = 0; i < 100; ++i) REQUIRE(d.math->put("notes", "n" + std::to_string(i), {{"i", i}}).is_ok());
  auto report = d.math->sync_once();
  REQUIRE(report.is_ok());
  CHECK(report->applied == 100);
  CHECK(d.math->summary()->pending == 0);  // the math app's outbox is empty: the relay has them
  CHECK(d.cloud_applied() == 0);
  // The relay says what it holds for upstream, in its stats and its metrics.
  // (For a moment after a hand-over commits upstream, its rows are still counted here too.)
  CHECK(eventually([&] {
    auto s = d.relay->stats();
    return s->relay_upstream_pending == 100 && s->relay_handed_over == 0;
  }));
  auto stats = d.relay->stats();
  CHECK(stats->relay);
  CHECK(stats->relay_oldest_pending_created_at_ms.has_value());
  CHECK(eventually([&] {
    std::string metrics = d.relay->handle(HttpRequest{.method = "GET", .target = "/metrics"}).body;
    return metrics.find("offsync_relay_upstream_pending 100\n") != std::string::npos;
  }));
  int64_t back_at = system_clock().now_ms();
  d.uplink->set_down(false);
  (void)d.math->sync_once();  // a local pull wakes the relay's upstream round
  CHECK(eventually([&] { return d.cloud_applied() == 100; }));
  CHECK(eventually([&] { return d.relay->stats()->relay_upstream_pending == 0; }));
  CHECK(eventually([&] { return d.relay->stats()->relay_last_upstream_contact_ms.value_or(0) >= back_at; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(d.cloud_applied() == 100);  // once each
  auto record = d.cloud->handle(get_sync());
  CHECK(body_of(record)["changes"].size() == 100);
}

TEST_CASE("relay: a change made on the cloud by another device reaches the client app through the relay") {
  Device d;
  REQUIRE(d.math->put("notes", "shared", {{"v", 1}}).is_ok());
  REQUIRE(d.math->sync_once()->applied == 1);
  REQUIRE(eventually([&] { return d.cloud_applied() == 1; }));
  auto other = d.on_cloud("other");
  REQUIRE(other->sync_once().is_ok());
  REQUIRE(other->patch("notes", "shared", {{"v", 2}, {"by", "cloud"}}).is_ok());
  REQUIRE(other->put("notes", "fresh", {{"new", true}}).is_ok());
  REQUIRE(other->sync_once()->applied == 2);
  CHECK(eventually([&] {
    (void)d.math->sync_once();
    auto shared = d.math->get("notes", "shared");
    auto fresh = d.math->get("notes", "fresh");
    return shared && shared->fields == json{{"v", 2}, {"by", "cloud"}} && fresh.is_ok();
  }));
  // The relay's own write did not come back to the cloud as a new mutation.
  CHECK(d.cloud_applied() == 3);
}

TEST_CASE("relay: a mutation that reaches the cloud through the relay and directly is applied once") {
  Device d;
  d.uplink->set_down(true);
  auto id = d.math->put("notes", "twice", {{"v", 1}});
  REQUIRE(id.is_ok());
  auto m = d.math->mutation(*id);
  REQUIRE(d.math->sync_once()->applied == 1);  // to the relay, which cannot forward it yet
  // The math app, later online without the LMS, sends the same mutation straight to the cloud.
  auto direct = d.on_cloud("direct");
  json body = {{"id", *id}, {"collection", "notes"}, {"record", "twice"}, {"op", "upsert"},
               {"fields", {{"v", 1}}}, {"base", nullptr}};
  REQUIRE(d.cloud->handle(post_mutation(body, *id)).status == 200);
  d.uplink->set_down(false);
  (void)d.math->sync_once();
  CHECK(eventually([&] { return d.cloud->stats()->replays == 1; }));
  CHECK(d.cloud_applied() == 1);
}

TEST_CASE("relay: mutations handed over survive a restart of the relay before the cloud is back") {
  Device d;
  d.uplink->set_down(true);
  for (int i = 0; i < 20; ++i) REQUIRE(d.math->put("notes", "r" + std::to_string(i), {{"i", i}}).is_ok());
  REQUIRE(d.math->sync_once()->applied == 20);
  d.math.reset();
  d.relay.reset();  // the LMS app is stopped
  d.uplink->set_down(false);
  d.open_relay();   // and started again: its upstream outbox still holds the 20
  CHECK(eventually([&] { return d.cloud_applied() == 20; }));
}

TEST_CASE("relay: an escalate conflict and a refusal on the cloud reach the client app as if the cloud had answered") {
  Device d;
  // The cloud's rules: an escalate field, and a required one; the relay has none of its own.
  d.cloud_with_rules_and_task(R"({"collections": {"tasks": {"fields": {"status": {"merge": "escalate"}}},
                                  "orders": {"required": ["title"]}}})");

  d.uplink->set_down(true);  // the device goes offline
  auto other = d.on_cloud("web");
  REQUIRE(other->sync_once().is_ok());
  REQUIRE(other->patch("tasks", "t1", {{"status", "closed"}}).is_ok());
  REQUIRE(other->sync_once()->applied == 1);
  auto edit = d.math->patch("tasks", "t1", {{"status", "blocked"}});
  auto order = d.math->put("orders", "o1", {{"qty", 2}});  // no title: the cloud refuses it
  REQUIRE(d.math->sync_once()->applied == 2);              // the relay accepted both
  CHECK(d.math->summary()->pending == 0);

  d.uplink->set_down(false);
  REQUIRE(eventually([&] {
    (void)d.math->sync_once();
    auto s = d.math->summary();
    return s->conflicts == 1 && s->rejected == 1;
  }));
  auto conflict = d.math->mutation(*edit);
  REQUIRE(conflict.is_ok());
  CHECK(conflict->state == MutationState::kConflict);
  CHECK(conflict->server_record["fields"]["status"] == "closed");
  auto refused = d.math->mutation(*order);
  CHECK(refused->state == MutationState::kRejected);
  CHECK(refused->last_error.find("title") != std::string::npos);
  CHECK(d.math->get("tasks", "t1")->fields["status"] == "closed");  // upstream's state, shown
  CHECK_FALSE(d.math->get("orders", "o1").is_ok());
  // Another app on the same relay sees upstream's state, and none of the math app's refusals.
  auto quiz = d.on_relay("quiz");
  REQUIRE(quiz->sync_once().is_ok());
  CHECK(quiz->get("tasks", "t1")->fields["status"] == "closed");
  CHECK(quiz->summary()->conflicts == 0);
  CHECK(quiz->summary()->rejected == 0);
  CHECK(quiz->outbox()->empty());

  // Resolved from the client app: my edit wins, through the relay, on the cloud.
  REQUIRE(d.math->resolve(*edit, Resolution::kKeepMine).is_ok());
  REQUIRE(d.math->discard(*order).is_ok());
  REQUIRE(d.math->sync_once()->applied == 1);
  CHECK(eventually([&] {
    (void)other->sync_once();
    auto t = other->get("tasks", "t1");
    return t && t->fields["status"] == "blocked";
  }));
  CHECK(d.math->summary()->pending == 0);
}

TEST_CASE("relay: an app's edit of a cloud change it had not seen escalates on the cloud, though the relay pulled that change first") {
  Device d;
  d.cloud_with_rules_and_task(R"({"collections": {"tasks": {"fields": {"status": {"merge": "escalate"}}}}})");

  // On the web: t1 closed, t2 created. The relay pulls both for another app on the device, while
  // the math app (in the background) still shows t1 open and has never heard of t2.
  auto web = d.on_cloud("web");
  REQUIRE(web->sync_once().is_ok());
  REQUIRE(web->patch("tasks", "t1", {{"status", "closed"}}).is_ok());
  REQUIRE(web->put("tasks", "t2", {{"status", "assigned"}}).is_ok());
  REQUIRE(web->sync_once()->applied == 2);
  auto quiz = d.on_relay("quiz");
  REQUIRE(eventually([&] {
    (void)quiz->sync_once();
    auto t1 = quiz->get("tasks", "t1");
    return t1 && t1->fields["status"] == "closed" && quiz->get("tasks", "t2").is_ok();
  }));

  // The math app edits t1's status from "open", and writes a t2 of its own.
  auto edit = d.math->patch("tasks", "t1", {{"status", "blocked"}});
  auto create = d.math->put("tasks", "t2", {{"status", "mine"}});
  REQUIRE(d.math->sync_once()->applied == 2);  // the relay has no rules of its own: it takes both
  REQUIRE(eventually([&] {
    (void)d.math->sync_once();
    return d.math->summary()->conflicts == 2;
  }));
  // Both escalate on the cloud as if the math app had sent them there: neither web value is lost.
  CHECK(d.math->mutation(*edit)->server_record["fields"]["status"] == "closed");
  CHECK(d.math->mutation(*create)->server_record["fields"]["status"] == "assigned");
  REQUIRE(web->sync_once().is_ok());
  CHECK(web->get("tasks", "t1")->fields["status"] == "closed");
  CHECK(web->get("tasks", "t2")->fields["status"] == "assigned");
  CHECK(d.cloud_applied() == 3);
}

TEST_CASE("relay: a local app cannot pass its own note of what it had seen as the relay's") {
  Device d;
  d.cloud_with_rules_and_task(R"({"collections": {"tasks": {"fields": {"status": {"merge": "escalate"}}}}})");
  json page = body_of(d.relay->handle(get_sync()));
  REQUIRE(page["changes"].size() == 1);
  // An edit from the relay's current version, claiming (in the relay's own member) that the
  // status changed unseen: the relay keeps its own account, and the cloud applies the edit.
  json forged = {{"collection", "tasks"}, {"record", "t1"}, {"op", "patch"}, {"fields", {{"status", "blocked"}}},
                 {"base", page["changes"][0]["hlc"]},
                 {"offsync_relay_sender_view", {{"unseen", {"status"}}, {"seen", json::object()}}}};
  REQUIRE(d.relay->handle(post_mutation(forged, new_key())).status == 200);
  CHECK(eventually([&] { return d.cloud_applied() == 2; }));
  json cloud = body_of(d.cloud->handle(get_sync()));
  REQUIRE(cloud["changes"].size() == 1);
  CHECK(cloud["changes"][0]["fields"]["status"] == "blocked");
}

TEST_CASE("relay: an attachment uploaded to the relay goes up to the cloud before the mutation that lists it") {
  Device d;
  d.uplink->set_down(true);
  std::string photo = pattern_bytes(2'300'000, 41);
  auto id = d.math->add_attachment(photo, "image/jpeg");
  REQUIRE(d.math->put("notes", "with-photo", {{"title", "site"}}, {.attachments = {*id}}).is_ok());
  auto report = d.math->sync_once();
  REQUIRE(report.is_ok());
  CHECK(report->attachments_uploaded == 1);
  CHECK(report->applied == 1);
  d.uplink->set_down(false);
  (void)d.math->sync_once();
  CHECK(eventually([&] { return d.cloud_applied() == 1; }));
  HttpResponse on_cloud = d.cloud->handle(HttpRequest{.method = "GET", .target = "/v1/attachments/" + *id});
  CHECK(on_cloud.status == 200);
  CHECK(on_cloud.body == photo);
  CHECK(body_of(d.cloud->handle(get_sync()))["changes"][0]["attachments"] == json{*id});
  // Nothing refused on the way: the file was whole on the cloud before the mutation arrived.
  CHECK(d.cloud->stats()->mutations_applied == 1);
}

TEST_CASE("relay: an update sent through the relay and then directly is applied once, though the routes carry different bases") {
  Device d;
  REQUIRE(d.math->put("notes", "n", {{"v", 1}}).is_ok());
  REQUIRE(d.math->sync_once()->applied == 1);
  CHECK(eventually([&] { return d.cloud_applied() == 1; }));
  (void)d.math->sync_once();  // the relay's record of n, and so the math app's base, is the relay's
  auto id = d.math->patch("notes", "n", {{"v", 2}});
  REQUIRE(id.is_ok());
  auto sent = d.math->mutation(*id);
  REQUIRE(sent.is_ok());
  REQUIRE(sent->base_hlc.has_value());
  REQUIRE(d.math->sync_once()->applied == 1);
  CHECK(eventually([&] { return d.cloud_applied() == 2; }));
  // The same mutation, later sent straight to the cloud with the base the math app had.
  json body = {{"id", *id}, {"collection", "notes"}, {"record", "n"}, {"op", "patch"},
               {"fields", {{"v", 2}}}, {"base", *sent->base_hlc}};
  HttpResponse direct = d.cloud->handle(post_mutation(body, *id));
  CHECK(direct.status == 200);
  CHECK(direct.headers.get("Idempotent-Replayed") == std::optional<std::string>("true"));
  CHECK(d.cloud_applied() == 2);
}

TEST_CASE("relay: a local write may keep listing an attachment that only the cloud holds") {
  Device d;
  auto other = d.on_cloud("other");
  std::string photo = pattern_bytes(300'000, 7);
  auto photo_id = other->add_attachment(photo, "image/png");
  REQUIRE(other->put("notes", "p", {{"title", "from the cloud"}}, {.attachments = {*photo_id}}).is_ok());
  REQUIRE(other->sync_once()->applied == 1);
  CHECK(eventually([&] {
    (void)d.math->sync_once();
    auto seen = d.math->get("notes", "p");
    return seen.is_ok() && seen->fields["title"] == "from the cloud";
  }));
  REQUIRE(d.math->attachments_of("notes", "p").value() == std::vector<std::string>{*photo_id});
  // The relay holds the record, not the photo: a rewrite listing it still goes through.
  REQUIRE(d.math->put("notes", "p", {{"title", "renamed"}}, {.attachments = {*photo_id}}).is_ok());
  auto report = d.math->sync_once();
  REQUIRE(report.is_ok());
  CHECK(report->applied == 1);
  CHECK(report->rejected == 0);
  CHECK(eventually([&] { return d.cloud_applied() == 2; }));
  json page = body_of(d.cloud->handle(get_sync()));
  REQUIRE(page["changes"].size() == 1);
  CHECK(page["changes"][0]["fields"]["title"] == "renamed");
  CHECK(page["changes"][0]["attachments"] == json{*photo_id});
}

namespace {

// The bearer token is the principal: enough to tell users apart in a test.
std::optional<std::string> bearer_is_principal(const HttpRequest& r) {
  auto h = r.headers.get("Authorization");
  if (!h || h->rfind("Bearer ", 0) != 0 || h->size() == 7) return std::nullopt;
  return h->substr(7);
}

std::set<std::string> records_of(Server& server, const std::string& token) {
  std::set<std::string> out;
  json page = body_of(server.handle(get_sync("", 0, token)));
  for (const auto& c : page["changes"]) out.insert(c["record"].get<std::string>());
  return out;
}

}  // namespace

TEST_CASE("relay: each local user's writes go upstream under that user's own identity, and wait until it has one") {
  ScratchDir dir;
  auto cloud = open_server({.db_path = dir.file("cloud.db"), .durability = Durability::kNormal,
                            .authenticate = bearer_is_principal});
  auto uplink = std::make_shared<ScriptedTransport>(cloud.get());
  ServerOptions o{.db_path = dir.file("lms.db"), .durability = Durability::kNormal, .authenticate = bearer_is_principal};
  o.upstream.transport = uplink;
  o.upstream.pull_min_interval_ms = 0;
  SUBCASE("one token for every user is refused") {
    o.upstream.sync.token = "cloud-alice";
    auto refused = Server::open(o);
    REQUIRE_FALSE(refused.is_ok());
    CHECK(refused.status().message().find("another's identity") != std::string::npos);
  }
  SUBCASE("per user") {
    auto relay = open_server(o);
    auto app = [&](const std::string& user) {
      return open_client({.path = dir.file(user + ".db"), .durability = Durability::kNormal,
                          .sync = {.transport = make_in_process_transport(*relay), .background = false, .token = user}});
    };
    auto alice = app("alice"), bob = app("bob");
    REQUIRE(relay->set_upstream_credentials("alice", {"cloud-alice", "cloud-alice", ""}).is_ok());
    REQUIRE(alice->put("notes", "a1", {{"by", "alice"}}).is_ok());
    REQUIRE(bob->put("notes", "b1", {{"by", "bob"}}).is_ok());
    REQUIRE(alice->sync_once()->applied == 1);
    REQUIRE(bob->sync_once()->applied == 1);  // the relay answers bob at once all the same
    CHECK(eventually([&] { return records_of(*cloud, "cloud-alice") == std::set<std::string>{"a1"}; }));
    // Bob has no upstream identity yet: his write waits on the relay, under nobody else's.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    CHECK(records_of(*cloud, "cloud-bob").empty());
    CHECK(records_of(*cloud, "cloud-alice") == std::set<std::string>{"a1"});
    CHECK(relay->stats()->relay_handed_over == 1);
    CHECK(relay->has_upstream_work());
    REQUIRE(relay->set_upstream_credentials("bob", {"cloud-bob", "cloud-bob", ""}).is_ok());
    CHECK(eventually([&] { return records_of(*cloud, "cloud-bob") == std::set<std::string>{"b1"}; }));
    CHECK(eventually([&] { return !relay->has_upstream_work(); }));
    CHECK(relay->stats()->relay_upstream_identities == 2);
    // Downstream too: bob's cloud change reaches bob through the relay, and never alice.
    REQUIRE(cloud->handle(post_mutation({{"collection", "notes"}, {"record", "b2"}, {"op", "upsert"},
                                         {"fields", {{"by", "bob elsewhere"}}}},
                                        new_key(), "cloud-bob"))
                .status == 200);
    CHECK(eventually([&] {
      (void)bob->sync_once();
      return bob->get("notes", "b2").is_ok();
    }));
    (void)alice->sync_once();
    CHECK(alice->get("notes", "b2").status().code() == StatusCode::kNotFound);
    CHECK(alice->get("notes", "b1").status().code() == StatusCode::kNotFound);
    CHECK(alice->get("notes", "a1").is_ok());
    // Each user's upstream store is its own file (and no shared one exists with auth on).
    int upstream_stores = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir.file(""))) {
      std::string name = entry.path().filename().string();
      if (name.rfind("lms.db.upstream-", 0) == 0 && name.size() == 32) ++upstream_stores;  // not -wal, -shm
    }
    CHECK(upstream_stores == 2);
    CHECK_FALSE(std::filesystem::exists(dir.file("lms.db.upstream")));
  }
}

TEST_CASE("relay: a photo another device put on the cloud reaches the math app, fetched upstream on its first download") {
  Device d;
  auto other = d.on_cloud("other");
  std::string photo = pattern_bytes(2'500'000, 13);
  auto photo_id = other->add_attachment(photo, "image/jpeg");
  REQUIRE(other->put("notes", "p", {{"title", "site"}}, {.attachments = {*photo_id}}).is_ok());
  REQUIRE(other->sync_once()->applied == 1);
  CHECK(eventually([&] {
    (void)d.math->sync_once();
    return d.math->get("notes", "p").is_ok();
  }));
  REQUIRE(d.math->attachments_of("notes", "p").value() == std::vector<std::string>{*photo_id});
  // Offline upstream, and the relay does not hold the file yet: a transient failure, nothing kept.
  d.uplink->set_down(true);
  Status offline = d.math->download_attachment(*photo_id);
  CHECK_FALSE(offline.is_ok());
  CHECK(d.math->attachment(*photo_id)->state != AttachmentState::kDownloaded);
  d.uplink->set_down(false);
  REQUIRE(d.math->download_attachment(*photo_id).is_ok());
  CHECK(d.math->attachment(*photo_id)->state == AttachmentState::kDownloaded);
  CHECK(d.math->read_attachment(*photo_id, 0, static_cast<int64_t>(photo.size())).value() == photo);
  // The relay keeps it: a second local app downloads it while the cloud is unreachable.
  d.uplink->set_down(true);
  auto quiz = d.on_relay("quiz");
  REQUIRE(quiz->sync_once().is_ok());
  REQUIRE(quiz->download_attachment(*photo_id).is_ok());
  CHECK(quiz->read_attachment(*photo_id, 1'000'000, 10).value() == photo.substr(1'000'000, 10));
  // An id nobody listed is still a 404 at the relay, not a fetch.
  HttpResponse unknown = d.relay->handle(HttpRequest{.method = "GET", .target = "/v1/attachments/01JZZZZZZZZZZZZZZZZZZZZZZZ"});
  CHECK(unknown.status == 404);
}

TEST_CASE("relay: a damaged row in its hand-over table is logged and left out, and the rest reach the cloud") {
  ScratchDir dir;
  auto cloud = open_server({.db_path = dir.file("cloud.db"), .durability = Durability::kNormal});
  std::vector<std::string> logged;
  std::mutex log_mu;
  ServerOptions o{.db_path = dir.file("lms.db"), .durability = Durability::kNormal};
  o.upstream.transport = std::shared_ptr<Transport>(make_in_process_transport(*cloud));
  o.upstream.manual = true;  // the hand-over runs when the test says
  o.log = [&](LogLevel, std::string_view, std::string_view message) {
    std::lock_guard<std::mutex> lock(log_mu);
    logged.emplace_back(message);
  };
  auto relay = open_server(std::move(o));
  for (int i = 0; i < 4; ++i) {
    REQUIRE(relay->handle(post_mutation(note_upsert("n" + std::to_string(i), {{"i", i}}), new_key())).status == 200);
  }
  // The store is outside input: one stored mutation no longer reads back.
  const std::string damage = "UPDATE relay_outbox SET mutation = '{\"collection\": \"notes\", \"rec' WHERE record_id = 'n2'";
  run_in_server_store(dir.file("lms.db"), damage, damage);
  REQUIRE(relay->run_relay_once().is_ok());
  REQUIRE(relay->run_relay_once().is_ok());
  CHECK(cloud->stats()->mutations_applied == 3);
  std::lock_guard<std::mutex> lock(log_mu);
  CHECK(std::any_of(logged.begin(), logged.end(), [](const std::string& m) {
    return m.find("does not read back") != std::string::npos;
  }));
  CHECK(relay->stats()->relay_handed_over == 0);  // not left to block the hand-over for ever
}
