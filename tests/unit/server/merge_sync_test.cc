#include <doctest/doctest.h>

#include "offsync/hlc.h"
#include "pg_support.h"
#include "server_support.h"
#include "support.h"

using nlohmann::json;
using namespace offsync;
using namespace offsync::test;

namespace {

constexpr const char* kOrdersSchema = R"({
  "min_app_version": "1.2.0",
  "collections": {
    "orders": {"required": ["title"],
               "fields": {"title": {"type": "string"},
                          "status": {"type": "string", "merge": "escalate"},
                          "amount": {"type": "number", "merge": "escalate"}}},
    "strict": {"on_delete": "update_wins"},
    "notes": {}
  }})";

json mutation(const std::string& collection, const std::string& record, const std::string& op, const json& fields,
              const json& base = nullptr) {
  json m = {{"collection", collection}, {"record", record}, {"op", op}, {"base", base}};
  if (op != "delete") m["fields"] = fields;
  return m;
}

struct Fixture {
  ScratchDir dir;
  std::unique_ptr<Server> server;
  explicit Fixture(ServerOptions options = {}) {
    options.db_path = dir.file("s.db");
    if (!options.schema.collection("orders") || options.schema.collection("anything_else")) {
      options.schema = *Schema::parse(kOrdersSchema);
    }
    server = open_server(std::move(options));
  }
  HttpResponse send(const json& m) { return server->handle(post_mutation(m, new_key())); }
  std::string hlc_of(const HttpResponse& r) { return body_of(r)["hlc"]; }
};

}  // namespace

TEST_CASE("an escalate field changed on the server since the client's base is a 409 with the server record") {
  Fixture f;
  auto created = f.send(mutation("orders", "o1", "upsert", {{"title", "t"}, {"status", "new"}, {"amount", 5}}));
  std::string base = f.hlc_of(created);
  REQUIRE(f.send(mutation("orders", "o1", "patch", {{"status", "shipped"}}, base)).status == 200);

  auto stale = f.send(mutation("orders", "o1", "patch", {{"status", "cancelled"}}, base));
  CHECK(stale.status == 409);
  CHECK(error_code(stale) == "conflict");
  json server_record = body_of(stale)["server"];
  CHECK(server_record["fields"]["status"] == "shipped");
  CHECK(server_record["record"] == "o1");

  // The same stale base on an lww field is applied: the later ingest wins.
  auto lww = f.send(mutation("orders", "o1", "patch", {{"title", "renamed"}}, base));
  CHECK(lww.status == 200);
  CHECK(body_of(lww)["record"]["fields"] == json({{"title", "renamed"}, {"status", "shipped"}, {"amount", 5}}));
  // Writing the value the server already holds is no conflict.
  CHECK(f.send(mutation("orders", "o1", "patch", {{"status", "shipped"}}, base)).status == 200);
  // A base at or after the server's change is no conflict either.
  std::string now = f.hlc_of(lww);
  CHECK(f.send(mutation("orders", "o1", "patch", {{"status", "cancelled"}}, now)).status == 200);
}

TEST_CASE("a create over an existing record conflicts only on escalate fields it would change") {
  Fixture f;
  REQUIRE(f.send(mutation("orders", "o1", "upsert", {{"title", "t"}, {"amount", 5}})).status == 200);
  CHECK(f.send(mutation("orders", "o1", "upsert", {{"title", "x"}, {"amount", 9}})).status == 409);
  CHECK(f.send(mutation("orders", "o1", "upsert", {{"title", "x"}, {"amount", 5}})).status == 200);
}

TEST_CASE("HLCs at ingest strictly increase even when the server's wall clock steps back") {
  ManualClock clock(5'000'000);
  Fixture f(ServerOptions{.clock = &clock});
  std::string a = f.hlc_of(f.send(mutation("notes", "n1", "upsert", {{"v", 1}})));
  clock.set(1'000'000);
  std::string b = f.hlc_of(f.send(mutation("notes", "n1", "upsert", {{"v", 2}})));
  std::string c = f.hlc_of(f.send(mutation("notes", "n2", "upsert", {{"v", 3}})));
  CHECK(a < b);
  CHECK(b < c);
  CHECK(Hlc::parse(b)->physical_ms == 5'000'000);
}

TEST_CASE("HLCs keep increasing across a restart of the server") {
  ScratchDir dir;
  ManualClock clock(5'000'000);
  std::string before;
  {
    auto server = open_server({.db_path = dir.file("s.db"), .clock = &clock});
    before = body_of(server->handle(post_mutation(mutation("notes", "n1", "upsert", {{"v", 1}}), new_key())))["hlc"];
  }
  clock.set(10);
  auto server = open_server({.db_path = dir.file("s.db"), .clock = &clock});
  std::string after = body_of(server->handle(post_mutation(mutation("notes", "n1", "upsert", {{"v", 2}}), new_key())))["hlc"];
  CHECK(before < after);
}

TEST_CASE("a delete leaves a tombstone in the change log, a patch of it is a 409 and an upsert recreates it") {
  Fixture f;
  REQUIRE(f.send(mutation("notes", "n1", "upsert", {{"v", 1}})).status == 200);
  auto del = f.send(mutation("notes", "n1", "delete", nullptr));
  REQUIRE(del.status == 200);
  CHECK(body_of(del)["record"]["op"] == "delete");

  json sync = body_of(f.server->handle(get_sync()));
  REQUIRE(sync["changes"].size() == 1);
  CHECK(sync["changes"][0]["op"] == "delete");
  CHECK(sync["changes"][0]["record"] == "n1");

  auto patch = f.send(mutation("notes", "n1", "patch", {{"v", 2}}));
  CHECK(patch.status == 409);
  CHECK(body_of(patch)["server"]["op"] == "delete");
  CHECK(f.send(mutation("notes", "missing", "delete", nullptr)).status == 200);  // deleting a missing record
  CHECK(f.send(mutation("notes", "missing", "patch", {{"v", 1}})).status == 404);

  auto again = f.send(mutation("notes", "n1", "upsert", {{"v", 3}}));
  CHECK(again.status == 200);
  sync = body_of(f.server->handle(get_sync()));
  CHECK(sync["changes"].back()["op"] == "upsert");
  CHECK(sync["changes"].back()["fields"] == json({{"v", 3}}));
}

TEST_CASE("the update_wins rule refuses a delete whose base is older than the record's last change") {
  Fixture f;
  std::string h1 = f.hlc_of(f.send(mutation("strict", "s1", "upsert", {{"v", 1}})));
  std::string h2 = f.hlc_of(f.send(mutation("strict", "s1", "patch", {{"v", 2}}, h1)));
  auto stale = f.send(mutation("strict", "s1", "delete", nullptr, h1));
  CHECK(stale.status == 409);
  CHECK(body_of(stale)["server"]["fields"]["v"] == 2);
  CHECK(f.send(mutation("strict", "s1", "delete", nullptr, h2)).status == 200);
  // delete_wins (the default) applies a stale delete.
  std::string n1 = f.hlc_of(f.send(mutation("notes", "n1", "upsert", {{"v", 1}})));
  REQUIRE(f.send(mutation("notes", "n1", "patch", {{"v", 2}}, n1)).status == 200);
  CHECK(f.send(mutation("notes", "n1", "delete", nullptr, n1)).status == 200);
}

TEST_CASE("fields the schema does not know are stored and returned unchanged") {
  Fixture f;
  auto r = f.send(mutation("orders", "o1", "upsert", {{"title", "t"}, {"x_future", {{"nested", true}}}}));
  CHECK(body_of(r)["record"]["fields"]["x_future"] == json({{"nested", true}}));
  json sync = body_of(f.server->handle(get_sync()));
  CHECK(sync["changes"][0]["fields"]["x_future"] == json({{"nested", true}}));
}

TEST_CASE("sync pages by limit until has_more is false, and misses no change committed while paging") {
  Fixture f;
  for (int i = 0; i < 25; ++i) REQUIRE(f.send(mutation("notes", "n" + std::to_string(i), "upsert", {{"i", i}})).status == 200);
  std::map<std::string, json> seen;
  std::string cursor;
  int pages = 0;
  bool has_more = true;
  while (has_more) {
    json page = body_of(f.server->handle(get_sync(cursor, 10)));
    CHECK(page["changes"].size() <= 10);
    for (const auto& c : page["changes"]) seen[c["record"]] = c["fields"];
    cursor = page["cursor"];
    has_more = page["has_more"];
    if (++pages == 1) {
      // Between pages, a record already seen changes and a new one appears: both must come.
      REQUIRE(f.send(mutation("notes", "n0", "patch", {{"edited", true}})).status == 200);
      REQUIRE(f.send(mutation("notes", "late", "upsert", {{"late", true}})).status == 200);
    }
  }
  CHECK(pages == 3);
  CHECK(seen.size() == 26);
  CHECK(seen["n0"] == json({{"i", 0}, {"edited", true}}));
  CHECK(seen["late"] == json({{"late", true}}));
  // The final cursor has nothing more.
  json tail = body_of(f.server->handle(get_sync(cursor, 10)));
  CHECK(tail["changes"].empty());
  CHECK(tail["has_more"] == false);
  CHECK(tail["cursor"] == cursor);
}

TEST_CASE("a tampered cursor is a 400, a retired or compacted one a 410, and no cursor always works") {
  ManualClock clock(1'000'000);
  Fixture f(ServerOptions{.clock = &clock});
  REQUIRE(f.send(mutation("notes", "n1", "upsert", {{"v", 1}})).status == 200);
  std::string cursor = body_of(f.server->handle(get_sync()))["cursor"];

  std::string tampered = cursor;
  tampered[5] = tampered[5] == 'A' ? 'B' : 'A';
  auto bad = f.server->handle(get_sync(tampered));
  CHECK(bad.status == 400);
  CHECK(error_code(bad) == "invalid_cursor");
  std::string bad_mac = cursor;
  bad_mac.back() = bad_mac.back() == 'A' ? 'Q' : 'A';
  CHECK(f.server->handle(get_sync(bad_mac)).status == 400);
  CHECK(f.server->handle(get_sync("garbage!")).status == 400);
  CHECK(f.server->handle(get_sync(cursor)).status == 200);

  // Compaction of a tombstone past the cursor's position expires it.
  REQUIRE(f.send(mutation("notes", "n1", "delete", nullptr)).status == 200);
  REQUIRE(f.send(mutation("notes", "n2", "upsert", {{"v", 2}})).status == 200);
  clock.advance(10'000);
  CHECK(*f.server->compact(clock.now_ms()) == 1);
  auto compacted = f.server->handle(get_sync(cursor));
  CHECK(compacted.status == 410);
  CHECK(error_code(compacted) == "cursor_expired");
  json fresh = body_of(f.server->handle(get_sync()));
  REQUIRE(fresh["changes"].size() == 1);
  CHECK(fresh["changes"][0]["record"] == "n2");

  // Rotation retires every cursor issued before it.
  std::string current = fresh["cursor"];
  CHECK(f.server->handle(get_sync(current)).status == 200);
  REQUIRE(f.server->rotate_cursor().is_ok());
  auto rotated = f.server->handle(get_sync(current));
  CHECK(rotated.status == 410);
  CHECK(error_code(rotated) == "cursor_expired");
  std::string renewed = body_of(f.server->handle(get_sync()))["cursor"];
  CHECK(f.server->handle(get_sync(renewed)).status == 200);
  CHECK(f.server->stats()->cursor_version == 2);
}

TEST_CASE("a cursor issued to one principal is refused for another") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db"), .authenticate = [](const HttpRequest& r) {
                               return r.headers.get("Authorization").value_or("anon");
                             }});
  std::string cursor = body_of(server->handle(get_sync("", 0, "alice")))["cursor"];
  CHECK(server->handle(get_sync(cursor, 0, "alice")).status == 200);
  CHECK(server->handle(get_sync(cursor, 0, "bob")).status == 400);
}

TEST_CASE("clients below the minimum app version get 426, and a missing version is admitted") {
  Fixture f;
  HttpRequest old = post_mutation(mutation("notes", "n1", "upsert", {{"v", 1}}), new_key());
  old.headers.add("Offsync-App-Version", "1.1.9");
  auto r = f.server->handle(old);
  CHECK(r.status == 426);
  CHECK(error_code(r) == "upgrade_required");
  HttpRequest current = post_mutation(mutation("notes", "n1", "upsert", {{"v", 1}}), new_key());
  current.headers.add("Offsync-App-Version", "1.10.0");  // numeric, part by part
  CHECK(f.server->handle(current).status == 200);
  CHECK(f.server->handle(post_mutation(mutation("notes", "n2", "upsert", {{"v", 1}}), new_key())).status == 200);
  HttpRequest junk = get_sync();
  junk.headers.add("Offsync-App-Version", "one.two");
  CHECK(f.server->handle(junk).status == 400);
  HttpRequest old_sync = get_sync();
  old_sync.headers.add("Offsync-App-Version", "1.0");
  CHECK(f.server->handle(old_sync).status == 426);
}

TEST_CASE("the deprecated v0 request shape still works and is answered with Deprecation and Sunset") {
  Fixture f;
  json v0 = {{"mutation_id", new_key()}, {"type", "upsert"}, {"collection", "notes"}, {"record_id", "n1"},
             {"data", {{"v", 1}}}};
  auto r = f.server->handle(post_mutation(v0, new_key()));
  CHECK(r.status == 200);
  CHECK(body_of(r)["record"]["fields"] == json({{"v", 1}}));
  CHECK(r.headers.get("Deprecation").has_value());
  CHECK(r.headers.get("Sunset") == "Wed, 01 Dec 2027 00:00:00 GMT");
  auto current = f.send(mutation("notes", "n2", "upsert", {{"v", 1}}));
  CHECK_FALSE(current.headers.get("Sunset"));
}

TEST_CASE("bad input gets the documented status and error body, and changes nothing") {
  Fixture f(ServerOptions{.max_body_bytes = 4096});
  struct Case {
    std::string name;
    HttpRequest request;
    int status;
    std::string code;
  };
  auto raw = [](const std::string& body) {
    HttpRequest r = post_mutation({}, new_key());
    r.body = body;
    return r;
  };
  HttpRequest wrong_type = post_mutation(mutation("notes", "n1", "upsert", {{"v", 1}}), new_key());
  wrong_type.headers.set("Content-Type", "text/plain");
  HttpRequest wrong_method = get_sync();
  wrong_method.target = "/v1/mutations";
  std::vector<Case> cases = {
      {"malformed JSON", raw("{\"collection\": "), 400, "malformed_json"},
      {"not an object", raw("[1]"), 400, "invalid_request"},
      {"no collection", raw(R"({"record":"r","op":"upsert","fields":{}})"), 400, "invalid_collection"},
      {"bad record id", post_mutation(mutation("notes", "a b", "upsert", {}), new_key()), 400, "invalid_record"},
      {"unknown op", post_mutation(mutation("notes", "n1", "replace", {}), new_key()), 400, "invalid_op"},
      {"fields not an object", raw(R"({"collection":"notes","record":"r","op":"upsert","fields":[1]})"), 400,
       "invalid_fields"},
      {"bad ULID id", raw(R"({"id":"xyz","collection":"notes","record":"r","op":"upsert","fields":{}})"), 400,
       "invalid_id"},
      {"bad base", post_mutation(mutation("notes", "n1", "upsert", {{"v", 1}}, "yesterday"), new_key()), 400,
       "invalid_base"},
      {"wrong field type", post_mutation(mutation("orders", "o1", "upsert", {{"title", 5}}), new_key()), 422,
       "wrong_field_type"},
      {"missing required", post_mutation(mutation("orders", "o1", "upsert", {{"amount", 5}}), new_key()), 422,
       "missing_required_field"},
      {"unknown collection", post_mutation(mutation("ghosts", "g1", "upsert", {{"v", 1}}), new_key()), 422,
       "unknown_collection"},
      {"oversized body", post_mutation(mutation("notes", "n1", "upsert", {{"v", std::string(5000, 'x')}}), new_key()),
       413, "body_too_large"},
      {"wrong content type", wrong_type, 415, "unsupported_media_type"},
      {"wrong method", wrong_method, 405, "method_not_allowed"},
      {"bad limit", get_sync("", -3), 400, "invalid_limit"},
  };
  cases.back().request.target = "/v1/sync?limit=-3";
  for (const Case& c : cases) {
    CAPTURE(c.name);
    auto r = f.server->handle(c.request);
    CHECK(r.status == c.status);
    CHECK(error_code(r) == c.code);
    json body = body_of(r);
    CHECK(body["error"]["message"].is_string());
  }
  auto stats = f.server->stats();
  CHECK(stats->changes == 0);
  CHECK(stats->mutations_applied == 0);
}

TEST_CASE("an app's validator refuses a record with its own code") {
  ServerOptions options;
  options.validators["notes"] = [](const json& fields) -> std::optional<SchemaViolation> {
    if (fields.value("stock", 0) < 0) return SchemaViolation{"negative_stock", "inventory never goes below zero"};
    return std::nullopt;
  };
  Fixture f(std::move(options));
  auto r = f.send(mutation("notes", "i1", "upsert", {{"stock", -1}}));
  CHECK(r.status == 422);
  CHECK(error_code(r) == "negative_stock");
  CHECK(f.send(mutation("notes", "i1", "upsert", {{"stock", 1}})).status == 200);
}

TEST_CASE("a batch answers each item as the single endpoint would") {
  Fixture f;
  std::string k1 = new_key(), k2 = new_key();
  REQUIRE(f.server->handle(post_mutation(mutation("notes", "n0", "upsert", {{"v", 0}}), k1)).status == 200);
  json items = json::array();
  json m1 = mutation("notes", "n0", "upsert", {{"v", 0}});
  m1["idempotency_key"] = k1;  // already applied through the single endpoint
  json m2 = mutation("notes", "n2", "upsert", {{"v", 2}});
  m2["idempotency_key"] = k2;
  json m3 = mutation("ghosts", "g", "upsert", {{"v", 3}});
  m3["idempotency_key"] = new_key();
  json m4 = mutation("notes", "n4", "upsert", {{"v", 4}});  // no key
  items = {m1, m2, m3, m4, m2};
  HttpRequest r = post_batch(items);
  auto answer = f.server->handle(r);
  REQUIRE(answer.status == 200);
  json results = body_of(answer)["results"];
  REQUIRE(results.size() == 5);
  CHECK(results[0]["status"] == 200);
  CHECK(results[0]["replayed"] == true);
  CHECK(results[1]["status"] == 200);
  CHECK(results[1]["body"]["record"]["fields"] == json({{"v", 2}}));
  CHECK(results[2]["status"] == 422);
  CHECK(results[2]["body"]["error"]["code"] == "unknown_collection");
  CHECK(results[3]["status"] == 400);
  CHECK(results[3]["body"]["error"]["code"] == "idempotency_key_missing");
  CHECK(results[4]["replayed"] == true);
  CHECK(results[4]["body"] == results[1]["body"]);
  // The single endpoint replays what the batch stored.
  auto single = f.server->handle(post_mutation(mutation("notes", "n2", "upsert", {{"v", 2}}), k2));
  CHECK(single.headers.get("Idempotent-Replayed") == "true");
  CHECK(body_of(single) == results[1]["body"]);
  CHECK(f.server->stats()->mutations_applied == 2);
}

TEST_CASE("a malformed, misshapen or oversized batch is refused whole with its code, and changes nothing") {
  ServerOptions options;
  options.max_batch_items = 2;
  Fixture f(std::move(options));
  auto batch = [&](const std::string& body) { return f.server->handle(post_batch_text(body)); };
  auto malformed = batch(R"({"mutations": [{"collection": "notes",)");
  CHECK(malformed.status == 400);
  CHECK(error_code(malformed) == "malformed_json");
  CHECK(body_of(malformed)["error"]["message"].get<std::string>().find("syntax error") != std::string::npos);
  for (const char* shape : {"[1]", R"({"mutations": {}})", R"({"items": []})"}) {
    auto r = batch(shape);
    CHECK(r.status == 400);
    CHECK(error_code(r) == "invalid_request");
  }
  json three = json::array();
  for (int i = 0; i < 3; ++i) {
    json m = mutation("notes", "n" + std::to_string(i), "upsert", {{"v", i}});
    m["idempotency_key"] = new_key();
    three.push_back(m);
  }
  auto big = batch(json{{"mutations", three}}.dump());
  CHECK(big.status == 413);
  CHECK(error_code(big) == "batch_too_large");
  // A repeated "mutations" member counts once, the last one, as any JSON reader keeps it.
  auto repeated = batch(R"({"mutations": [1, 2, 3], "mutations": []})");
  CHECK(repeated.status == 200);
  CHECK(body_of(repeated)["results"] == json::array());
  CHECK(f.server->stats()->changes == 0);
}

TEST_CASE("a store fault in one batch item undoes that item only: it answers 503, the others are applied once") {
  Fixture f;
  REQUIRE(f.server->handle(post_mutation(mutation("notes", "n1", "upsert", {{"v", "before"}}), new_key())).status == 200);
  // The fault strikes after the item's record was written, when its answer is stored.
  run_in_server_store(f.dir.file("s.db"),
                      "CREATE TRIGGER fault BEFORE INSERT ON idempotency WHEN NEW.body LIKE '%boom%' "
                      "BEGIN SELECT RAISE(ABORT, 'disk I/O error (test)'); END",
                      "CREATE FUNCTION fault() RETURNS trigger AS $$ BEGIN IF NEW.body LIKE '%boom%' THEN "
                      "RAISE EXCEPTION 'disk I/O error (test)' USING ERRCODE = '58030'; END IF; RETURN NEW; END "
                      "$$ LANGUAGE plpgsql; CREATE TRIGGER fault BEFORE INSERT ON idempotency FOR EACH ROW "
                      "EXECUTE FUNCTION fault()");
  std::vector<std::string> keys = {new_key(), new_key(), new_key()};
  json items = json::array();
  items.push_back(mutation("notes", "n0", "upsert", {{"v", 0}}));
  items.push_back(mutation("notes", "n1", "upsert", {{"v", "boom"}}));
  items.push_back(mutation("notes", "n2", "upsert", {{"v", 2}}));
  for (size_t i = 0; i < items.size(); ++i) items[i]["idempotency_key"] = keys[i];
  HttpRequest r = post_batch(items);
  auto answer = f.server->handle(r);
  REQUIRE(answer.status == 200);
  json results = body_of(answer)["results"];
  REQUIRE(results.size() == 3);
  INFO(results.dump());
  CHECK(results[0]["status"] == 200);
  CHECK(results[1]["status"] == 503);
  CHECK(results[1]["body"]["error"]["message"].get<std::string>().find("disk I/O error (test)") != std::string::npos);
  CHECK(results[2]["status"] == 200);
  // n1 kept its old state: the half-applied item was undone, not left without its stored answer.
  json all = body_of(f.server->handle(get_sync()));
  for (const auto& c : all["changes"]) {
    if (c["record"] == "n1") CHECK(c["fields"] == json({{"v", "before"}}));
  }
  CHECK(f.server->stats()->mutations_applied == 3);  // the first write, n0 and n2
  // Once the store is healthy the same key applies the item, and the others replay.
  run_in_server_store(f.dir.file("s.db"), "DROP TRIGGER fault", "DROP TRIGGER fault ON idempotency");
  json again = body_of(f.server->handle(r))["results"];
  CHECK(again[0]["replayed"] == true);
  CHECK(again[1]["status"] == 200);
  CHECK(again[2]["replayed"] == true);
  CHECK(f.server->stats()->mutations_applied == 4);
}

TEST_CASE("health says the batch endpoint is offered, and metrics are Prometheus text") {
  Fixture f;
  HttpRequest health{.method = "GET", .target = "/v1/health"};
  auto h = f.server->handle(health);
  CHECK(h.status == 200);
  CHECK(body_of(h)["batch"] == true);
  REQUIRE(f.send(mutation("notes", "n1", "upsert", {{"v", 1}})).status == 200);
  REQUIRE(f.send(mutation("orders", "o1", "upsert", {{"title", 1}})).status == 422);
  auto m = f.server->handle(HttpRequest{.method = "GET", .target = "/metrics"});
  CHECK(m.status == 200);
  CHECK(m.headers.get("Content-Type")->find("text/plain") == 0);
  for (const char* family : {"offsync_http_requests_total", "offsync_http_request_duration_seconds",
                             "offsync_mutations_applied_total", "offsync_idempotent_replays_total",
                             "offsync_mutation_failures_total"}) {
    CHECK(m.body.find(std::string("# TYPE ") + family) != std::string::npos);
    CHECK(m.body.find(std::string("# HELP ") + family) != std::string::npos);
  }
  CHECK(m.body.find("offsync_mutations_applied_total{endpoint=\"/v1/mutations\"} 1") != std::string::npos);
  CHECK(m.body.find("offsync_mutation_failures_total{endpoint=\"/v1/mutations\",category=\"validation\"} 1") !=
        std::string::npos);
  CHECK(f.server->handle(HttpRequest{.method = "GET", .target = "/nope"}).status == 404);
}
