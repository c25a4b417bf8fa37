#include <SQLiteCpp/Database.h>
#include <doctest/doctest.h>

#include "offsync/client.h"
#include "offsync/ulid.h"
#include "support.h"

using nlohmann::json;
using namespace offsync;
using offsync::test::open_client;
using offsync::test::ScratchDir;

namespace {

json server_record(const std::string& collection, const std::string& record, const json& fields,
                   const std::string& hlc, const std::string& op = "upsert") {
  return {{"collection", collection}, {"record", record}, {"op", op}, {"fields", fields},
          {"hlc", hlc}, {"field_hlc", json::object()}, {"attachments", json::array()}};
}

size_t outbox_size(Client& c) { return c.outbox()->size(); }

json view_of(Client& c, const std::string& collection, const std::string& record) {
  auto r = c.get(collection, record);
  return r ? r->fields : json();
}

}  // namespace

TEST_CASE("a write lands in the view and the outbox in one step and returns the mutation's ULID") {
  ScratchDir dir;
  auto client = open_client({.path = dir.file("c.db")});
  auto id = client->put("notes", "n1", {{"title", "hello"}});
  REQUIRE(id.is_ok());
  CHECK(Ulid::parse(*id).is_ok());

  CHECK(view_of(*client, "notes", "n1") == json({{"title", "hello"}}));
  auto outbox = client->outbox();
  REQUIRE(outbox->size() == 1);
  const Mutation& m = outbox->front();
  CHECK(m.id == *id);
  CHECK(m.collection == "notes");
  CHECK(m.record_id == "n1");
  CHECK(m.op == MutationOp::kUpsert);
  CHECK(m.payload == json({{"title", "hello"}}));
  CHECK_FALSE(m.base_hlc.has_value());
  CHECK(m.attempts == 0);
  CHECK(m.state == MutationState::kPending);
  CHECK(m.created_at_ms > 0);
}

TEST_CASE("create makes a record whose id is a fresh ULID") {
  ScratchDir dir;
  auto client = open_client({.path = dir.file("c.db")});
  auto a = client->create("notes", {{"t", 1}});
  auto b = client->create("notes", {{"t", 2}});
  REQUIRE(a.is_ok());
  REQUIRE(b.is_ok());
  CHECK(Ulid::parse(a->record_id).is_ok());
  CHECK(a->record_id < b->record_id);
  CHECK(client->list("notes")->size() == 2);
}

TEST_CASE("list returns the collection's records and nothing of other collections") {
  ScratchDir dir;
  auto client = open_client({.path = dir.file("c.db")});
  REQUIRE(client->put("notes", "a", {{"x", 1}}).is_ok());
  REQUIRE(client->put("notes", "b", {{"x", 2}}).is_ok());
  REQUIRE(client->put("tasks", "a", {{"y", 1}}).is_ok());
  auto notes = client->list("notes");
  REQUIRE(notes->size() == 2);
  CHECK((*notes)[0].id == "a");
  CHECK((*notes)[1].fields == json({{"x", 2}}));
}

TEST_CASE("patch applies a JSON merge patch to the record") {
  ScratchDir dir;
  auto client = open_client({.path = dir.file("c.db")});
  REQUIRE(client->put("notes", "n1", {{"title", "a"}, {"body", "b"}}).is_ok());
  REQUIRE(client->patch("notes", "n1", {{"body", nullptr}, {"done", true}}).is_ok());
  CHECK(view_of(*client, "notes", "n1") == json({{"title", "a"}, {"done", true}}));
}

TEST_CASE("a delete leaves a tombstone that is purged only after the server acknowledges it") {
  ScratchDir dir;
  auto client = open_client({.path = dir.file("c.db")});
  auto put = client->put("notes", "n1", {{"title", "a"}});
  REQUIRE(client->begin_send(*put).is_ok());
  REQUIRE(client->acknowledge(*put, server_record("notes", "n1", {{"title", "a"}}, "h1")).is_ok());

  auto del = client->remove("notes", "n1");
  REQUIRE(del.is_ok());
  REQUIRE_FALSE(del->empty());
  CHECK(client->get("notes", "n1").status().code() == StatusCode::kNotFound);
  auto tombstones = client->tombstones();
  REQUIRE(tombstones->size() == 1);
  CHECK(tombstones->front().record_id == "n1");
  CHECK(tombstones->front().mutation_id == *del);
  CHECK(client->mutation(*del)->base_hlc == "h1");

  REQUIRE(client->begin_send(*del).is_ok());
  CHECK(client->tombstones()->size() == 1);  // sent is not acknowledged
  REQUIRE(client->retry_later(*del, 0, "timeout").is_ok());
  CHECK(client->tombstones()->size() == 1);

  REQUIRE(client->begin_send(*del).is_ok());
  REQUIRE(client->acknowledge(*del, server_record("notes", "n1", json::object(), "h2", "delete")).is_ok());
  CHECK(client->tombstones()->empty());
  CHECK(outbox_size(*client) == 0);
  CHECK(client->get("notes", "n1").status().code() == StatusCode::kNotFound);
}

TEST_CASE("acknowledging stores the server's record as base, with pending edits still applied on top") {
  ScratchDir dir;
  auto client = open_client({.path = dir.file("c.db")});
  auto first = client->put("notes", "n1", {{"title", "a"}});
  REQUIRE(client->begin_send(*first).is_ok());
  auto second = client->patch("notes", "n1", {{"done", true}});
  REQUIRE(*second != *first);  // the first is frozen: the patch is a new mutation
  // The server's answer carries a field this client does not know; it must be kept.
  REQUIRE(client->acknowledge(*first, server_record("notes", "n1", {{"title", "a"}, {"srv", 7}}, "h5")).is_ok());
  CHECK(view_of(*client, "notes", "n1") == json({{"title", "a"}, {"srv", 7}, {"done", true}}));
  // The later, unsent mutation now starts from the acknowledged record.
  CHECK(client->mutation(*second)->base_hlc == "h5");
}

TEST_CASE("a mutation in flight is never rewritten: later writes become new mutations") {
  ScratchDir dir;
  auto client = open_client({.path = dir.file("c.db")});
  auto first = client->put("notes", "n1", {{"v", 1}});
  REQUIRE(client->begin_send(*first).is_ok());
  auto second = client->put("notes", "n1", {{"v", 2}});
  auto third = client->patch("notes", "n1", {{"w", 3}});
  CHECK(*second != *first);
  CHECK(*third == *second);  // folds into the unsent one
  CHECK(client->mutation(*first)->payload == json({{"v", 1}}));
  CHECK(client->mutation(*second)->payload == json({{"v", 2}, {"w", 3}}));
  CHECK(client->discard(*first).code() == StatusCode::kConflict);  // on the wire
}

TEST_CASE("a patch folds into an earlier unsent mutation of the same record") {
  ScratchDir dir;
  auto client = open_client({.path = dir.file("c.db")});
  auto put = client->put("notes", "n1", {{"title", "a"}, {"body", "x"}});
  auto patch = client->patch("notes", "n1", {{"body", nullptr}, {"done", true}});
  CHECK(*patch == *put);
  auto m = client->mutation(*put);
  CHECK(m->op == MutationOp::kUpsert);
  CHECK(m->payload == json({{"title", "a"}, {"done", true}}));
  CHECK(outbox_size(*client) == 1);

  // patch into patch (on a server-known record)
  REQUIRE(client->begin_send(*put).is_ok());
  REQUIRE(client->acknowledge(*put, server_record("notes", "n1", m->payload, "h1")).is_ok());
  auto p1 = client->patch("notes", "n1", {{"a", 1}});
  auto p2 = client->patch("notes", "n1", {{"b", 2}, {"a", nullptr}});
  CHECK(*p1 == *p2);
  CHECK(client->mutation(*p1)->op == MutationOp::kPatch);
  CHECK(client->mutation(*p1)->payload == json({{"a", nullptr}, {"b", 2}}));
}

TEST_CASE("patches that no single merge patch can express stay separate mutations") {
  ScratchDir dir;
  auto client = open_client({.path = dir.file("c.db")});
  auto put = client->put("notes", "n1", {{"m", {{"x", 1}}}});
  REQUIRE(client->begin_send(*put).is_ok());
  REQUIRE(client->acknowledge(*put, server_record("notes", "n1", {{"m", {{"x", 1}}}}, "h1")).is_ok());
  auto p1 = client->patch("notes", "n1", {{"m", nullptr}});
  auto p2 = client->patch("notes", "n1", {{"m", {{"y", 2}}}});
  CHECK(*p1 != *p2);
  CHECK(view_of(*client, "notes", "n1") == json({{"m", {{"y", 2}}}}));
}

TEST_CASE("a delete drops the unsent writes of its record, and create then delete leaves nothing") {
  ScratchDir dir;
  auto client = open_client({.path = dir.file("c.db")});
  REQUIRE(client->put("notes", "keep", {{"x", 1}}).is_ok());
  REQUIRE(client->put("notes", "n1", {{"title", "draft"}}).is_ok());
  REQUIRE(client->patch("notes", "n1", {{"title", "draft 2"}}).is_ok());
  auto del = client->remove("notes", "n1");
  REQUIRE(del.is_ok());
  CHECK(del->empty());
  auto outbox = client->outbox();
  REQUIRE(outbox->size() == 1);
  CHECK(outbox->front().record_id == "keep");
  CHECK(client->tombstones()->empty());

  // On a record the server knows, the unsent patch goes and the delete stays.
  auto put = client->put("notes", "n2", {{"v", 1}});
  REQUIRE(client->begin_send(*put).is_ok());
  REQUIRE(client->acknowledge(*put, server_record("notes", "n2", {{"v", 1}}, "h1")).is_ok());
  REQUIRE(client->patch("notes", "n2", {{"v", 2}}).is_ok());
  auto del2 = client->remove("notes", "n2");
  REQUIRE_FALSE(del2->empty());
  outbox = client->outbox();
  REQUIRE(outbox->size() == 2);
  CHECK(outbox->back().op == MutationOp::kDelete);
  CHECK(outbox->back().record_id == "n2");
}

TEST_CASE("a delete after a sent create is sent, since the server may hold the record") {
  ScratchDir dir;
  auto client = open_client({.path = dir.file("c.db")});
  auto put = client->put("notes", "n1", {{"v", 1}});
  REQUIRE(client->begin_send(*put).is_ok());
  REQUIRE(client->retry_later(*put, 0, "timeout").is_ok());  // outcome unknown
  auto del = client->remove("notes", "n1");
  REQUIRE_FALSE(del->empty());
  CHECK(outbox_size(*client) == 2);
}

TEST_CASE("collections with coalescing off send every write as written") {
  ScratchDir dir;
  auto client = open_client({.path = dir.file("c.db"), .no_coalesce = {"audit"}});
  auto a = client->put("audit", "r", {{"v", 1}});
  auto b = client->patch("audit", "r", {{"v", 2}});
  CHECK(*a != *b);
  auto del = client->remove("audit", "r");
  CHECK_FALSE(del->empty());
  CHECK(outbox_size(*client) == 3);
}

TEST_CASE("rapid successive saves of one record offline are never lost") {
  ScratchDir dir;
  auto client = open_client({.path = dir.file("c.db"), .durability = Durability::kNormal});
  for (int i = 0; i < 500; ++i) {
    REQUIRE(client->put("notes", "n1", {{"text", std::string(static_cast<size_t>(i % 50), 'x')}, {"rev", i}}).is_ok());
    if (i == 200) REQUIRE(client->begin_send(client->outbox()->front().id).is_ok());
  }
  CHECK(view_of(*client, "notes", "n1")["rev"] == 499);
  auto outbox = client->outbox();
  REQUIRE(outbox->size() == 2);
  CHECK(outbox->front().payload["rev"] == 200);  // frozen when its send began
  CHECK(outbox->back().payload["rev"] == 499);
}

TEST_CASE("discarding a mutation recomputes the view exactly from base and the rest") {
  ScratchDir dir;
  auto client = open_client({.path = dir.file("c.db")});
  auto put = client->put("notes", "n1", {{"title", "a"}, {"n", 0}});
  REQUIRE(client->begin_send(*put).is_ok());
  REQUIRE(client->acknowledge(*put, server_record("notes", "n1", {{"title", "a"}, {"n", 0}}, "h1")).is_ok());
  auto p1 = client->patch("notes", "n1", {{"n", 1}});
  REQUIRE(client->begin_send(*p1).is_ok());
  REQUIRE(client->retry_later(*p1, 0, "503").is_ok());
  auto p2 = client->patch("notes", "n1", {{"title", "b"}});
  CHECK(view_of(*client, "notes", "n1") == json({{"title", "b"}, {"n", 1}}));

  REQUIRE(client->discard(*p1).is_ok());
  CHECK(view_of(*client, "notes", "n1") == json({{"title", "b"}, {"n", 0}}));
  REQUIRE(client->discard(*p2).is_ok());
  CHECK(view_of(*client, "notes", "n1") == json({{"title", "a"}, {"n", 0}}));
  CHECK(outbox_size(*client) == 0);
  CHECK(client->discard(*p2).code() == StatusCode::kNotFound);
}

TEST_CASE("discarding a delete restores the record and drops its tombstone") {
  ScratchDir dir;
  auto client = open_client({.path = dir.file("c.db")});
  auto put = client->put("notes", "n1", {{"v", 1}});
  REQUIRE(client->begin_send(*put).is_ok());
  REQUIRE(client->acknowledge(*put, server_record("notes", "n1", {{"v", 1}}, "h1")).is_ok());
  auto del = client->remove("notes", "n1");
  REQUIRE(client->discard(*del).is_ok());
  CHECK(view_of(*client, "notes", "n1") == json({{"v", 1}}));
  CHECK(client->tombstones()->empty());
}

TEST_CASE("a rejected mutation leaves the view, keeps the server's message, and can be discarded") {
  ScratchDir dir;
  auto client = open_client({.path = dir.file("c.db")});
  auto put = client->put("notes", "n1", {{"v", 1}});
  REQUIRE(client->begin_send(*put).is_ok());
  REQUIRE(client->acknowledge(*put, server_record("notes", "n1", {{"v", 1}}, "h1")).is_ok());
  auto bad = client->patch("notes", "n1", {{"v", -5}});
  REQUIRE(client->begin_send(*bad).is_ok());
  REQUIRE(client->reject(*bad, "v must not be negative").is_ok());
  CHECK(view_of(*client, "notes", "n1") == json({{"v", 1}}));
  auto m = client->mutation(*bad);
  CHECK(m->state == MutationState::kRejected);
  CHECK(m->last_error == "v must not be negative");
  auto summary = client->summary();
  CHECK(summary->rejected == 1);
  CHECK(summary->pending == 0);
  REQUIRE(client->discard(*bad).is_ok());
  CHECK(client->summary()->rejected == 0);
}

TEST_CASE("bad input gets a clear error and writes no row") {
  ScratchDir dir;
  auto client = open_client({.path = dir.file("c.db"), .max_payload_bytes = 100});
  REQUIRE(client->put("notes", "n1", {{"v", 1}}).is_ok());
  auto expect_refused = [&](const Result<std::string>& r, StatusCode code, const std::string& words) {
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().code() == code);
    CHECK_MESSAGE(r.status().message().find(words) != std::string::npos, r.status().message());
    CHECK(outbox_size(*client) == 1);
    CHECK(view_of(*client, "notes", "n1") == json({{"v", 1}}));
  };
  expect_refused(client->put("", "n1", {{"v", 2}}), StatusCode::kInvalidArgument, "collection is empty");
  expect_refused(client->put("no/tes", "n1", {{"v", 2}}), StatusCode::kInvalidArgument, "collection 'no/tes'");
  expect_refused(client->put("1notes", "n1", {{"v", 2}}), StatusCode::kInvalidArgument, "must start with a letter");
  expect_refused(client->put("notes", "a b", {{"v", 2}}), StatusCode::kInvalidArgument, "record id 'a b'");
  expect_refused(client->put("notes", "n1", json::array({1, 2})), StatusCode::kInvalidArgument,
                 "payload is not a JSON object (got array)");
  expect_refused(client->put("notes", "n1", "text"), StatusCode::kInvalidArgument, "not a JSON object (got string)");
  expect_refused(client->put("notes", "n1", {{"v", std::string(200, 'x')}}), StatusCode::kInvalidArgument,
                 "over the limit of 100");
  expect_refused(client->patch("notes", "n1", json::array()), StatusCode::kInvalidArgument, "patch is not a JSON object");
  expect_refused(client->patch("notes", "n1", {{"w", std::string(90, 'x')}}), StatusCode::kInvalidArgument,
                 "patched record would exceed");
  expect_refused(client->patch("notes", "ghost", {{"v", 2}}), StatusCode::kNotFound, "no record notes/ghost");
  expect_refused(client->remove("notes", "ghost"), StatusCode::kNotFound, "no record notes/ghost");
}

TEST_CASE("a full disk fails the write, keeps the database intact and every earlier write readable") {
  ScratchDir dir;
  std::string path = dir.file("c.db");
  std::vector<std::string> written;
  {
    auto client = open_client({.path = path, .max_page_count = 40});
    Status last;
    for (int i = 0; i < 10'000; ++i) {
      auto id = client->put("notes", "n" + std::to_string(i), {{"body", std::string(500, 'x')}, {"i", i}});
      if (!id) {
        last = id.status();
        break;
      }
      written.push_back("n" + std::to_string(i));
    }
    REQUIRE_FALSE(last.is_ok());
    CHECK(last.code() == StatusCode::kResourceExhausted);
    REQUIRE(written.size() > 10);
    // Still usable for reads, and nothing half-written.
    CHECK(client->list("notes")->size() == written.size());
    CHECK(client->outbox()->size() == written.size());
  }
  auto reopened = open_client({.path = path});
  SQLite::Database check(path);
  CHECK(check.execAndGet("PRAGMA integrity_check").getString() == "ok");
  auto notes = reopened->list("notes");
  REQUIRE(notes->size() == written.size());
  CHECK(reopened->outbox()->size() == written.size());
  for (size_t i = 0; i < written.size(); i += 7) {
    CHECK(reopened->get("notes", written[i])->fields["i"] == static_cast<int>(i));
  }
}

TEST_CASE("mutations left in flight by a dead process are pending again, still frozen, after reopening") {
  ScratchDir dir;
  std::string path = dir.file("c.db");
  std::string id;
  {
    auto client = open_client({.path = path});
    id = *client->put("notes", "n1", {{"v", 1}});
    REQUIRE(client->begin_send(id).is_ok());
  }
  auto client = open_client({.path = path});
  auto m = client->mutation(id);
  CHECK(m->state == MutationState::kPending);
  CHECK(m->attempts == 1);
  auto next = client->put("notes", "n1", {{"v", 2}});
  CHECK(*next != id);  // frozen: not folded into
}

TEST_CASE("the client id is made once and kept across reopening") {
  ScratchDir dir;
  std::string first;
  {
    auto client = open_client({.path = dir.file("c.db")});
    first = client->client_id();
    CHECK(Ulid::parse(first).is_ok());
  }
  CHECK(open_client({.path = dir.file("c.db")})->client_id() == first);
}

TEST_CASE("two clients on one file see each other's writes") {
  ScratchDir dir;
  auto a = open_client({.path = dir.file("c.db")});
  auto b = open_client({.path = dir.file("c.db")});
  REQUIRE(a->put("notes", "n1", {{"v", 1}}).is_ok());
  CHECK(view_of(*b, "notes", "n1") == json({{"v", 1}}));
  // A read must not pin a snapshot: b sees a's next write too.
  REQUIRE(a->put("notes", "n1", {{"v", 2}}).is_ok());
  CHECK(view_of(*b, "notes", "n1") == json({{"v", 2}}));
  CHECK(b->outbox()->size() == 1);
}
