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

namespace {

struct ProgressRecorder : SyncObserver {
  std::mutex mu;
  std::vector<SyncProgress> heard;
  void on_progress(const SyncProgress& p) override {
    std::lock_guard<std::mutex> lock(mu);
    heard.push_back(p);
  }
  // "push 1000/2500 push 2000/2500 ..." in the order heard.
  std::string take() {
    std::lock_guard<std::mutex> lock(mu);
    std::string out;
    for (const auto& p : heard) {
      const char* step = p.step == SyncProgress::Step::kPush ? "push" : p.step == SyncProgress::Step::kPull ? "pull" : "refresh";
      out += (out.empty() ? "" : " ") + std::string(step) + " " + std::to_string(p.done) + "/" + std::to_string(p.total);
    }
    heard.clear();
    return out;
  }
};

}  // namespace

TEST_CASE("a long drain, a pull and a full refresh report their progress after each batch and page") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("server.db"), .durability = Durability::kNormal});
  SyncOptions sync{.transport = make_in_process_transport(*server), .background = false, .batch_size = 1000,
                   .pull_limit = 1000};
  auto phone = open_client({.path = dir.file("phone.db"), .durability = Durability::kNormal, .sync = sync});
  auto progress = std::make_shared<ProgressRecorder>();
  phone->add_observer(progress);
  for (int i = 0; i < 2500; ++i) REQUIRE(phone->put("notes", "n" + std::to_string(i), {{"i", i}}).is_ok());
  REQUIRE(phone->sync_once()->applied == 2500);
  // The push: of the 2,500 pending, after each batch; then the pull of its own echoes.
  CHECK(progress->take() == "push 1000/2500 push 2000/2500 push 2500/2500 pull 1000/-1 pull 2000/-1 pull 2500/-1");

  auto tablet = open_client({.path = dir.file("tablet.db"), .durability = Durability::kNormal, .sync = sync});
  auto tablet_progress = std::make_shared<ProgressRecorder>();
  tablet->add_observer(tablet_progress);
  REQUIRE(tablet->sync_once()->pulled == 2500);
  CHECK(tablet_progress->take() == "pull 1000/-1 pull 2000/-1 pull 2500/-1");

  // The cursor expires: the refresh reads the whole state again, page by page.
  REQUIRE(server->rotate_cursor().is_ok());
  REQUIRE(tablet->sync_once()->full_refresh);
  CHECK(tablet_progress->take() == "refresh 1000/-1 refresh 2000/-1 refresh 2500/-1");
}
