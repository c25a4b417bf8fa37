// `offsync serve` as a real process, driven by curl over TCP on loopback.
#include <doctest/doctest.h>
#include <signal.h>

#include <fstream>
#include <future>
#include <nlohmann/json.hpp>

#include "e2e/process.h"
#include "server_support.h"
#include "support.h"

using nlohmann::json;
using namespace offsync::test;

namespace {

constexpr const char* kSchema = R"({
  "min_app_version": "1.2.0",
  "collections": {
    "orders": {"required": ["title"],
               "fields": {"title": {"type": "string"},
                          "status": {"type": "string", "merge": "escalate"}}},
    "notes": {}
  }})";

struct LiveServer {
  ScratchDir dir;
  std::string db = dir.file("server.db");
  std::unique_ptr<ChildProcess> process;
  std::string base;

  explicit LiveServer(std::vector<std::string> extra = {}) {
    std::ofstream(dir.file("schema.json")) << kSchema;
    std::vector<std::string> argv = {OFFSYNC_BIN, "serve", store_flag(), store_arg(db), "--listen", "127.0.0.1:0",
                                     "--schema", dir.file("schema.json")};
    argv.insert(argv.end(), extra.begin(), extra.end());
    process = std::make_unique<ChildProcess>(argv);
    base = http_url_of(*process);
  }

  CurlReply post(const json& body, const std::string& key, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"-X", "POST", "-H", "Content-Type: application/json", "--data-binary",
                                     body.dump()};
    if (!key.empty()) args.insert(args.end(), {"-H", "Idempotency-Key: " + key});
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(base + "/v1/mutations");
    return curl(args);
  }
  CurlReply sync(const std::string& cursor = "", std::vector<std::string> extra = {}) {
    extra.push_back(base + "/v1/sync" + (cursor.empty() ? "" : "?cursor=" + cursor));
    return curl(extra);
  }
  json stats() {
    auto r = run_process({OFFSYNC_BIN, "admin", "stats", store_flag(), store_arg(db), "--json"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    return json::parse(r.out);
  }
};

json order(const std::string& id, const json& fields, const std::string& op = "upsert", const json& base = nullptr) {
  json m = {{"collection", "orders"}, {"record", id}, {"op", op}, {"base", base}};
  if (op != "delete") m["fields"] = fields;
  return m;
}

std::string error_of(const CurlReply& r) { return json::parse(r.body)["error"]["code"]; }

}  // namespace

TEST_CASE("over TCP, a repeated key replays byte for byte and a reused one is 422") {
  LiveServer s;
  std::string key = new_key();
  auto first = s.post(order("o1", {{"title", "t"}}), key);
  auto again = s.post(order("o1", {{"title", "t"}}), key);
  REQUIRE(first.status == 200);
  CHECK(again.status == 200);
  CHECK(again.body == first.body);
  CHECK(again.header("Idempotent-Replayed") == "true");
  auto reused = s.post(order("o1", {{"title", "other"}}), key);
  CHECK(reused.status == 422);
  CHECK(error_of(reused) == "idempotency_key_reused");
  json stats = s.stats();
  CHECK(stats["mutations_applied"] == 1);
  CHECK(stats["replays"] == 1);
  CHECK(stats["idempotency_keys"] == 1);
  CHECK(s.post(order("o2", {{"title", "t"}}), "").status == 400);
}

TEST_CASE("over TCP, eight concurrent curl requests with one key have one effect") {
  LiveServer s;
  std::string key = new_key();
  std::vector<std::future<CurlReply>> replies;
  for (int i = 0; i < 8; ++i) {
    replies.push_back(std::async(std::launch::async, [&] { return s.post(order("o1", {{"title", "t"}}), key); }));
  }
  int fresh = 0;
  for (auto& f : replies) {
    CurlReply r = f.get();
    CHECK((r.status == 200 || r.status == 409));
    if (r.status == 200 && r.header("Idempotent-Replayed").empty()) ++fresh;
  }
  CHECK(fresh == 1);
  CHECK(s.stats()["mutations_applied"] == 1);
}

TEST_CASE("over TCP, an escalated field conflicts with the server state and an lww stale update applies") {
  LiveServer s;
  auto created = s.post(order("o1", {{"title", "t"}, {"status", "new"}}), new_key());
  std::string base = json::parse(created.body)["hlc"];
  REQUIRE(s.post(order("o1", {{"status", "paid"}}, "patch", base), new_key()).status == 200);
  auto conflict = s.post(order("o1", {{"status", "void"}}, "patch", base), new_key());
  CHECK(conflict.status == 409);
  CHECK(json::parse(conflict.body)["server"]["fields"]["status"] == "paid");
  auto stale = s.post(order("o1", {{"title", "renamed"}}, "patch", base), new_key());
  CHECK(stale.status == 200);
  CHECK(json::parse(stale.body)["record"]["fields"]["title"] == "renamed");
}

TEST_CASE("over TCP, a tombstone syncs, cursors are 400 when tampered and 410 after rotation") {
  LiveServer s;
  REQUIRE(s.post(order("o1", {{"title", "t"}}), new_key()).status == 200);
  REQUIRE(s.post(order("o1", {}, "delete"), new_key()).status == 200);
  auto page = s.sync();
  REQUIRE(page.status == 200);
  json body = json::parse(page.body);
  REQUIRE(body["changes"].size() == 1);
  CHECK(body["changes"][0]["op"] == "delete");
  std::string cursor = body["cursor"];
  CHECK(s.sync(cursor).status == 200);
  std::string tampered = cursor.substr(0, cursor.size() - 1) + (cursor.back() == 'A' ? "Q" : "A");
  auto bad = s.sync(tampered);
  CHECK(bad.status == 400);
  CHECK(error_of(bad) == "invalid_cursor");
  auto rotated = run_process({OFFSYNC_BIN, "admin", "rotate-cursor", store_flag(), store_arg(s.db), "--json"});
  REQUIRE_MESSAGE(rotated.exit_code == 0, rotated.err);
  auto expired = s.sync(cursor);
  CHECK(expired.status == 410);
  CHECK(error_of(expired) == "cursor_expired");
}

TEST_CASE("offsync admin compact expires older cursors") {
  LiveServer s;
  REQUIRE(s.post(order("o1", {{"title", "t"}}), new_key()).status == 200);
  std::string cursor = json::parse(s.sync().body)["cursor"];
  REQUIRE(s.post(order("o1", {}, "delete"), new_key()).status == 200);
  REQUIRE(s.post(order("o2", {{"title", "u"}}), new_key()).status == 200);
  auto compacted = run_process({OFFSYNC_BIN, "admin", "compact", store_flag(), store_arg(s.db), "--before", "2999-01-01T00:00:00Z", "--json"});
  REQUIRE_MESSAGE(compacted.exit_code == 0, compacted.err);
  CHECK(json::parse(compacted.out)["tombstones_purged"] == 1);
  CHECK(s.sync(cursor).status == 410);
  CHECK(run_process({OFFSYNC_BIN, "admin", "compact", store_flag(), store_arg(s.db), "--before", "yesterday"}).exit_code != 0);
}

TEST_CASE("over TCP, old app versions get 426 and the deprecated shape gets Sunset") {
  LiveServer s;
  auto old = s.post(order("o1", {{"title", "t"}}), new_key(), {"-H", "Offsync-App-Version: 1.1.0"});
  CHECK(old.status == 426);
  CHECK(error_of(old) == "upgrade_required");
  json v0 = {{"type", "upsert"}, {"collection", "notes"}, {"record_id", "n1"}, {"data", {{"v", 1}}}};
  auto deprecated = s.post(v0, new_key(), {"-H", "Offsync-App-Version: 1.2.0"});
  CHECK(deprecated.status == 200);
  CHECK(!deprecated.header("Sunset").empty());
  CHECK(!deprecated.header("Deprecation").empty());
}

TEST_CASE("over TCP, a body over the limit is 413 and the server goes on") {
  LiveServer s({"--max-body-bytes", "2000"});
  auto big = s.post(order("o1", {{"title", std::string(5000, 'x')}}), new_key());
  CHECK(big.status == 413);
  CHECK(error_of(big) == "body_too_large");
  CHECK(s.post(order("o1", {{"title", "small"}}), new_key()).status == 200);
  CHECK(s.stats()["changes"] == 1);
}

TEST_CASE("keep-alive: one curl connection carries several requests") {
  LiveServer s;
  auto r = run_process({"/usr/bin/curl", "-s", "-v", "-o", "/dev/null", s.base + "/v1/health", "-o", "/dev/null",
                        s.base + "/v1/health"});
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("Re-using existing connection") != std::string::npos);
}

TEST_CASE("SIGTERM stops the server cleanly and what it applied stays applied") {
  LiveServer s;
  REQUIRE(s.post(order("o1", {{"title", "t"}}), new_key()).status == 200);
  CHECK(s.process->stop(SIGTERM) == 0);
  CHECK(s.stats()["mutations_applied"] == 1);
}

TEST_CASE("serve refuses bad options with one line naming the problem") {
  ScratchDir dir;
  std::ofstream(dir.file("bad.json")) << R"({"collections": {"x": {"fields": {"f": {"merge": "sometimes"}}}}})";
  auto bad_schema = run_process({OFFSYNC_BIN, "serve", store_flag(), store_arg(dir.file("s.db")), "--listen", "127.0.0.1:0", "--schema",
                                 dir.file("bad.json")});
  CHECK(bad_schema.exit_code != 0);
  CHECK(bad_schema.err.find("collections.x.fields.f.merge") != std::string::npos);
  auto bad_listen = run_process({OFFSYNC_BIN, "serve", store_flag(), store_arg(dir.file("s.db")), "--listen", "nowhere"});
  CHECK(bad_listen.exit_code != 0);
  CHECK(bad_listen.err.find("HOST:PORT") != std::string::npos);
}

TEST_CASE("GET /metrics passes promtool check metrics after real traffic") {
  LiveServer s;
  REQUIRE(s.post(order("o1", {{"title", "t"}}), new_key()).status == 200);
  REQUIRE(s.post(order("o1", {{"title", 5}}), new_key()).status == 422);
  REQUIRE(s.sync().status == 200);
  auto metrics = curl({s.base + "/metrics"});
  REQUIRE(metrics.status == 200);
  std::string path = s.dir.file("metrics.txt");
  std::ofstream(path) << metrics.body;
  auto check = run_process({"/bin/sh", "-c", "promtool check metrics < " + path});
  std::string said = check.out + check.err;
  CHECK_MESSAGE(check.exit_code == 0, said);
  CHECK(said.empty());
}

TEST_CASE("over TCP, a record nested 100,000 levels deep is a 400 and the server goes on (it once crashed it)") {
  LiveServer s;
  std::string body = R"({"collection":"notes","record":"r","op":"upsert","fields":{"x":)" + std::string(100'000, '[') +
                     std::string(100'000, ']') + "}}";
  std::string file = s.dir.file("deep.json");
  std::ofstream(file) << body;
  CurlReply deep = curl({"-X", "POST", "-H", "Content-Type: application/json", "-H", "Idempotency-Key: " + new_key(),
                         "--data-binary", "@" + file, s.base + "/v1/mutations"});
  CHECK(deep.status == 400);
  CHECK(error_of(deep) == "json_too_deep");
  CHECK(s.post({{"collection", "notes"}, {"record", "after"}, {"op", "upsert"}, {"fields", {{"v", 1}}}}, new_key()).status == 200);
}
