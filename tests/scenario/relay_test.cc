// Relay mode: a server half on the device that answers its local clients at once and is itself a
// client of the cloud (engine/server/relay.cc).
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "offsync/transport.h"
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
  auto other = open_client({.path = d.dir.file("other.db"),
                            .sync = {.transport = make_in_process_transport(*d.cloud), .background = false}});
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
  auto direct = open_client({.path = d.dir.file("direct.db"),
                             .sync = {.transport = make_in_process_transport(*d.cloud), .background = false}});
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
  d.relay.reset();
  d.cloud = open_server({.db_path = d.dir.file("cloud2.db"),
                         .schema = *Schema::parse(R"({"collections": {"tasks": {"fields": {"status": {"merge": "escalate"}}},
                                                     "orders": {"required": ["title"]}}})")});
  d.uplink = std::make_shared<ScriptedTransport>(d.cloud.get());
  d.open_relay();
  d.math = open_client({.path = d.dir.file("math2.db"),
                        .sync = {.transport = make_in_process_transport(*d.relay), .background = false}});
  REQUIRE(d.math->put("tasks", "t1", {{"status", "open"}, {"title", "fix"}}).is_ok());
  REQUIRE(d.math->sync_once()->applied == 1);
  REQUIRE(eventually([&] { return d.cloud_applied() == 1; }));

  d.uplink->set_down(true);  // the device goes offline
  auto other = open_client({.path = d.dir.file("web.db"),
                            .sync = {.transport = make_in_process_transport(*d.cloud), .background = false}});
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
  auto quiz = open_client({.path = d.dir.file("quiz.db"),
                           .sync = {.transport = make_in_process_transport(*d.relay), .background = false}});
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
