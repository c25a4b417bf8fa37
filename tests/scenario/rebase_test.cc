// The base a later edit starts from once an earlier edit of the same record is acknowledged
// (engine/client/rebase.cc): past the earlier edit, which the user saw, but never past another
// device's change the user had not seen, so that an escalate field still conflicts.
#include <doctest/doctest.h>

#include "offsync/client.h"
#include "offsync/transport.h"
#include "server_support.h"
#include "support.h"

using namespace offsync;
using namespace offsync::test;

namespace {

struct TwoDevices {
  ScratchDir dir;
  std::unique_ptr<Server> server = open_server(
      {.db_path = dir.file("s.db"),
       .schema = *Schema::parse(R"({"collections": {"tasks": {"fields": {"title": {"merge": "escalate"},
                                                                        "status": {"merge": "escalate"}}}}})")});
  // Every write its own mutation, as when the first is already in flight when the second is made.
  std::unique_ptr<Client> phone = open_client({.path = dir.file("phone.db"), .coalesce = false,
                                               .sync = {.transport = make_in_process_transport(*server), .background = false}});
  std::unique_ptr<Client> web = open_client({.path = dir.file("web.db"),
                                             .sync = {.transport = make_in_process_transport(*server), .background = false}});

  TwoDevices() {
    REQUIRE(phone->put("tasks", "t", {{"title", "draft"}, {"status", "open"}}).is_ok());
    REQUIRE(phone->sync_once()->applied == 1);
    REQUIRE(web->sync_once().is_ok());
  }
};

}  // namespace

TEST_CASE("a later edit of a field another device changed meanwhile still escalates after the earlier edit is acknowledged") {
  TwoDevices d;
  REQUIRE(d.web->patch("tasks", "t", {{"title", "from the web"}}).is_ok());
  REQUIRE(d.web->sync_once()->applied == 1);
  // The phone, which has not heard of it, edits the status, then the title.
  REQUIRE(d.phone->patch("tasks", "t", {{"status", "started"}}).is_ok());
  auto title = d.phone->patch("tasks", "t", {{"title", "from the phone"}});
  REQUIRE(title.is_ok());
  auto report = d.phone->sync_once();
  REQUIRE(report.is_ok());
  CHECK(report->applied == 1);    // the status
  CHECK(report->conflicts == 1);  // the title: the web's change is not overwritten unseen
  auto m = d.phone->mutation(*title);
  REQUIRE(m.is_ok());
  CHECK(m->state == MutationState::kConflict);
  CHECK(m->server_record["fields"]["title"] == "from the web");
  REQUIRE(d.web->sync_once().is_ok());
  CHECK(d.web->get("tasks", "t")->fields == nlohmann::json{{"title", "from the web"}, {"status", "started"}});
}

TEST_CASE("a later edit of what the earlier edit changed goes through, whatever else changed meanwhile") {
  TwoDevices d;
  REQUIRE(d.web->patch("tasks", "t", {{"title", "from the web"}}).is_ok());
  REQUIRE(d.web->sync_once()->applied == 1);
  REQUIRE(d.phone->patch("tasks", "t", {{"status", "started"}}).is_ok());
  REQUIRE(d.phone->patch("tasks", "t", {{"status", "done"}}).is_ok());  // the user saw "started"
  auto report = d.phone->sync_once();
  REQUIRE(report.is_ok());
  CHECK(report->applied == 2);
  CHECK(report->conflicts == 0);
  REQUIRE(d.web->sync_once().is_ok());
  CHECK(d.web->get("tasks", "t")->fields == nlohmann::json{{"title", "from the web"}, {"status", "done"}});
}
