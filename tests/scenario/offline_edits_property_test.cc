// Property: whatever the app does offline, and whenever sends begin or succeed in between, what the
// app sees is exactly what the server will hold once the outbox has drained; and coalescing
// changes how many mutations are sent, never that outcome.
#include <doctest/doctest.h>
#include <rapidcheck.h>

#include <map>

#include "engine/client/view.h"
#include "offsync/client.h"
#include "support.h"

using nlohmann::json;
using namespace offsync;

namespace {

enum class Step { kPut, kPatch, kRemove, kSendFirst, kFreezeFirst };

struct Action {
  Step step;
  int record;
  int value;
};

// The server as far as a single writer can tell: records by id, absent once deleted.
struct ModelServer {
  std::map<std::string, json> records;
  int clock = 0;

  json apply(const Mutation& m) {
    std::optional<json> current;
    if (auto it = records.find(m.record_id); it != records.end()) current = it->second;
    auto next = apply_mutation(current, m.op, m.payload);
    // Like a server's HLCs, they sort as strings in the order they were issued.
    std::string digits = std::to_string(++clock);
    std::string hlc = "h" + std::string(8 - digits.size(), '0') + digits;
    if (next) {
      records[m.record_id] = *next;
      return {{"collection", m.collection}, {"record", m.record_id}, {"op", "upsert"}, {"fields", *next}, {"hlc", hlc}};
    }
    records.erase(m.record_id);
    return {{"collection", m.collection}, {"record", m.record_id}, {"op", "delete"}, {"fields", json::object()}, {"hlc", hlc}};
  }
};

json patch_for(int value) {
  // Alternate plain sets, removals and nested patches so that folding meets every case.
  switch (value % 4) {
    case 0: return {{"a", value}};
    case 1: return {{"a", nullptr}, {"b", value}};
    case 2: return {{"m", {{"x", value}}}};
    default: return {{"m", nullptr}};
  }
}

struct Outcome {
  std::map<std::string, json> view;
  size_t mutations_created = 0;
};

Outcome run(const std::vector<Action>& actions, bool coalesce) {
  test::ScratchDir dir;
  auto client = test::open_client({.path = dir.file("c.db"), .durability = Durability::kNormal, .coalesce = coalesce});
  ModelServer server;
  std::set<std::string> ids;
  for (const Action& a : actions) {
    std::string record = "r" + std::to_string(a.record);
    bool exists = client->get("notes", record).is_ok();
    switch (a.step) {
      case Step::kPut: {
        auto id = client->put("notes", record, {{"v", a.value}});
        RC_ASSERT(id.is_ok());
        ids.insert(*id);
        break;
      }
      case Step::kPatch: {
        auto id = client->patch("notes", record, patch_for(a.value));
        RC_ASSERT(id.is_ok() == exists);
        if (id) ids.insert(*id);
        break;
      }
      case Step::kRemove: {
        auto id = client->remove("notes", record);
        RC_ASSERT(id.is_ok() == exists);
        if (id && !id->empty()) ids.insert(*id);
        break;
      }
      case Step::kSendFirst: {
        auto outbox = client->outbox();
        if (outbox->empty()) break;
        const Mutation& m = outbox->front();
        RC_ASSERT(client->begin_send(m.id).is_ok());
        RC_ASSERT(client->acknowledge(m.id, server.apply(m)).is_ok());
        break;
      }
      case Step::kFreezeFirst: {  // a send whose answer was lost: the server did not apply it
        for (const Mutation& m : *client->outbox()) {
          if (m.attempts == 0) {
            RC_ASSERT(client->begin_send(m.id).is_ok());
            RC_ASSERT(client->retry_later(m.id, 0, "timeout").is_ok());
            break;
          }
        }
        break;
      }
    }
  }
  Outcome out;
  for (const Record& r : *client->list("notes")) out.view[r.id] = r.fields;
  // Drain: the server applies every remaining mutation in ULID order.
  for (const Mutation& m : *client->outbox()) server.apply(m);
  RC_ASSERT(json(server.records).dump() == json(out.view).dump());
  out.mutations_created = ids.size();
  return out;
}

}  // namespace

TEST_CASE("property: the view is what the server holds once the outbox drains, with or without coalescing") {
  bool ok = rc::check("offline edits", [] {
    auto actions = *rc::gen::container<std::vector<Action>>(rc::gen::build<Action>(
        rc::gen::set(&Action::step, rc::gen::element(Step::kPut, Step::kPut, Step::kPatch, Step::kPatch,
                                                     Step::kPatch, Step::kRemove, Step::kSendFirst,
                                                     Step::kFreezeFirst)),
        rc::gen::set(&Action::record, rc::gen::inRange(0, 3)),
        rc::gen::set(&Action::value, rc::gen::inRange(0, 100))));
    Outcome folded = run(actions, true);
    Outcome plain = run(actions, false);
    RC_ASSERT(json(folded.view).dump() == json(plain.view).dump());
    RC_ASSERT(folded.mutations_created <= plain.mutations_created);
  });
  CHECK(ok);
}
