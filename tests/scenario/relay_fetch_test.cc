// A relay's fetches of files only the cloud holds, for its local apps (engine/server/relay_attachments.cc):
// on a thread of their own, so that a slow or failing upstream never holds a request.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "offsync/transport.h"
#include "server_support.h"
#include "support.h"
#include "sync_support.h"

using namespace offsync;
using namespace offsync::test;

namespace {

// A cloud holding a photo another device put there, a relay whose GETs wait `fetch_wait_ms` for a
// fetch, and the math app on the relay, which already sees the record that lists the photo.
struct FetchWorld {
  ScratchDir dir;
  std::unique_ptr<Server> cloud;
  std::shared_ptr<ScriptedTransport> uplink;
  std::unique_ptr<Server> relay;
  std::unique_ptr<Client> math;
  std::string photo;
  std::string photo_id;

  FetchWorld(int64_t fetch_wait_ms, size_t photo_bytes) : photo(pattern_bytes(photo_bytes, 29)) {
    cloud = open_server({.db_path = dir.file("cloud.db"), .durability = Durability::kNormal});
    uplink = std::make_shared<ScriptedTransport>(cloud.get());
    ServerOptions o{.db_path = dir.file("lms.db"), .durability = Durability::kNormal};
    o.upstream.transport = uplink;
    o.upstream.pull_min_interval_ms = 0;
    o.upstream.fetch_wait_ms = fetch_wait_ms;
    relay = open_server(std::move(o));
    math = open_client({.path = dir.file("math.db"), .durability = Durability::kNormal,
                        .sync = {.transport = make_in_process_transport(*relay), .background = false}});
    auto other = open_client({.path = dir.file("other.db"), .durability = Durability::kNormal,
                              .sync = {.transport = make_in_process_transport(*cloud), .background = false}});
    photo_id = other->add_attachment(photo, "image/jpeg").value();
    REQUIRE(other->put("notes", "p", {{"title", "site"}}, {.attachments = {photo_id}}).is_ok());
    REQUIRE(other->sync_once()->applied == 1);
    REQUIRE(eventually([&] {
      (void)math->sync_once();
      return math->get("notes", "p").is_ok();
    }));
  }
  // The relay's own GET of the photo, as a local app sends it.
  HttpResponse get_photo() { return relay->handle(HttpRequest{.method = "GET", .target = "/v1/attachments/" + photo_id}); }
};

}  // namespace

TEST_CASE("relay: a slow first fetch of a cloud file holds no request: the app hears 503, the relay goes on, the file follows") {
  FetchWorld w(100, 2'500'000);
  // The cloud is slow to hand out the file: 400 ms per chunk the relay's lane asks for.
  w.uplink->set_script([](const HttpRequest& r) -> std::optional<Result<HttpResponse>> {
    if (r.method == "GET" && r.target.rfind("/v1/attachments/", 0) == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(400));
    }
    return std::nullopt;
  });
  auto asked = std::chrono::steady_clock::now();
  Status first = w.math->download_attachment(w.photo_id);
  auto answered_in = std::chrono::steady_clock::now() - asked;
  CHECK(first.code() == StatusCode::kTransient);  // 503 with Retry-After: ask again
  CHECK(answered_in < std::chrono::milliseconds(1000));
  // The relay answers other requests meanwhile, and a second ask joins the same fetch.
  REQUIRE(w.math->put("notes", "q", {{"title", "while it fetches"}}).is_ok());
  CHECK(w.math->sync_once()->applied == 1);
  HttpResponse again = w.get_photo();
  CHECK(again.status == 503);
  CHECK(again.headers.get("Retry-After") == std::optional<std::string>("2"));
  // The fetch goes on without the app: asked again, it is there, byte for byte.
  CHECK(eventually([&] { return w.math->download_attachment(w.photo_id).is_ok(); }, 20'000));
  CHECK(w.math->read_attachment(w.photo_id, 0, static_cast<int64_t>(w.photo.size())).value() == w.photo);
  int64_t fetched_gets = 0;
  for (const auto& r : w.uplink->sent()) fetched_gets += r.method == "GET" && r.target.rfind("/v1/attachments/", 0) == 0;
  CHECK(fetched_gets <= 4);  // one fetch (3 chunks of 1 MiB, perhaps one resumed), not one per ask
}

TEST_CASE("relay: a fetch that failed after its asker stopped waiting is tried again at the next ask, not reported") {
  FetchWorld w(50, 300'000);
  // The cloud drops the fetch's requests, slowly: the fetch fails after the ask stopped waiting.
  std::atomic<bool> failing{true};
  w.uplink->set_script([&](const HttpRequest& r) -> std::optional<Result<HttpResponse>> {
    if (failing && r.method == "GET" && r.target.rfind("/v1/attachments/", 0) == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      return Result<HttpResponse>(Status::transient("connection reset (test)"));
    }
    return std::nullopt;
  });
  HttpResponse first = w.get_photo();
  CHECK(first.status == 503);
  CHECK(first.headers.get("Retry-After") == std::optional<std::string>("2"));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the fetch has failed by now
  failing = false;
  // Asked again: a new fetch (answered, or still running: Retry-After 2), not the old failure (30).
  CHECK(eventually([&] {
    HttpResponse again = w.get_photo();
    CHECK(again.headers.get("Retry-After") != std::optional<std::string>("30"));
    return again.status == 200;
  }, 10'000));
}
