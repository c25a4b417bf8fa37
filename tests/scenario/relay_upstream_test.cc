// A relay's way upstream (engine/server/relay.cc, lane_transport): each lane on a connection of
// its own, or taking turns on a transport that cannot open another; and a stop that does not wait
// for the network.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "offsync/transport.h"
#include "server_support.h"
#include "support.h"

using namespace offsync;
using namespace offsync::test;

namespace {

// An upstream that takes every request and never answers, until cancelled (or 20 s: a test that
// fails should not hang). Each connection (open_another) hangs on its own.
struct Silence {
  std::mutex mu;
  std::condition_variable cv;
  int waiting = 0;
};

class SilentTransport final : public Transport {
 public:
  explicit SilentTransport(std::shared_ptr<Silence> silence) : silence_(std::move(silence)) {}
  Result<HttpResponse> send(const HttpRequest&) override {
    std::unique_lock<std::mutex> lock(silence_->mu);
    ++silence_->waiting;
    silence_->cv.notify_all();
    silence_->cv.wait_for(lock, std::chrono::seconds(20), [&] { return cancelled_.load(); });
    --silence_->waiting;
    return Status::transient(cancelled_ ? "cancelled" : "no answer in 20 s");
  }
  std::unique_ptr<Transport> open_another() override { return std::make_unique<SilentTransport>(silence_); }
  void cancel() override {
    std::lock_guard<std::mutex> lock(silence_->mu);
    cancelled_ = true;
    silence_->cv.notify_all();
  }

 private:
  std::shared_ptr<Silence> silence_;
  std::atomic<bool> cancelled_{false};
};

// Forwards to a server in process, slowly, and counts how many of its sends overlap. It cannot
// open another connection.
class OverlapCounter final : public Transport {
 public:
  explicit OverlapCounter(Server& server) : inner_(make_in_process_transport(server)) {}
  Result<HttpResponse> send(const HttpRequest& request) override {
    int now = ++active_;
    int seen = most_;
    while (now > seen && !most_.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    auto answer = inner_->send(request);
    --active_;
    return answer;
  }
  int most() const { return most_; }

 private:
  std::unique_ptr<Transport> inner_;
  std::atomic<int> active_{0}, most_{0};
};

std::optional<std::string> bearer_is_principal(const HttpRequest& r) {
  auto h = r.headers.get("Authorization");
  if (!h || h->rfind("Bearer ", 0) != 0 || h->size() == 7) return std::nullopt;
  return h->substr(7);
}

}  // namespace

TEST_CASE("a relay stops at once while upstream holds its requests") {
  ScratchDir dir;
  auto silence = std::make_shared<Silence>();
  ServerOptions o{.db_path = dir.file("lms.db"), .durability = Durability::kNormal};
  o.upstream.transport = std::make_shared<SilentTransport>(silence);
  auto relay = open_server(std::move(o));
  auto app = open_client({.path = dir.file("math.db"), .durability = Durability::kNormal,
                          .sync = {.transport = make_in_process_transport(*relay), .background = false}});
  REQUIRE(app->put("notes", "n", {{"title", "kept"}}).is_ok());
  REQUIRE(app->sync_once()->applied == 1);  // the relay answers at once, upstream or not
  {
    std::unique_lock<std::mutex> lock(silence->mu);
    REQUIRE(silence->cv.wait_for(lock, std::chrono::seconds(10), [&] { return silence->waiting > 0; }));
  }
  auto started = std::chrono::steady_clock::now();
  relay.reset();
  auto took = std::chrono::steady_clock::now() - started;
  CHECK(took < std::chrono::seconds(5));  // not the 20 s upstream would have held it
  CHECK(silence->waiting == 0);
  // What it held for upstream is still there for the next start.
  ServerOptions again{.db_path = dir.file("lms.db"), .durability = Durability::kNormal};
  again.upstream.transport = std::make_shared<SilentTransport>(std::make_shared<Silence>());
  auto reopened = open_server(std::move(again));
  CHECK(eventually([&] { return reopened->stats()->relay_upstream_pending == 1; }, 10'000));
}

TEST_CASE("lanes on an upstream transport that cannot open another connection never send at once") {
  ScratchDir dir;
  auto cloud = open_server({.db_path = dir.file("cloud.db"), .durability = Durability::kNormal,
                            .authenticate = bearer_is_principal});
  // Alice's photo, on the cloud only, in 1 KiB pieces: her download through the relay is a
  // stream of requests on her lane while Bob's lane pushes his writes.
  auto web = open_client({.path = dir.file("web.db"), .durability = Durability::kNormal,
                          .sync = {.transport = make_in_process_transport(*cloud), .background = false,
                                   .token = "cloud-alice"}});
  std::string photo = pattern_bytes(64 * 1024, 7);
  auto photo_id = web->add_attachment(photo, "image/jpeg");
  REQUIRE(web->put("notes", "p", {{"title", "site"}}, {.attachments = {*photo_id}}).is_ok());
  REQUIRE(web->sync_once()->applied == 1);

  auto uplink = std::make_shared<OverlapCounter>(*cloud);
  ServerOptions o{.db_path = dir.file("lms.db"), .durability = Durability::kNormal, .authenticate = bearer_is_principal};
  o.upstream.transport = uplink;
  o.upstream.pull_min_interval_ms = 0;
  o.upstream.sync.attachment_chunk_bytes = 1024;
  auto relay = open_server(std::move(o));
  REQUIRE(relay->set_upstream_credentials("alice", {"cloud-alice", "cloud-alice", ""}).is_ok());
  REQUIRE(relay->set_upstream_credentials("bob", {"cloud-bob", "cloud-bob", ""}).is_ok());
  auto app = [&](const std::string& user) {
    return open_client({.path = dir.file(user + ".db"), .durability = Durability::kNormal,
                        .sync = {.transport = make_in_process_transport(*relay), .background = false, .token = user}});
  };
  auto alice = app("alice"), bob = app("bob");
  REQUIRE(eventually([&] {
    (void)alice->sync_once();
    return alice->get("notes", "p").is_ok();
  }));
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; !done && i < 400; ++i) {
      (void)bob->put("notes", "b" + std::to_string(i), {{"i", i}});
      (void)bob->sync_once();
    }
  });
  CHECK(eventually([&] { return alice->download_attachment(*photo_id).is_ok(); }));
  done = true;
  writer.join();
  CHECK(alice->read_attachment(*photo_id, 0, static_cast<int64_t>(photo.size())).value() == photo);
  CHECK(uplink->most() == 1);
}
