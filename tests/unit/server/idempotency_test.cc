#include <doctest/doctest.h>

#include <thread>

#include "offsync/hlc.h"
#include "server_support.h"
#include "support.h"

using nlohmann::json;
using namespace offsync;
using namespace offsync::test;

namespace {

json note(const std::string& record, const json& fields, const std::string& op = "upsert") {
  return {{"collection", "notes"}, {"record", record}, {"op", op}, {"fields", fields}, {"base", nullptr}};
}

Authenticator bearer_principal() {
  return [](const HttpRequest& r) -> std::optional<std::string> {
    auto auth = r.headers.get("Authorization");
    if (!auth || auth->rfind("Bearer ", 0) != 0) return std::nullopt;
    return auth->substr(7);
  };
}

}  // namespace

TEST_CASE("a mutation is applied once and its answer carries the merged record and its HLC") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db")});
  auto r = server->handle(post_mutation(note("n1", {{"title", "a"}}), new_key()));
  REQUIRE(r.status == 200);
  json body = body_of(r);
  CHECK(body["status"] == "applied");
  CHECK(body["record"]["collection"] == "notes");
  CHECK(body["record"]["record"] == "n1");
  CHECK(body["record"]["op"] == "upsert");
  CHECK(body["record"]["fields"] == json({{"title", "a"}}));
  CHECK(body["record"]["hlc"] == body["hlc"]);
  CHECK(body["record"]["field_hlc"]["title"] == body["hlc"]);
  CHECK(Hlc::parse(body["hlc"].get<std::string>()).is_ok());
  CHECK(r.headers.get("Content-Type") == "application/json");
}

TEST_CASE("a missing or malformed Idempotency-Key is a 400 and nothing is applied") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db")});
  auto missing = server->handle(post_mutation(note("n1", {{"v", 1}}), ""));
  CHECK(missing.status == 400);
  CHECK(error_code(missing) == "idempotency_key_missing");
  auto bad = server->handle(post_mutation(note("n1", {{"v", 1}}), "not-a-ulid"));
  CHECK(bad.status == 400);
  CHECK(error_code(bad) == "invalid_idempotency_key");
  CHECK(server->stats()->mutations_applied == 0);
}

TEST_CASE("a repeated key with the same request replays the stored answer byte for byte") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db")});
  std::string key = new_key();
  auto first = server->handle(post_mutation(note("n1", {{"v", 1}}), key));
  auto again = server->handle(post_mutation(note("n1", {{"v", 1}}), key));
  REQUIRE(first.status == 200);
  CHECK(again.status == 200);
  CHECK(again.body == first.body);
  CHECK(again.headers.get("Idempotent-Replayed") == "true");
  CHECK_FALSE(first.headers.get("Idempotent-Replayed"));
  auto stats = server->stats();
  CHECK(stats->mutations_applied == 1);
  CHECK(stats->replays == 1);
  CHECK(stats->idempotency_keys == 1);
}

TEST_CASE("the same key with a different request is 422 idempotency_key_reused") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db")});
  std::string key = new_key();
  REQUIRE(server->handle(post_mutation(note("n1", {{"v", 1}}), key)).status == 200);
  auto reused = server->handle(post_mutation(note("n1", {{"v", 2}}), key));
  CHECK(reused.status == 422);
  CHECK(error_code(reused) == "idempotency_key_reused");
  CHECK(server->stats()->mutations_applied == 1);
}

TEST_CASE("the fingerprint is over canonical JSON: key order and spacing do not matter") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db")});
  std::string key = new_key();
  HttpRequest a = post_mutation({}, key);
  a.body = R"({"collection":"notes","record":"n1","op":"upsert","fields":{"a":1,"b":2}})";
  HttpRequest b = a;
  b.body = R"({ "op": "upsert", "fields": {"b": 2, "a": 1}, "record": "n1", "collection": "notes" })";
  REQUIRE(server->handle(a).status == 200);
  CHECK(server->handle(b).headers.get("Idempotent-Replayed") == "true");
}

TEST_CASE("keys are scoped per principal, and so is the data") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db"), .authenticate = bearer_principal()});
  std::string key = new_key();
  auto alice = server->handle(post_mutation(note("n1", {{"owner", "alice"}}), key, "alice"));
  auto bob = server->handle(post_mutation(note("n1", {{"owner", "bob"}}), key, "bob"));
  CHECK(alice.status == 200);
  CHECK(bob.status == 200);
  CHECK_FALSE(bob.headers.get("Idempotent-Replayed"));
  auto alice_sync = body_of(server->handle(get_sync("", 0, "alice")));
  REQUIRE(alice_sync["changes"].size() == 1);
  CHECK(alice_sync["changes"][0]["fields"]["owner"] == "alice");
  CHECK(server->handle(post_mutation(note("n1", {{"v", 1}}), new_key())).status == 401);
}

TEST_CASE("eight concurrent requests with one key have exactly one effect") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db")});
  std::string key = new_key();
  std::vector<HttpResponse> answers(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] { answers[i] = server->handle(post_mutation(note("n1", {{"v", 1}}), key)); });
  }
  for (auto& t : threads) t.join();
  int fresh = 0;
  for (const auto& a : answers) {
    bool replay = a.headers.get("Idempotent-Replayed").has_value();
    CHECK((a.status == 200 || (a.status == 409 && error_code(a) == "request_in_progress")));
    if (a.status == 200 && !replay) ++fresh;
  }
  CHECK(fresh == 1);
  CHECK(server->stats()->mutations_applied == 1);
  CHECK(server->stats()->changes == 1);
}

TEST_CASE("validation failures are stored and replayed, server faults are not") {
  ScratchDir dir;
  bool fail_store = true;
  ServerOptions options{.db_path = dir.file("s.db")};
  options.schema = *Schema::parse(R"({"collections": {"notes": {"fields": {"v": {"type": "number"}}}}})");
  options.validators["notes"] = [&](const json&) -> std::optional<SchemaViolation> {
    if (fail_store) throw std::runtime_error("disk on fire");
    return std::nullopt;
  };
  auto server = open_server(std::move(options));

  std::string bad_key = new_key();
  auto invalid = server->handle(post_mutation(note("n1", {{"v", "text"}}), bad_key));
  CHECK(invalid.status == 422);
  CHECK(error_code(invalid) == "wrong_field_type");
  auto replay = server->handle(post_mutation(note("n1", {{"v", "text"}}), bad_key));
  CHECK(replay.status == 422);
  CHECK(replay.headers.get("Idempotent-Replayed") == "true");

  std::string key = new_key();
  auto fault = server->handle(post_mutation(note("n1", {{"v", 1}}), key));
  CHECK(fault.status == 503);
  CHECK(fault.headers.get("Retry-After") == "1");
  fail_store = false;
  auto retry = server->handle(post_mutation(note("n1", {{"v", 1}}), key));
  CHECK(retry.status == 200);
  CHECK_FALSE(retry.headers.get("Idempotent-Replayed"));
  CHECK(server->stats()->mutations_applied == 1);
}

TEST_CASE("a stored answer is replayed at day 29 and gone at day 31") {
  ScratchDir dir;
  ManualClock clock;
  auto server = open_server({.db_path = dir.file("s.db"), .clock = &clock});
  std::string key = new_key();
  constexpr int64_t kDay = 24LL * 3600 * 1000;
  REQUIRE(server->handle(post_mutation(note("n1", {{"v", 1}}), key)).status == 200);
  clock.advance(29 * kDay);
  CHECK(server->handle(post_mutation(note("n1", {{"v", 1}}), key)).headers.get("Idempotent-Replayed") == "true");
  clock.advance(2 * kDay);
  CHECK(*server->sweep_idempotency_keys() == 1);
  CHECK(server->stats()->idempotency_keys == 0);
  auto late = server->handle(post_mutation(note("n1", {{"v", 1}}), key));
  CHECK(late.status == 200);
  CHECK_FALSE(late.headers.get("Idempotent-Replayed"));
}

TEST_CASE("expired answers are not replayed even before a sweep runs") {
  ScratchDir dir;
  ManualClock clock;
  auto server = open_server({.db_path = dir.file("s.db"), .idempotency_retention_ms = 1000, .clock = &clock});
  std::string key = new_key();
  REQUIRE(server->handle(post_mutation(note("n1", {{"v", 1}}), key)).status == 200);
  clock.advance(1500);
  CHECK_FALSE(server->handle(post_mutation(note("n1", {{"v", 1}}), key)).headers.get("Idempotent-Replayed"));
}
