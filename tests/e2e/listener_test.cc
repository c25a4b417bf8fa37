// The Beast listener around a Server in this process: stopping lets requests in flight finish.
#include <doctest/doctest.h>


#include <future>
#include <thread>

#include "e2e/process.h"
#include "server_support.h"
#include "support.h"
#include "offsync/listener.h"

using nlohmann::json;
using namespace offsync;
using namespace offsync::test;

TEST_CASE("stop() closes the listener but a request already being handled is answered") {
  ScratchDir dir;
  std::promise<void> entered;
  auto entered_future = entered.get_future();
  ServerOptions options{.db_path = dir.file("s.db")};
  options.validators["slow"] = [&](const json&) -> std::optional<SchemaViolation> {
    entered.set_value();
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    return std::nullopt;
  };
  auto server = open_server(std::move(options));
  auto listener = Listener::listen_tcp(*server, "127.0.0.1", 0);
  REQUIRE(listener.is_ok());
  std::string base = "http://127.0.0.1:" + std::to_string((*listener)->port());
  std::thread serving([&] { (*listener)->run(); });

  json m = {{"collection", "slow"}, {"record", "r1"}, {"op", "upsert"}, {"fields", {{"v", 1}}}};
  auto in_flight = std::async(std::launch::async, [&] {
    return curl({"-X", "POST", "-H", "Content-Type: application/json", "-H", "Idempotency-Key: " + new_key(),
                 "--data-binary", m.dump(), base + "/v1/mutations"});
  });
  REQUIRE(entered_future.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  (*listener)->stop();
  CurlReply reply = in_flight.get();
  serving.join();  // run() returned: nothing listens any more
  CHECK(reply.status == 200);
  CHECK(reply.header("Connection") == "close");
  CHECK(server->stats()->mutations_applied == 1);
  CHECK(curl({base + "/v1/health"}).status == 0);  // refused
}

TEST_CASE("health and metrics answer within 100 ms while another process holds the store locked") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db")});
  ListenerOptions options;
  options.handler_threads = 2;
  options.max_queued_requests = 4;
  auto listener = Listener::listen_tcp(*server, "127.0.0.1", 0, options);
  REQUIRE(listener.is_ok());
  std::string base = "http://127.0.0.1:" + std::to_string((*listener)->port());
  std::thread serving([&] { (*listener)->run(); });
  // Another process's backup or `admin compact` holds the write lock.
  auto locker = std::make_unique<StoreWriteLock>(dir.file("s.db"));
  json m = {{"collection", "notes"}, {"record", "r"}, {"op", "upsert"}, {"fields", {{"v", 1}}}};
  std::vector<std::future<CurlReply>> waiting;
  for (int i = 0; i < 10; ++i) {
    waiting.push_back(std::async(std::launch::async, [&] {
      return curl({"-X", "POST", "-H", "Content-Type: application/json", "-H", "Idempotency-Key: " + new_key(),
                   "--data-binary", m.dump(), base + "/v1/mutations"});
    }));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // they are all in, waiting
  for (const char* path : {"/v1/health", "/metrics"}) {
    auto start = std::chrono::steady_clock::now();
    CurlReply reply = curl({base + path});
    auto took = std::chrono::steady_clock::now() - start;
    CHECK(reply.status == 200);
    // curl's own start-up is included in the 100 ms.
    CHECK(took < std::chrono::milliseconds(100));
  }
  locker.reset();
  int applied = 0, refused = 0;
  for (auto& f : waiting) {
    CurlReply r = f.get();
    if (r.status == 200) ++applied;
    if (r.status == 503) {
      ++refused;
      CHECK(r.header("Retry-After") == "1");
    }
  }
  CHECK(applied + refused == 10);
  CHECK(refused >= 4);  // 2 handling + 4 queued at most: the rest were told to come back
  (*listener)->stop();
  serving.join();
}
