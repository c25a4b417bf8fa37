// A retry answered with the server's stored answer (a replay) carries the record as it was then:
// it must not take the client's base back in time (found by offsync-sim, seed 5077 of 6 clients x
// 3,000 steps: a client kept showing a record deleted that another device had written again).
#include <doctest/doctest.h>

#include "offsync/client.h"
#include "offsync/transport.h"
#include "server_support.h"
#include "support.h"
#include "sync_support.h"

using nlohmann::json;
using namespace offsync;
using namespace offsync::test;

namespace {

// The server is reached but busy for every push (503): the round's pull still happens.
void refuse_pushes(ScriptedTransport& link) {
  link.set_script([](const HttpRequest& r) -> std::optional<Result<HttpResponse>> {
    if (r.method != "POST") return std::nullopt;
    HttpResponse busy;
    busy.status = 503;
    return Result<HttpResponse>(busy);
  });
}

}  // namespace

TEST_CASE("a replayed answer to a retried delete does not take back a newer version the client pulled meanwhile") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("server.db"), .durability = Durability::kNormal});
  auto link = std::make_shared<ScriptedTransport>(server.get());
  auto a = open_client({.path = dir.file("a.db"), .durability = Durability::kNormal,
                        .sync = {.transport = link, .background = false}});
  auto b = open_client({.path = dir.file("b.db"), .durability = Durability::kNormal,
                        .sync = {.transport = make_in_process_transport(*server), .background = false}});
  REQUIRE(a->put("notes", "x", {{"v", 1}}).is_ok());
  REQUIRE(a->sync_once()->applied == 1);

  // A deletes it; the server applies the delete, A never hears back.
  REQUIRE(a->remove("notes", "x").is_ok());
  link->set_lose_answers(true);
  REQUIRE(a->sync_once().is_ok());
  link->set_lose_answers(false);
  CHECK(a->outbox()->size() == 1);

  // B writes the record again, after the delete.
  REQUIRE(b->sync_once().is_ok());
  REQUIRE(b->put("notes", "x", {{"v", 2}}).is_ok());
  REQUIRE(b->sync_once()->applied == 1);

  // A's next round: its push fails, its pull brings B's version (the cursor moves past it).
  refuse_pushes(*link);
  auto pulled = a->sync_once();
  REQUIRE(pulled.is_ok());
  CHECK(pulled->pulled >= 1);
  link->set_script(nullptr);
  // Then the retried delete gets the stored answer: the record as it was when the delete applied.
  auto report = a->sync_once();
  REQUIRE(report.is_ok());
  CHECK(report->applied == 1);
  CHECK(a->outbox()->empty());
  auto seen = a->get("notes", "x");
  REQUIRE(seen.is_ok());
  CHECK(seen->fields == json({{"v", 2}}));
  REQUIRE(a->sync_once().is_ok());
  CHECK(a->get("notes", "x")->fields == json({{"v", 2}}));
  CHECK(b->get("notes", "x")->fields == json({{"v", 2}}));
}

TEST_CASE("a replayed 409 does not take back a newer version the client pulled meanwhile, and the conflict shows that version") {
  ScratchDir dir;
  ServerOptions so{.db_path = dir.file("server.db"), .durability = Durability::kNormal};
  so.schema = *Schema::parse(R"({"collections": {"tasks": {"fields": {"status": {"merge": "escalate"}}}}})");
  auto server = open_server(std::move(so));
  auto link = std::make_shared<ScriptedTransport>(server.get());
  auto a = open_client({.path = dir.file("a.db"), .durability = Durability::kNormal,
                        .sync = {.transport = link, .background = false}});
  auto b = open_client({.path = dir.file("b.db"), .durability = Durability::kNormal,
                        .sync = {.transport = make_in_process_transport(*server), .background = false}});
  REQUIRE(a->put("tasks", "t", {{"status", "open"}}).is_ok());
  REQUIRE(a->sync_once()->applied == 1);
  REQUIRE(b->sync_once().is_ok());
  REQUIRE(b->patch("tasks", "t", {{"status", "done"}}).is_ok());
  REQUIRE(b->sync_once()->applied == 1);
  // A's edit from the old version conflicts; the 409 is lost on the way back.
  auto mine = a->patch("tasks", "t", {{"status", "cancelled"}});
  REQUIRE(mine.is_ok());
  link->set_lose_answers(true);
  REQUIRE(a->sync_once().is_ok());
  link->set_lose_answers(false);
  // B edits again; A pulls that (its push refused by a 503), then retries and gets the stored 409.
  REQUIRE(b->patch("tasks", "t", {{"status", "archived"}}).is_ok());
  REQUIRE(b->sync_once()->applied == 1);
  refuse_pushes(*link);
  REQUIRE(a->sync_once().is_ok());
  link->set_script(nullptr);
  auto report = a->sync_once();
  REQUIRE(report.is_ok());
  CHECK(report->conflicts == 1);
  CHECK(a->get("tasks", "t")->fields["status"] == "archived");
  auto conflict = a->mutation(*mine);
  REQUIRE(conflict.is_ok());
  CHECK(conflict->state == MutationState::kConflict);
  CHECK(conflict->server_record["fields"]["status"] == "archived");
  REQUIRE(a->resolve(*mine, Resolution::kTakeServer).is_ok());
  REQUIRE(a->sync_once().is_ok());
  CHECK(a->outbox()->empty());
  CHECK(a->get("tasks", "t")->fields["status"] == "archived");
}
