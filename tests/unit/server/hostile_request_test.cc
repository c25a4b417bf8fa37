// Requests an outside party could send to crash, stall or fool the server. Each case was found
// against an earlier build (issue 8); every answer must be a 4xx with a precise code and a body that
// is itself JSON, and the server must go on answering.
#include <doctest/doctest.h>

#include "engine/server/metrics.h"
#include "offsync/client.h"
#include "offsync/limits.h"
#include "server_support.h"
#include "support.h"
#include "sync_support.h"

using nlohmann::json;
using namespace offsync;
using namespace offsync::test;

namespace {

std::string nested(int depth, const std::string& inner = "1") {
  return std::string(static_cast<size_t>(depth), '[') + inner + std::string(static_cast<size_t>(depth), ']');
}

// A fields object nesting `depth` levels, the fields object itself counting as one.
json fields_of_depth(int depth) {
  json v = 1;
  for (int i = 1; i < depth; ++i) v = json{{"d", v}};
  return json{{"d", v}};
}

json note(const std::string& record, const json& fields) {
  return {{"collection", "notes"}, {"record", record}, {"op", "upsert"}, {"fields", fields}, {"base", nullptr}};
}

HttpRequest post_text(const std::string& body, const std::string& key) {
  HttpRequest r = post_mutation(json::object(), key);
  r.body = body;
  return r;
}

// The answer is JSON whose error has the code, and the server still answers a good request.
void check_refused(Server& server, const HttpResponse& r, int status, const std::string& code) {
  CHECK(r.status == status);
  json body = json::parse(r.body, nullptr, false);
  REQUIRE_MESSAGE(!body.is_discarded(), "the error body is not JSON: " << r.body.substr(0, 200));
  CHECK(body["error"]["code"] == code);
  CHECK(!body["error"]["message"].get<std::string>().empty());
  auto next = server.handle(post_mutation(note("after", {{"ok", true}}), new_key()));
  CHECK(next.status == 200);
}

}  // namespace

TEST_CASE("a body nested 100,000 levels deep is a 400 json_too_deep on both endpoints") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db")});
  check_refused(*server, server->handle(post_text(nested(100'000), new_key())), 400, "json_too_deep");
  check_refused(*server, server->handle(post_batch_text("{\"mutations\":" + nested(100'000) + "}")), 400,
                "json_too_deep");
  std::string deep_record = R"({"collection":"notes","record":"r","op":"upsert","base":null,"fields":{"x":)" +
                            nested(100'000) + "}}";
  check_refused(*server, server->handle(post_text(deep_record, new_key())), 400, "json_too_deep");
}

TEST_CASE("a record nested past the fields limit is refused alike by the single and the batch endpoint") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db")});
  json too_deep = fields_of_depth(limits::kMaxFieldsDepth + 1);
  check_refused(*server, server->handle(post_mutation(note("r1", too_deep), new_key())), 400, "fields_too_deep");
  json item = note("r1", too_deep);
  item["idempotency_key"] = new_key();
  auto batch = server->handle(post_batch(json::array({item})));
  REQUIRE(batch.status == 200);
  json result = body_of(batch)["results"][0];
  CHECK(result["status"] == 400);
  CHECK(result["body"]["error"]["code"] == "fields_too_deep");
  // A 600-deep record (once accepted by the single endpoint and unreadable by every client after).
  std::string six_hundred = R"({"collection":"notes","record":"r","op":"upsert","base":null,"fields":{"x":)" +
                            nested(600) + "}}";
  check_refused(*server, server->handle(post_text(six_hundred, new_key())), 400, "json_too_deep");
  CHECK(server->stats()->changes == 1);  // only the check's own "after" record
}

TEST_CASE("a client pulls every record the server accepts, the deepest allowed included") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db")});
  json deepest = fields_of_depth(limits::kMaxFieldsDepth);
  REQUIRE(server->handle(post_mutation(note("deep", deepest), new_key())).status == 200);
  REQUIRE(server->handle(post_mutation(note("later", {{"v", 1}}), new_key())).status == 200);
  auto transport = std::make_shared<ScriptedTransport>(server.get());
  auto client = open_client({.path = dir.file("c.db"), .sync = {.transport = transport, .background = false}});
  auto report = client->sync_once();
  REQUIRE(report.is_ok());
  CHECK(report->transient == 0);
  CHECK(client->get("notes", "deep")->fields == deepest);
  CHECK(client->get("notes", "later")->fields == json({{"v", 1}}));
  // The client refuses to write what the server would refuse.
  CHECK(client->put("notes", "too-deep", fields_of_depth(limits::kMaxFieldsDepth + 1)).status().code() ==
        StatusCode::kInvalidArgument);
}

TEST_CASE("invalid UTF-8 in a body is a 400 invalid_utf8, never a 5xx a client would retry") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db")});
  std::string bad = R"({"collection":"notes","record":"r","op":"upsert","base":null,"fields":{"t":"a)" +
                    std::string("\xff\xfe") + "\"}}";
  check_refused(*server, server->handle(post_text(bad, new_key())), 400, "invalid_utf8");
  check_refused(*server, server->handle(post_batch_text("{\"mutations\":[" + bad + "]}")), 400, "invalid_utf8");
  // A path that is not UTF-8 is quoted in the 404's message: the answer is still JSON.
  HttpRequest odd{.method = "GET", .target = "/v1/\xc3\x28\xff"};
  check_refused(*server, server->handle(odd), 404, "not_found");
}

TEST_CASE("a number out of the range of a double is a 400 number_out_of_range") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db")});
  std::string huge = R"({"collection":"notes","record":"r","op":"upsert","base":null,"fields":{"n":1e400}})";
  check_refused(*server, server->handle(post_text(huge, new_key())), 400, "number_out_of_range");
  check_refused(*server, server->handle(post_batch_text("{\"mutations\":[" + huge + "]}")), 400,
                "number_out_of_range");
}

TEST_CASE("an Idempotency-Key in lower case is the same key: the mutation is applied once") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db")});
  std::string key = new_key();
  std::string lower = key;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  json m = note("r", {{"n", 1}});
  REQUIRE(server->handle(post_mutation(m, key)).status == 200);
  auto again = server->handle(post_mutation(m, lower));
  CHECK(again.status == 200);
  CHECK(again.headers.get("Idempotent-Replayed") == "true");
  json item = m;
  item["idempotency_key"] = lower;
  auto batch = body_of(server->handle(post_batch(json::array({item}))));
  CHECK(batch["results"][0]["replayed"] == true);
  CHECK(server->stats()->mutations_applied == 1);
  CHECK(server->stats()->idempotency_keys == 1);
}

TEST_CASE("a base later than the record's HLC is a 400 invalid_base and cannot skip the escalate rule") {
  ScratchDir dir;
  ServerOptions options{.db_path = dir.file("s.db")};
  options.schema = *Schema::parse(R"({"collections": {"orders": {"fields": {"status": {"merge": "escalate"}}}}})");
  auto server = open_server(std::move(options));
  json create = {{"collection", "orders"}, {"record", "o1"}, {"op", "upsert"}, {"fields", {{"status", "new"}}}, {"base", nullptr}};
  std::string first = body_of(server->handle(post_mutation(create, new_key())))["hlc"];
  json server_edit = create;
  server_edit["op"] = "patch";
  server_edit["fields"] = {{"status", "shipped"}};
  server_edit["base"] = first;
  REQUIRE(server->handle(post_mutation(server_edit, new_key())).status == 200);
  json forged = server_edit;
  forged["fields"] = {{"status", "cancelled"}};
  forged["base"] = "999999999999999-0000000000-ffffffff";
  auto r = server->handle(post_mutation(forged, new_key()));
  CHECK(r.status == 400);
  CHECK(error_code(r) == "invalid_base");
  forged["base"] = first;  // the honest base conflicts, as the rule says
  CHECK(server->handle(post_mutation(forged, new_key())).status == 409);
}

TEST_CASE("client-supplied version labels on /metrics are bounded: later values become other") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db")});
  for (int i = 0; i < 200; ++i) {
    HttpRequest r = get_sync();
    r.headers.set("Offsync-App-Version", "1.0." + std::to_string(i));
    r.headers.set("Offsync-OS-Version", "os " + std::to_string(i));
    REQUIRE(server->handle(r).status == 200);
  }
  std::string page = server->handle(HttpRequest{.method = "GET", .target = "/metrics"}).body;
  size_t series = 0;
  for (size_t at = page.find("offsync_sync_requests_total{"); at != std::string::npos;
       at = page.find("offsync_sync_requests_total{", at + 1)) {
    ++series;
  }
  CHECK(series <= ServerMetrics::kMaxSeriesPerLabel + 1);
  CHECK(page.find("app_version=\"other\"") != std::string::npos);
  CHECK(page.find("app_version=\"1.0.0\"") != std::string::npos);
}

TEST_CASE("a server fault is told to ServerOptions::log, not to stderr") {
  ScratchDir dir;
  std::vector<std::string> logged;
  ServerOptions options{.db_path = dir.file("s.db")};
  options.validators["notes"] = [](const json&) -> std::optional<SchemaViolation> {
    throw std::runtime_error("the app's rules store is down");
  };
  options.log = [&](LogLevel level, std::string_view component, std::string_view message) {
    if (level == LogLevel::kError) logged.push_back(std::string(component) + ": " + std::string(message));
  };
  auto server = open_server(std::move(options));
  auto r = server->handle(post_mutation(note("r", {{"v", 1}}), new_key()));
  CHECK(r.status == 503);
  REQUIRE(logged.size() == 1);
  CHECK(logged[0].find("server: /v1/mutations answered 503") == 0);
  CHECK(logged[0].find("rules store is down") != std::string::npos);
}

TEST_CASE("a batch item is answered exactly as the single endpoint answers the same mutation") {
  ScratchDir dir;
  ServerOptions options{.db_path = dir.file("s.db")};
  options.schema = *Schema::parse(
      R"({"collections": {"notes": {}, "orders": {"required": ["title"], "fields": {"title": {"type": "string"}}}}})");
  auto server = open_server(std::move(options));
  const json cases[] = {
      json::array(),
      "text",
      json{{"collection", "notes"}},
      json{{"collection", 7}, {"record", "r"}, {"op", "upsert"}, {"fields", json::object()}},
      json{{"collection", "notes"}, {"record", "bad id!"}, {"op", "upsert"}, {"fields", json::object()}},
      json{{"collection", "notes"}, {"record", "r"}, {"op", "merge"}, {"fields", json::object()}},
      json{{"collection", "notes"}, {"record", "r"}, {"op", "upsert"}, {"fields", json::array()}},
      json{{"collection", "notes"}, {"record", "r"}, {"op", "upsert"}, {"fields", fields_of_depth(100)}},
      json{{"collection", "notes"}, {"record", "r"}, {"op", "upsert"}, {"fields", json::object()}, {"base", 12}},
      json{{"collection", "notes"}, {"record", "r"}, {"op", "upsert"}, {"fields", json::object()}, {"id", "nope"}},
      json{{"collection", "notes"}, {"record", "r"}, {"op", "upsert"}, {"fields", json::object()}, {"attachments", {1}}},
      json{{"collection", "unknown"}, {"record", "r"}, {"op", "upsert"}, {"fields", json::object()}},
      json{{"collection", "orders"}, {"record", "o"}, {"op", "upsert"}, {"fields", {{"title", 5}}}},
      json{{"collection", "orders"}, {"record", "o"}, {"op", "upsert"}, {"fields", {{"status", "x"}}}},
      json{{"collection", "notes"}, {"record", "missing"}, {"op", "patch"}, {"fields", {{"v", 1}}}},
      json{{"collection", "notes"}, {"record", "missing"}, {"op", "delete"}},
  };
  for (const json& m : cases) {
    CAPTURE(m.dump());
    auto single = server->handle(post_mutation(m, new_key()));
    json item = m.is_object() ? m : json::object();
    if (!m.is_object()) {
      // Not an object: the batch cannot even carry its key; it is answered as not an object.
      auto batch = body_of(server->handle(post_batch_text("{\"mutations\":[" + m.dump() + "]}")));
      CHECK(batch["results"][0]["status"] == single.status);
      continue;
    }
    item["idempotency_key"] = new_key();
    auto batch = body_of(server->handle(post_batch(json::array({item}))));
    json result = batch["results"][0];
    CHECK(result["status"] == single.status);
    CHECK(result["body"] == body_of(single));
  }
}
