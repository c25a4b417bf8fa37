// Client::forward, the relay's way into its upstream outbox: the payload may come as text (the
// relay's stored mutation, passed on without a parse and a dump), and the view follows each
// forwarded mutation as it follows the app's own writes.
#include <doctest/doctest.h>

#include "offsync/client.h"
#include "offsync/transport.h"
#include "server_support.h"
#include "support.h"

using namespace offsync;
using namespace offsync::test;

namespace {

Client::Forwarded text_forward(std::string key, std::string record, MutationOp op, std::string text) {
  Client::Forwarded f{std::move(key), "notes", std::move(record), op, nlohmann::json(), {}};
  f.payload_text = std::move(text);
  return f;
}

}  // namespace

TEST_CASE("forwarded mutations given as text queue under their keys, and the view follows them") {
  ScratchDir dir;
  auto lane = open_client({.path = dir.file("lane.db"), .durability = Durability::kNormal, .coalesce = false});
  auto queued = lane->forward({
      text_forward("01KA0000000000000000000001", "a", MutationOp::kUpsert, R"({"title":"one","n":1})"),
      text_forward("01KA0000000000000000000002", "a", MutationOp::kPatch, R"({"n":2,"done":true})"),
      text_forward("01KA0000000000000000000003", "b", MutationOp::kUpsert, R"({"title":"two"})"),
      {"01KA0000000000000000000004", "notes", "b", MutationOp::kDelete, nullptr, {}},
  });
  REQUIRE(queued.is_ok());
  CHECK(*queued == 4);
  CHECK(lane->get("notes", "a")->fields == nlohmann::json{{"title", "one"}, {"n", 2}, {"done", true}});
  CHECK(lane->get("notes", "b").status().code() == StatusCode::kNotFound);
  auto outbox = lane->outbox();
  REQUIRE(outbox.is_ok());
  REQUIRE(outbox->size() == 4);
  CHECK((*outbox)[0].idempotency_key == "01KA0000000000000000000001");
  CHECK((*outbox)[0].payload == nlohmann::json{{"title", "one"}, {"n", 1}});
  CHECK((*outbox)[1].op == MutationOp::kPatch);
  CHECK((*outbox)[1].payload == nlohmann::json{{"n", 2}, {"done", true}});
  CHECK((*outbox)[3].idempotency_key == "01KA0000000000000000000004");
  CHECK((*outbox)[3].payload.is_null());
}

TEST_CASE("a forwarded payload text that is not a JSON object is refused, and nothing of its batch is queued") {
  ScratchDir dir;
  auto lane = open_client({.path = dir.file("lane.db"), .durability = Durability::kNormal, .coalesce = false});
  for (const char* bad : {R"({"title":)", "[1,2]", "\"text\"", "{} {}"}) {
    CAPTURE(bad);
    auto queued = lane->forward({
        text_forward("01KA0000000000000000000001", "a", MutationOp::kUpsert, R"({"ok":true})"),
        text_forward("01KA0000000000000000000002", "b", MutationOp::kUpsert, bad),
    });
    REQUIRE_FALSE(queued.is_ok());
    CHECK(queued.status().code() == StatusCode::kInvalidArgument);
    CHECK(queued.status().message().find("01KA0000000000000000000002") != std::string::npos);
    CHECK(lane->outbox()->empty());
    CHECK(lane->get("notes", "a").status().code() == StatusCode::kNotFound);
  }
}

TEST_CASE("a forwarded write goes up based before upstream's changes that its sender had not seen") {
  ScratchDir dir;
  auto cloud = open_server({.db_path = dir.file("cloud.db"),
                            .schema = *Schema::parse(R"({"collections": {"tasks": {"fields": {"status": {"merge": "escalate"}}}}})")});
  auto open_on_cloud = [&](const std::string& name) {
    return open_client({.path = dir.file(name + ".db"),
                        .sync = {.transport = make_in_process_transport(*cloud), .background = false}});
  };
  auto web = open_on_cloud("web");
  auto lane = open_on_cloud("lane");
  for (const char* id : {"a", "b", "c"}) REQUIRE(web->put("tasks", id, {{"status", "open"}}).is_ok());
  REQUIRE(web->sync_once()->applied == 3);
  REQUIRE(lane->sync_once().is_ok());
  // The web closes all three; the lane (the relay's upstream client) pulls that. The apps that
  // write through the relay had seen: a "open" (the relay had not absorbed the change yet when
  // it applied their write), b "closed", c "open" (absorbed: the relay saw it change after the
  // app's base).
  for (const char* id : {"a", "b", "c"}) REQUIRE(web->patch("tasks", id, {{"status", "closed"}}).is_ok());
  REQUIRE(web->sync_once()->applied == 3);
  REQUIRE(lane->sync_once().is_ok());
  REQUIRE(lane->get("tasks", "a")->fields["status"] == "closed");
  auto forwarded = [](std::string key, std::string record, nlohmann::json sender_view) {
    Client::Forwarded f{std::move(key), "tasks", std::move(record), MutationOp::kPatch, {{"status", "blocked"}}, {}};
    f.sender_view = std::move(sender_view);
    return f;
  };
  REQUIRE(lane->forward({
                  forwarded("01KA0000000000000000000001", "a", {{"unseen", nlohmann::json::array()}, {"seen", {{"status", {"open"}}}}}),
                  forwarded("01KA0000000000000000000002", "b", {{"unseen", nlohmann::json::array()}, {"seen", {{"status", {"closed"}}}}}),
                  forwarded("01KA0000000000000000000003", "c", {{"unseen", {"status"}}, {"seen", nlohmann::json::object()}}),
              })
              .is_ok());
  auto report = lane->sync_once();
  REQUIRE(report.is_ok());
  CHECK(report->applied == 1);
  CHECK(report->conflicts == 2);
  auto shown = [&](Client& c, const char* id) { return c.get("tasks", id)->fields["status"]; };
  REQUIRE(web->sync_once().is_ok());
  CHECK(shown(*web, "a") == "closed");   // escalated, not overwritten
  CHECK(shown(*web, "b") == "blocked");  // its sender had seen "closed": an ordinary edit
  CHECK(shown(*web, "c") == "closed");
}

TEST_CASE("a forwarded write based before a change its sender had not seen keeps that base when an earlier one is acknowledged") {
  ScratchDir dir;
  auto cloud = open_server({.db_path = dir.file("cloud.db"),
                            .schema = *Schema::parse(R"({"collections": {"tasks": {"fields": {"status": {"merge": "escalate"}}}}})")});
  auto lane = open_client({.path = dir.file("lane.db"),
                           .sync = {.transport = make_in_process_transport(*cloud), .background = false}});
  REQUIRE(lane->put("tasks", "t", {{"status", "open"}}).is_ok());
  REQUIRE(lane->sync_once()->applied == 1);
  // Two apps on the relay: the first sets "started" from "open"; the second, which had not seen
  // that, sets "blocked" (the relay changed the field after its base). Both go up in one round.
  Client::Forwarded first{"01KA0000000000000000000011", "tasks", "t", MutationOp::kPatch, {{"status", "started"}}, {}};
  first.sender_view = {{"unseen", nlohmann::json::array()}, {"seen", {{"status", {"open"}}}}};
  Client::Forwarded second{"01KA0000000000000000000012", "tasks", "t", MutationOp::kPatch, {{"status", "blocked"}}, {}};
  second.sender_view = {{"unseen", {"status"}}, {"seen", nlohmann::json::object()}};
  REQUIRE(lane->forward({first, second}).is_ok());
  auto report = lane->sync_once();
  REQUIRE(report.is_ok());
  CHECK(report->applied == 1);
  CHECK(report->conflicts == 1);  // as if the second app had sent it to the cloud itself
  auto outbox = lane->outbox();
  REQUIRE(outbox->size() == 1);
  CHECK(outbox->front().idempotency_key == "01KA0000000000000000000012");
  CHECK(outbox->front().server_record["fields"]["status"] == "started");
}

TEST_CASE("a damaged note of what a forwarded write's sender had seen leaves its base as it was") {
  ScratchDir dir;
  auto cloud = open_server({.db_path = dir.file("cloud.db"),
                            .schema = *Schema::parse(R"({"collections": {"tasks": {"fields": {"status": {"merge": "escalate"}}}}})")});
  auto lane = open_client({.path = dir.file("lane.db"),
                           .sync = {.transport = make_in_process_transport(*cloud), .background = false}});
  REQUIRE(lane->put("tasks", "t", {{"status", "open"}}).is_ok());
  REQUIRE(lane->sync_once()->applied == 1);
  // A relay_outbox row read back from a damaged file: members of the wrong kinds, unknown fields,
  // HLCs that are not HLCs.
  std::vector<Client::Forwarded> batch;
  int n = 0;
  for (nlohmann::json junk : {nlohmann::json{{"unseen", 5}, {"seen", {1, 2}}},
                              nlohmann::json{{"unseen", {7, nullptr, "no-such-field"}}, {"seen", {{"status", "open"}}}},
                              nlohmann::json{{"seen", {{"status", {"open", "closed"}}}}}, nlohmann::json("text")}) {
    Client::Forwarded f{"01KA00000000000000000000" + std::to_string(20 + n++), "tasks", "t", MutationOp::kPatch,
                        {{"status", "step " + std::to_string(n)}}, {}};
    f.sender_view = std::move(junk);
    batch.push_back(std::move(f));
  }
  REQUIRE(lane->forward(batch).is_ok());
  auto report = lane->sync_once();
  REQUIRE(report.is_ok());
  CHECK(report->applied == 4);  // each an ordinary edit: nothing in the junk moves a base back
  CHECK(report->conflicts == 0);
}
