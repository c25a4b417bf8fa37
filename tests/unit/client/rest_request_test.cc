#include <doctest/doctest.h>

#include "offsync/client.h"
#include "support.h"

using nlohmann::json;
using namespace offsync;
using offsync::test::open_client;
using offsync::test::ScratchDir;

namespace {

RestRequest create_event() {
  RestRequest r;
  r.module = "calendar";
  r.action = "create_event";
  r.method = "POST";
  r.url = "https://api.example.org/calendar/events";
  r.headers = {{"Content-Type", "application/json"}};
  r.body = R"({"title":"standup"})";
  return r;
}

RestOutcome answer(int status, const std::string& body) {
  RestOutcome o;
  o.status = status;
  o.headers = {{"Content-Type", "application/json"}};
  o.body = body;
  return o;
}

}  // namespace

TEST_CASE("a REST request is queued in the outbox with its own idempotency key") {
  ScratchDir dir;
  auto client = open_client({.path = dir.file("c.db")});
  auto a = client->enqueue_request(create_event());
  auto b = client->enqueue_request(create_event());
  REQUIRE(a.is_ok());
  REQUIRE(b.is_ok());
  CHECK(*a != *b);
  auto m = client->mutation(*a);
  CHECK(m->op == MutationOp::kRequest);
  CHECK(m->module == "calendar");
  CHECK(m->action == "create_event");
  CHECK(m->payload["method"] == "POST");
  CHECK(m->payload["url"] == "https://api.example.org/calendar/events");
  CHECK(m->payload["headers"] == json::array({{"Content-Type", "application/json"}}));
  CHECK(m->payload["body"] == R"({"title":"standup"})");
  CHECK(m->record_id == *a);  // independent requests order only themselves
  CHECK(client->summary()->pending == 2);
}

TEST_CASE("requests sharing an ordering key share one ordering slot") {
  ScratchDir dir;
  auto client = open_client({.path = dir.file("c.db")});
  RestRequest r = create_event();
  r.ordering_key = "event-42";
  auto a = client->enqueue_request(r);
  auto b = client->enqueue_request(r);
  CHECK(client->mutation(*a)->record_id == "event-42");
  CHECK(client->mutation(*b)->record_id == "event-42");
}

TEST_CASE("a bad REST request is refused with the reason and nothing is queued") {
  ScratchDir dir;
  auto client = open_client({.path = dir.file("c.db"), .max_payload_bytes = 64});
  auto refused = [&](RestRequest r, const std::string& words) {
    auto id = client->enqueue_request(r);
    REQUIRE_FALSE(id.is_ok());
    CHECK(id.status().code() == StatusCode::kInvalidArgument);
    CHECK_MESSAGE(id.status().message().find(words) != std::string::npos, id.status().message());
  };
  RestRequest r = create_event();
  r.module = "";
  refused(r, "module is empty");
  r = create_event();
  r.method = "FETCH";
  refused(r, "method 'FETCH'");
  r = create_event();
  r.url = "ftp://x";
  refused(r, "must be an absolute http(s) URL");
  r = create_event();
  r.headers = {{"X-Evil", "a\r\nInjected: yes"}};
  refused(r, "line break");
  r = create_event();
  r.headers = {{"Bad Name", "v"}};
  refused(r, "not an HTTP token");
  r = create_event();
  r.body = std::string(65, 'x');
  refused(r, "over the limit of 64");
  r = create_event();
  r.body = std::string("\xff\xfe", 2);
  refused(r, "not UTF-8");
  CHECK(client->outbox()->empty());
}

TEST_CASE("an outcome reaches the handler registered for its module and action") {
  ScratchDir dir;
  auto client = open_client({.path = dir.file("c.db")});
  std::vector<RestOutcome> seen;
  REQUIRE(client->register_handler("calendar", "create_event", [&](const RestOutcome& o) { seen.push_back(o); }).is_ok());
  auto id = client->enqueue_request(create_event());
  REQUIRE(client->begin_send(*id).is_ok());
  REQUIRE(client->complete_request(*id, answer(201, R"({"id":"ev1"})")).is_ok());
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].mutation_id == *id);
  CHECK(seen[0].status == 201);
  CHECK(seen[0].body == R"({"id":"ev1"})");
  CHECK(seen[0].request["url"] == "https://api.example.org/calendar/events");
  CHECK(client->outbox()->empty());
  // Delivered once: registering again hands over nothing old.
  REQUIRE(client->register_handler("calendar", "create_event", [&](const RestOutcome& o) { seen.push_back(o); }).is_ok());
  CHECK(seen.size() == 1);
}

TEST_CASE("an outcome that arrives while no handler is registered is delivered after a restart") {
  ScratchDir dir;
  std::string path = dir.file("c.db");
  std::string id, other;
  {
    auto client = open_client({.path = path});
    id = *client->enqueue_request(create_event());
    RestRequest r = create_event();
    r.action = "delete_event";
    other = *client->enqueue_request(r);
    REQUIRE(client->complete_request(id, answer(409, "taken")).is_ok());
    REQUIRE(client->complete_request(other, answer(204, "")).is_ok());
  }
  auto client = open_client({.path = path});
  std::vector<RestOutcome> seen;
  REQUIRE(client->register_handler("calendar", "create_event", [&](const RestOutcome& o) { seen.push_back(o); }).is_ok());
  REQUIRE(seen.size() == 1);  // only its own module and action
  CHECK(seen[0].mutation_id == id);
  CHECK(seen[0].status == 409);
  CHECK(seen[0].body == "taken");
  CHECK(seen[0].headers == std::vector<std::pair<std::string, std::string>>{{"Content-Type", "application/json"}});
}

TEST_CASE("an outcome whose handler throws stays stored and is delivered again") {
  ScratchDir dir;
  auto client = open_client({.path = dir.file("c.db")});
  auto id = client->enqueue_request(create_event());
  REQUIRE(client->register_handler("calendar", "create_event",
                                   [](const RestOutcome&) { throw std::runtime_error("UI not ready"); })
              .is_ok());
  Status s = client->complete_request(*id, answer(200, "ok"));
  CHECK(s.code() == StatusCode::kInternal);
  CHECK(s.message().find("UI not ready") != std::string::npos);
  int delivered = 0;
  REQUIRE(client->register_handler("calendar", "create_event", [&](const RestOutcome&) { ++delivered; }).is_ok());
  CHECK(delivered == 1);
}

TEST_CASE("a handler may call back into the client") {
  ScratchDir dir;
  auto client = open_client({.path = dir.file("c.db")});
  auto id = client->enqueue_request(create_event());
  REQUIRE(client->register_handler("calendar", "create_event", [&](const RestOutcome& o) {
    CHECK(client->put("events", "ev1", {{"from", o.mutation_id}}).is_ok());
  }).is_ok());
  REQUIRE(client->complete_request(*id, answer(201, "{}")).is_ok());
  CHECK(client->get("events", "ev1")->fields["from"] == *id);
}
