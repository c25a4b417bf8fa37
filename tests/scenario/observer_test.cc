// What sync observers hear: records whose view changed, and only those.
#include <doctest/doctest.h>

#include <mutex>
#include <set>

#include "offsync/client.h"
#include "offsync/transport.h"
#include "server_support.h"
#include "support.h"

using nlohmann::json;
using namespace offsync;
using namespace offsync::test;

namespace {

struct Recorder : SyncObserver {
  std::mutex mu;
  std::multiset<std::string> heard;
  void on_view_changed(const std::vector<std::pair<std::string, std::string>>& records) override {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& r : records) heard.insert(r.first + "/" + r.second);
  }
  std::multiset<std::string> take() {
    std::lock_guard<std::mutex> lock(mu);
    return std::exchange(heard, {});
  }
};

}  // namespace

TEST_CASE("observers hear of a record whose view changed, not of the acknowledgement or echo of what the view showed") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("server.db"), .durability = Durability::kNormal});
  auto client = open_client({.path = dir.file("client.db"), .durability = Durability::kNormal,
                             .sync = {.transport = make_in_process_transport(*server), .background = false}});
  auto recorder = std::make_shared<Recorder>();
  client->add_observer(recorder);

  // The app's own writes, applied as sent: nothing new to show after the round (their echoes in
  // the pull included).
  REQUIRE(client->put("notes", "a", {{"v", 1}}).is_ok());
  REQUIRE(client->put("notes", "b", {{"v", 1}}).is_ok());
  REQUIRE(client->sync_once()->applied == 2);
  CHECK(recorder->take().empty());
  REQUIRE(client->sync_once().is_ok());
  CHECK(recorder->take().empty());

  // Another device's change: heard once.
  REQUIRE(server->handle(post_mutation({{"collection", "notes"}, {"record", "a"}, {"op", "patch"},
                                        {"fields", {{"w", 2}}}},
                                       new_key()))
              .status == 200);
  REQUIRE(client->sync_once().is_ok());
  CHECK(recorder->take() == std::multiset<std::string>{"notes/a"});

  // A patch the server merged with a field this client had not seen: the acknowledged record
  // differs from the view, and that is heard.
  REQUIRE(server->handle(post_mutation({{"collection", "notes"}, {"record", "b"}, {"op", "patch"},
                                        {"fields", {{"x", 3}}}},
                                       new_key()))
              .status == 200);
  REQUIRE(client->patch("notes", "b", {{"v", 2}}).is_ok());
  REQUIRE(client->sync_once()->applied == 1);
  CHECK(recorder->take().count("notes/b") >= 1);
  CHECK(client->get("notes", "b")->fields == json({{"v", 2}, {"x", 3}}));

  // A delete acknowledged: the view had already dropped the record.
  REQUIRE(client->remove("notes", "a").is_ok());
  REQUIRE(client->sync_once()->applied == 1);
  CHECK(recorder->take().empty());
}
