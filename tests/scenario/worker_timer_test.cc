// The background worker's timer: whatever a round leaves for later is tried again without anyone
// waking the worker, even when its time came while the round was still running. Found in CI
// (wait_until_synced timed out once in ~20 runs: a retry fell due between the push's planning
// and the end of the round, and the worker went idle with it pending).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "offsync/client.h"
#include "server_support.h"
#include "support.h"
#include "sync_support.h"

using namespace offsync;
using namespace offsync::test;

namespace {

HttpResponse busy() {
  HttpResponse r;
  r.status = 503;
  r.body = R"({"error":{"code":"unavailable","message":"busy"}})";
  return r;
}

// A server that answers the first batch with 503. The first pull after it moves the clock by
// `advance_during_pull_ms`, as if the round had taken that long.
struct OnceBusy {
  ScratchDir dir;
  ManualClock clock{1'800'000'000'000};
  std::unique_ptr<Server> server = open_server({.db_path = dir.file("s.db")});
  std::shared_ptr<ScriptedTransport> transport = std::make_shared<ScriptedTransport>(server.get());
  std::atomic<int> batches{0};

  explicit OnceBusy(int64_t advance_during_pull_ms = 0) {
    auto moved = std::make_shared<std::atomic<bool>>(false);
    transport->set_script([this, moved, advance_during_pull_ms](const HttpRequest& r) -> std::optional<Result<HttpResponse>> {
      if (r.path() == "/v1/mutations:batch" && batches.fetch_add(1) == 0) return busy();
      if (r.path() == "/v1/sync" && batches.load() > 0 && !moved->exchange(true)) clock.advance(advance_during_pull_ms);
      return std::nullopt;
    });
  }

  // A note written offline, then the app starts with its worker: the worker's first round is the
  // only one anything wakes; every later round comes from its own timer.
  std::unique_ptr<Client> open_with_a_queued_write(SyncOptions sync) {
    sync.transport = transport;
    sync.watch_wait_s = 0;  // no second connection: only the worker's own timer can retry
    SyncOptions offline = sync;
    offline.background = false;
    REQUIRE(open_client({.path = dir.file("c.db"), .clock = &clock, .sync = offline})
                ->put("notes", "a", {{"title", "algebra"}})
                .is_ok());
    return open_client({.path = dir.file("c.db"), .clock = &clock, .sync = sync});
  }
};

}  // namespace

TEST_CASE("a retry that falls due while its round still runs is sent without another wake") {
  // The retry is due within a second; the clock moves a minute while the round pulls, and never
  // again.
  OnceBusy world(60'000);
  auto client = world.open_with_a_queued_write({.backoff_base_ms = 1000, .backoff_cap_ms = 1000});
  CHECK(eventually([&] { return client->outbox()->empty(); }, 5000));
  CHECK(world.batches.load() == 2);
  CHECK(world.server->stats()->mutations_applied == 1);
  CHECK(eventually([&] { return client->sync_status().state == SyncState::kIdle; }, 5000));  // no timer left
}

TEST_CASE("a retry drawn with no delay is sent again at once, not left until the next write") {
  OnceBusy world;
  // No backoff at all (base 0): the retry is due the moment the 503 is recorded, and the clock
  // never moves.
  auto client = world.open_with_a_queued_write({.backoff_base_ms = 0, .backoff_cap_ms = 0});
  CHECK(eventually([&] { return client->outbox()->empty(); }, 5000));
  CHECK(world.batches.load() == 2);
  CHECK(world.server->stats()->mutations_applied == 1);
}

TEST_CASE("a mutation still backing off after a round is tried when its time comes, and not before") {
  OnceBusy world;
  auto client = world.open_with_a_queued_write({.backoff_base_ms = 60'000, .backoff_cap_ms = 60'000});
  REQUIRE(eventually([&] { return client->sync_status().state == SyncState::kBackingOff; }, 5000));
  REQUIRE(world.batches.load() == 1);
  int64_t due = client->outbox()->front().next_attempt_at_ms;
  CHECK(client->sync_status().next_attempt_at_ms == due);
  if (due > world.clock.now_ms()) {
    world.clock.set(due - 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK(world.batches.load() == 1);  // not yet
  }
  world.clock.set(due);
  CHECK(eventually([&] { return client->outbox()->empty(); }, 5000));
  CHECK(world.batches.load() == 2);
}
