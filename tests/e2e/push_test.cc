// Server push by long poll: GET /v1/sync?wait=S held without a thread until the user's records
// change, and clients that see another device's write without any sync call.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "e2e/process.h"
#include "offsync/client.h"
#include "offsync/listener.h"
#include "offsync/server.h"
#include "offsync/transport.h"
#include "server_support.h"
#include "support.h"

using namespace offsync;
using namespace offsync::test;
using nlohmann::json;

namespace {

HttpRequest wait_for_changes(const std::string& cursor, int seconds) {
  std::string target = "/v1/sync?limit=10&wait=" + std::to_string(seconds);
  if (!cursor.empty()) target += "&cursor=" + cursor;
  return HttpRequest{.method = "GET", .target = target};
}

}  // namespace

TEST_CASE("a long poll is held until another device writes, and answers empty when its wait runs out") {
  ScratchDir dir;
  ServerOptions options{.db_path = dir.file("s.db")};
  options.authenticate = [](const HttpRequest& r) -> std::optional<std::string> {
    return r.headers.get("Authorization") == std::optional<std::string>("Bearer bob") ? "bob" : "alice";
  };
  auto server = open_server(std::move(options));
  REQUIRE(server->handle(post_mutation(note_upsert("a", {{"v", 1}}), new_key())).status == 200);
  std::string cursor = body_of(server->handle(get_sync("", 100)))["cursor"];

  // Changes already there: answered at once.
  auto at_once = server->handle(wait_for_changes("", 30));
  CHECK(body_of(at_once)["changes"].size() == 1);

  // Nothing new: held; another device's write answers it with that change.
  std::atomic<bool> answered{false};
  HttpResponse held;
  std::thread waiting([&] {
    held = server->handle(wait_for_changes(cursor, 30));
    answered = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK_FALSE(answered);
  auto start = std::chrono::steady_clock::now();
  REQUIRE(server->handle(post_mutation(note_upsert("b", {{"v", 2}}), new_key())).status == 200);
  waiting.join();
  MESSAGE("answered " << std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count()
                      << " ms after the write");
  REQUIRE(held.status == 200);
  CHECK(body_of(held)["changes"][0]["record"] == "b");

  // Its wait runs out: an empty page with the same position.
  std::string now_cursor = body_of(held)["cursor"];
  auto timed_out = server->handle(wait_for_changes(now_cursor, 1));
  CHECK(timed_out.status == 200);
  CHECK(body_of(timed_out)["changes"].empty());

  // Another user's write does not answer it.
  std::atomic<bool> other_answered{false};
  std::thread other([&] {
    (void)server->handle(wait_for_changes(now_cursor, 2));
    other_answered = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  HttpRequest bobs = post_mutation(note_upsert("c", {{"v", 3}}), new_key());
  bobs.headers.set("Authorization", "Bearer bob");
  (void)server->handle(bobs);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK_FALSE(other_answered);
  other.join();

  // A wait that is not a number of seconds up to 60 is refused.
  for (const char* bad : {"abc", "61", "-1", "1.5"}) {
    CAPTURE(bad);
    auto refused = server->handle(HttpRequest{.method = "GET", .target = std::string("/v1/sync?wait=") + bad});
    CHECK(refused.status == 400);
    CHECK(body_of(refused)["error"]["code"] == "invalid_wait");
  }
}

TEST_CASE("a listener holds 200 long polls on 2 handler threads, still answers writes, and releases them on stop") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db")});
  ListenerOptions options;
  options.handler_threads = 2;
  auto listener = Listener::listen_tcp(*server, "127.0.0.1", 0, options);
  REQUIRE(listener.is_ok());
  std::string base = "http://127.0.0.1:" + std::to_string((*listener)->port());
  std::thread serving([&] { (*listener)->run(); });
  std::vector<std::unique_ptr<Transport>> devices;
  std::vector<std::thread> waiting;
  std::atomic<int> woken{0};
  for (int i = 0; i < 200; ++i) {
    auto t = make_curl_transport({.base_url = base});
    REQUIRE(t.is_ok());
    devices.push_back(std::move(*t));
  }
  for (auto& d : devices) {
    waiting.emplace_back([&, t = d.get()] {
      auto r = t->send(wait_for_changes("", 30));
      if (r && r->status == 200 && !body_of(*r)["changes"].empty()) ++woken;
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  // All 200 are held, and a write goes through the 2 handler threads at once.
  auto writer = make_curl_transport({.base_url = base});
  REQUIRE(writer.is_ok());
  auto start = std::chrono::steady_clock::now();
  auto wrote = (*writer)->send(post_mutation(note_upsert("x", {{"v", 1}}), new_key()));
  REQUIRE(wrote.is_ok());
  CHECK(wrote->status == 200);
  for (auto& t : waiting) t.join();
  MESSAGE("200 held long polls answered " << std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count()
                                          << " ms after the write");
  CHECK(woken == 200);

  // Held ones are released by stop(): the client hears an empty page, not a hang.
  std::atomic<int> released{0};
  std::string cursor = body_of(server->handle(get_sync("", 100)))["cursor"];
  std::thread late([&] {
    auto r = devices[0]->send(wait_for_changes(cursor, 60));
    if (r && r->status == 200 && body_of(*r)["changes"].empty()) ++released;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto stopping = std::chrono::steady_clock::now();
  (*listener)->stop();
  late.join();
  serving.join();
  CHECK(released == 1);
  CHECK(std::chrono::steady_clock::now() - stopping < std::chrono::seconds(5));
}

TEST_CASE("two devices on loopback: a write on one reaches the other's live query without any sync call") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db")});
  auto listener = Listener::listen_tcp(*server, "127.0.0.1", 0);
  REQUIRE(listener.is_ok());
  std::string base = "http://127.0.0.1:" + std::to_string((*listener)->port());
  std::thread serving([&] { (*listener)->run(); });
  auto device = [&](const std::string& name) {
    ClientOptions options{.path = dir.file(name)};
    auto transport = make_curl_transport({.base_url = base});
    REQUIRE(transport.is_ok());
    options.sync.transport = std::shared_ptr<Transport>(std::move(*transport));
    return open_client(options);
  };
  auto phone = device("phone.db");
  auto tablet = device("tablet.db");
  std::mutex mu;
  std::vector<std::string> seen;
  std::chrono::steady_clock::time_point heard_at;
  auto handle = tablet->watch(Query("notes").order_by("title"), [&](const std::vector<Record>& result, const QueryChange&) {
    std::lock_guard<std::mutex> lock(mu);
    seen.clear();
    for (const auto& r : result) seen.push_back(r.id);
    heard_at = std::chrono::steady_clock::now();
  });
  REQUIRE(handle.is_ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // both devices idle, the tablet's poll held

  std::vector<double> latencies;
  for (int i = 0; i < 5; ++i) {
    std::string id = "n" + std::to_string(i);
    auto written = std::chrono::steady_clock::now();
    REQUIRE(phone->put("notes", id, {{"title", "note " + std::to_string(i)}}).is_ok());
    REQUIRE(eventually([&] {
      std::lock_guard<std::mutex> lock(mu);
      return std::find(seen.begin(), seen.end(), id) != seen.end();
    }, 10'000));
    std::lock_guard<std::mutex> lock(mu);
    latencies.push_back(std::chrono::duration<double, std::milli>(heard_at - written).count());
  }
  std::sort(latencies.begin(), latencies.end());
  MESSAGE("device to device through the push, median " << latencies[2] << " ms");
  handle->remove();
  phone.reset();
  tablet.reset();
  (*listener)->stop();
  serving.join();
}

TEST_CASE("through a relay: a write on the cloud reaches an app on the relay's device without any sync call") {
  ScratchDir dir;
  auto cloud = open_server({.db_path = dir.file("cloud.db"), .durability = Durability::kNormal});
  ServerOptions relay_options{.db_path = dir.file("lms.db"), .durability = Durability::kNormal};
  relay_options.upstream.transport = std::shared_ptr<Transport>(make_in_process_transport(*cloud));
  auto relay = open_server(std::move(relay_options));
  auto device = [&](Server& server, const std::string& name) {
    ClientOptions options{.path = dir.file(name), .durability = Durability::kNormal};
    options.sync.transport = std::shared_ptr<Transport>(make_in_process_transport(server));
    return open_client(options);
  };
  auto web = device(*cloud, "web.db");     // another device, straight on the cloud
  auto math = device(*relay, "math.db");   // an app on the relay's device
  std::mutex mu;
  std::vector<std::string> seen;
  auto handle = math->watch(Query("notes"), [&](const std::vector<Record>& result, const QueryChange&) {
    std::lock_guard<std::mutex> lock(mu);
    seen.clear();
    for (const auto& r : result) seen.push_back(r.id);
  });
  REQUIRE(handle.is_ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // everyone idle, every watch held
  for (int i = 0; i < 3; ++i) {
    std::string id = "w" + std::to_string(i);
    auto written = std::chrono::steady_clock::now();
    REQUIRE(web->put("notes", id, {{"title", "from the web"}}).is_ok());
    REQUIRE(eventually([&] {
      std::lock_guard<std::mutex> lock(mu);
      return std::find(seen.begin(), seen.end(), id) != seen.end();
    }, 10'000));
    MESSAGE("cloud to relay to app: " << std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - written).count()
                                      << " ms");
  }
  handle->remove();
}

TEST_CASE("a long poll whose client hangs up is dropped within seconds, not held until its wait ends") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db")});
  auto listener = Listener::listen_tcp(*server, "127.0.0.1", 0);
  REQUIRE(listener.is_ok());
  uint16_t port = (*listener)->port();
  std::thread serving([&] { (*listener)->run(); });
  auto metric = [&] {
    std::string text = server->handle(HttpRequest{.method = "GET", .target = "/metrics"}).body;
    size_t at = text.find("\noffsync_long_polls_held ");
    return at == std::string::npos ? -1 : std::stoi(text.substr(at + 25));
  };
  // 50 devices ask to wait a minute, then their connections drop (an app killed, a radio lost).
  std::vector<int> sockets;
  for (int i = 0; i < 50; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
    std::string request = "GET /v1/sync?wait=60 HTTP/1.1\r\nHost: x\r\n\r\n";
    REQUIRE(::send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size()));
    sockets.push_back(fd);
  }
  CHECK(eventually([&] { return server->stats()->long_polls_held == 50; }));
  CHECK(metric() == 50);
  for (int i = 0; i < 25; ++i) ::close(sockets[i]);
  auto closed = std::chrono::steady_clock::now();
  CHECK(eventually([&] { return server->stats()->long_polls_held == 25; }, 5'000));
  MESSAGE("25 hung-up long polls dropped " << std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - closed).count()
                                           << " ms after their clients closed");
  // The others are still held, and a change answers them as before.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  CHECK(server->stats()->long_polls_held == 25);
  REQUIRE(server->handle(post_mutation(note_upsert("x", {{"v", 1}}), new_key())).status == 200);
  for (int i = 25; i < 50; ++i) {
    char buffer[4096];
    ssize_t n = ::recv(sockets[i], buffer, sizeof buffer, 0);
    CHECK(n > 12);
    if (n > 12) CHECK(std::string(buffer, 12) == "HTTP/1.1 200");
    ::close(sockets[i]);
  }
  CHECK(eventually([&] { return server->stats()->long_polls_held == 0; }));
  (*listener)->stop();
  serving.join();
}
