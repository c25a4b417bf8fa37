// A server process on PostgreSQL whose connection breaks (the database restarted, failed over, or
// an operator ended the backend): requests answer 503 while it is down, never a wrong answer, and
// the process reconnects by itself. Runs in the "pg:" run only (there is no connection to cut on
// a SQLite file).
#include <doctest/doctest.h>

#include "offsync/server.h"
#include "pg_support.h"
#include "server_support.h"
#include "support.h"

#if OFFSYNC_WITH_POSTGRES
#include <pqxx/pqxx>
#endif

using namespace offsync;
using namespace offsync::test;
using nlohmann::json;

#if OFFSYNC_WITH_POSTGRES
namespace {

json note(const std::string& id, int v) {
  return {{"collection", "notes"}, {"record", id}, {"op", "upsert"}, {"fields", {{"v", v}}}};
}

// Ends the backends of connections named `name`, as pg_terminate_backend by an operator or a
// database restart would; returns how many.
int cut(const std::string& db_path, const std::string& name) {
  pqxx::connection c(test_postgres_for(db_path));
  pqxx::nontransaction s(c);
  auto r = s.exec_params(
      "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name=$1) t",
      name);
  return r[0][0].as<int>();
}

}  // namespace

TEST_CASE("a server whose PostgreSQL connection is cut answers 503, then reconnects by itself") {
  if (!testing_postgres()) return;
  ScratchDir dir;
  std::string db = dir.file("s.db");
  ServerOptions options{.db_path = db, .durability = Durability::kNormal};
  options.postgres = test_postgres_for(db) + " application_name=offsync_cut_test";
  auto server = open_server(std::move(options));
  REQUIRE(server->handle(post_mutation(note("n1", 1), new_key())).status == 200);

  for (int round = 0; round < 3; ++round) {
    CAPTURE(round);
    REQUIRE(cut(db, "offsync_cut_test") == 1);
    if (round == 1) {
      // A read first: it fails once at most too.
      int failed_reads = 0;
      HttpResponse read;
      for (int attempt = 0; attempt < 5; ++attempt) {
        read = server->handle(get_sync("", 100));
        if (read.status != 503) break;
        ++failed_reads;
      }
      CHECK(failed_reads <= 1);
      CHECK(read.status == 200);
    }
    // The first request after the cut may find the connection gone (a 503 the client retries
    // under the same key); within a few tries the process is back.
    std::string key = new_key();
    HttpResponse answer;
    int unavailable = 0;
    for (int attempt = 0; attempt < 5; ++attempt) {
      answer = server->handle(post_mutation(note("n" + std::to_string(round + 2), round), key));
      if (answer.status != 503) break;
      ++unavailable;
      CHECK(answer.headers.get("Retry-After").has_value());
    }
    MESSAGE("round " << round << ": " << unavailable << " answer(s) 503 before the process was back");
    CHECK(unavailable <= 1);
    CHECK_MESSAGE(answer.status == 200, answer.body);
    // Reads too, and everything written before the cut is there.
    json page = body_of(server->handle(get_sync("", 100)));
    CHECK(page["changes"].size() == static_cast<size_t>(round + 2));
  }
  CHECK(server->stats()->mutations_applied == 4);
}

TEST_CASE("a PostgreSQL connection cut inside a write transaction loses all of it, and the retry applies it once") {
  if (!testing_postgres()) return;
  ScratchDir dir;
  std::string db = dir.file("s.db");
  ServerOptions options{.db_path = db, .durability = Durability::kNormal};
  options.postgres = test_postgres_for(db) + " application_name=offsync_cut_mid_test";
  int cuts = 0;
  // Runs inside the write transaction (after a batch's earlier items were written): cuts once
  // per armed request.
  options.validators["cut"] = [&](const json&) -> std::optional<SchemaViolation> {
    if (cuts > 0) {
      REQUIRE(cut(db, "offsync_cut_mid_test") == 1);
      --cuts;
    }
    return std::nullopt;
  };
  auto server = open_server(std::move(options));
  json cutting = {{"collection", "cut"}, {"record", "c"}, {"op", "upsert"}, {"fields", {{"v", 1}}}};

  // One mutation: 503, nothing of it stored; the client's retry under the same key applies it.
  cuts = 1;
  std::string key = new_key();
  auto lost = server->handle(post_mutation(cutting, key));
  CHECK(lost.status == 503);
  CHECK(lost.headers.get("Retry-After").has_value());
  CHECK(body_of(server->handle(get_sync("", 100)))["changes"].empty());
  CHECK(server->stats()->mutations_applied == 0);
  auto retried = server->handle(post_mutation(cutting, key));
  CHECK(retried.status == 200);
  CHECK_FALSE(retried.headers.get("Idempotent-Replayed").has_value());
  CHECK(server->stats()->mutations_applied == 1);

  // A batch: its transaction is lost with the items written before the cut, and the batch's own
  // second pass (item by item, on a new connection) applies each once.
  cuts = 1;
  json items = json::array();
  for (int i = 0; i < 3; ++i) {
    json item = note("b" + std::to_string(i), i);
    item["idempotency_key"] = new_key();
    items.push_back(item);
  }
  json last = cutting;
  last["record"] = "c2";
  last["idempotency_key"] = new_key();
  items.push_back(last);
  HttpRequest batch{.method = "POST", .target = "/v1/mutations:batch"};
  batch.headers.add("Content-Type", "application/json");
  batch.body = json{{"mutations", items}}.dump();
  auto answered = server->handle(batch);
  REQUIRE(answered.status == 200);
  CHECK(cuts == 0);
  json answered_body = body_of(answered);
  for (const auto& r : answered_body["results"]) {
    CHECK(r["status"] == 200);
    CHECK_FALSE(r.value("replayed", false));
  }
  CHECK(body_of(server->handle(get_sync("", 100)))["changes"].size() == 5);
  CHECK(server->stats()->mutations_applied == 5);
}
#endif
