// Crash tests with real processes (issue 12): a client killed with SIGKILL at random moments while
// it drains its outbox to a real server on loopback, 50 times, then a clean sync; and the same with
// the server killed. Every mutation must be applied exactly once and the outbox end empty.
#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "e2e/process.h"
#include "offsync/client.h"
#include "support.h"

using nlohmann::json;
using namespace offsync;
using namespace offsync::test;

namespace {

constexpr int kKills = 50;

json server_stats(const std::string& db) {
  auto r = run_process({OFFSYNC_BIN, "admin", "stats", store_flag(), store_arg(db), "--json"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  return json::parse(r.out);
}

// An outbox of creates, updates and deletes, written offline (no transport), each its own
// mutation (not coalesced); returns how many.
int64_t fill_outbox(const std::string& path) {
  auto client = Client::open({.path = path, .durability = Durability::kNormal, .coalesce = false});
  REQUIRE(client.is_ok());
  int64_t n = 0;
  for (int i = 0; i < 300; ++i, ++n) REQUIRE((*client)->put("notes", "n" + std::to_string(i), {{"i", i}}).is_ok());
  for (int i = 0; i < 300; i += 3, ++n) REQUIRE((*client)->patch("notes", "n" + std::to_string(i), {{"edited", true}}).is_ok());
  for (int i = 1; i < 300; i += 5, ++n) REQUIRE((*client)->remove("notes", "n" + std::to_string(i)).is_ok());
  REQUIRE((*client)->outbox()->size() == static_cast<size_t>(n));
  return n;
}

std::vector<std::string> client_argv(const std::string& db, const std::string& url, std::vector<std::string> cmd) {
  std::vector<std::string> argv = {OFFSYNC_BIN, "client", "--db", db, "--server", url, "--batch-size", "4"};
  argv.insert(argv.end(), cmd.begin(), cmd.end());
  return argv;
}

// After the kills: a clean sync, then the evidence.
void check_exactly_once(const std::string& client_db, const std::string& server_db, const std::string& url,
                        int64_t mutations, const ScratchDir& dir) {
  ProcessResult synced = run_process(client_argv(client_db, url, {"sync", "--json"}));
  REQUIRE_MESSAGE(synced.exit_code == 0, std::string(synced.out + synced.err));
  ProcessResult outbox = run_process(client_argv(client_db, url, {"outbox", "--json"}));
  REQUIRE(outbox.exit_code == 0);
  CHECK(json::parse(outbox.out).empty());
  json stats = server_stats(server_db);
  CHECK(stats["mutations_applied"] == mutations);  // each exactly once
  CHECK(stats["idempotency_keys"] == mutations);
  // The device and a fresh one agree with the server.
  std::string fresh = dir.file("fresh.db");
  REQUIRE(run_process(client_argv(fresh, url, {"sync"})).exit_code == 0);
  ProcessResult mine = run_process(client_argv(client_db, url, {"list", "notes", "--json"}));
  ProcessResult theirs = run_process(client_argv(fresh, url, {"list", "notes", "--json"}));
  REQUIRE(mine.exit_code == 0);
  REQUIRE(theirs.exit_code == 0);
  json listed = json::parse(mine.out);
  CHECK(listed.size() == 300 - 60);  // every fifth note deleted, and none came back
  CHECK(listed == json::parse(theirs.out));
}

}  // namespace

TEST_CASE("crash: a client killed with SIGKILL 50 times while it drains, then a clean sync, applies each mutation exactly once") {
  ScratchDir dir;
  std::string server_db = dir.file("server.db"), client_db = dir.file("client.db");
  ChildProcess server({OFFSYNC_BIN, "serve", store_flag(), store_arg(server_db), "--listen", "127.0.0.1:0"});
  std::string url = http_url_of(server);
  int64_t mutations = fill_outbox(client_db);
  std::mt19937 random(20261206);
  int mid_drain = 0;  // kills that came while the server still lacked some mutations
  for (int kill = 0; kill < kKills; ++kill) {
    ChildProcess syncing(client_argv(client_db, url, {"sync"}), false);
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 25)(random)));
    syncing.stop(SIGKILL);
    if (server_stats(server_db)["mutations_applied"] < mutations) ++mid_drain;
  }
  MESSAGE(server_stats(server_db)["mutations_applied"] << " of " << mutations << " applied during the " << kKills
                                                       << " kills, " << mid_drain << " of which came mid-drain");
  CHECK(mid_drain >= 10);
  check_exactly_once(client_db, server_db, url, mutations, dir);
}

TEST_CASE("crash: the server killed with SIGKILL 50 times while a client drains, then a clean sync, applies each mutation exactly once") {
  ScratchDir dir;
  std::string server_db = dir.file("server.db"), client_db = dir.file("client.db");
  std::string url = reserve_server_url(server_db);
  int64_t mutations = fill_outbox(client_db);
  std::mt19937 random(20261207);
  int mid_drain = 0;
  for (int kill = 0; kill < kKills; ++kill) {
    auto server = start_server_at(server_db, url);
    ChildProcess syncing(client_argv(client_db, url, {"sync"}), false);
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 25)(random)));
    server->stop(SIGKILL);
    // The client learns the server went (an error, a transient failure) and ends its round.
    std::optional<int> ended = syncing.wait_exit(20'000);
    CHECK(ended.has_value());
    if (server_stats(server_db)["mutations_applied"] < mutations) ++mid_drain;
  }
  MESSAGE(server_stats(server_db)["mutations_applied"] << " of " << mutations << " applied during the " << kKills
                                                       << " server kills, " << mid_drain << " of which came mid-drain");
  CHECK(mid_drain >= 10);
  auto server = start_server_at(server_db, url);
  check_exactly_once(client_db, server_db, url, mutations, dir);
}
