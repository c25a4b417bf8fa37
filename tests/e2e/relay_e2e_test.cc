// The relay with real processes: a cloud server (TCP), the LMS relay (a Unix socket, started on
// demand through the activation registry, or killed at random while it drains), and the math app.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "e2e/process.h"
#include "support.h"

using nlohmann::json;
using namespace offsync::test;

namespace {

// A server's admin stats; a relay's upstream store is db + ".upstream", as every relay here is started.
json stats(const std::string& db) {
  auto r = run_process({OFFSYNC_BIN, "admin", "stats", store_flag(), store_arg(db), "--upstream-db", db + ".upstream", "--json"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  return json::parse(r.out);
}

std::string read_file_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("relay: the math app works through an on-demand LMS relay while the cloud is down, and the cloud gets each write once") {
  ScratchDir dir;
  std::string cloud_db = dir.file("cloud.db");
  std::string cloud_url = reserve_server_url(cloud_db);
  std::string socket = dir.file("lms.sock");
  std::string services = dir.file("services");
  std::filesystem::create_directories(services);
  std::ofstream(services + "/org.example.lms.service")
      << "[Service]\nName=org.example.lms\nSocket=" << socket << "\nExec=" << OFFSYNC_BIN << " serve --unix " << socket
      << store_exec_args(dir.file("lms.db")) << " --upstream-db " << dir.file("lms.db") << ".upstream --upstream "
      << cloud_url << " --idle-exit 1\n";
  setenv("OFFSYNC_SERVICES_DIR", services.c_str(), 1);
  auto math = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {OFFSYNC_BIN, "client", "--db", dir.file("math.db"), "--ipc-service", "org.example.lms"});
    return run_process(args);
  };
  for (int i = 0; i < 100; ++i) {
    REQUIRE(math({"put", "notes", "n" + std::to_string(i), json{{"i", i}}.dump()}).exit_code == 0);
  }
  ProcessResult synced = math({"sync", "--json"});
  CHECK_MESSAGE(synced.exit_code == 0, synced.out << synced.err);
  CHECK(json::parse(synced.out)["applied"] == 100);
  CHECK(json::parse(math({"status", "--json"}).out)["pending"] == 0);  // the relay holds them

  auto cloud = start_server_at(cloud_db, cloud_url);
  (void)math({"sync"});  // a local pull wakes the relay's upstream round
  CHECK(eventually([&] { return stats(cloud_db)["mutations_applied"] == 100; }));

  // Another device edits on the cloud: the math app sees it through the relay within seconds.
  auto web = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {OFFSYNC_BIN, "client", "--db", dir.file("web.db"), "--server", cloud_url});
    return run_process(args);
  };
  REQUIRE(web({"sync"}).exit_code == 0);
  REQUIRE(web({"patch", "notes", "n7", R"({"by": "web"})"}).exit_code == 0);
  REQUIRE(web({"sync"}).exit_code == 0);
  CHECK(eventually([&] {
    (void)math({"sync"});
    auto got = math({"get", "notes", "n7", "--json"});
    return got.exit_code == 0 && json::parse(got.out)["fields"].value("by", "") == "web";
  }));
  CHECK(stats(cloud_db)["mutations_applied"] == 101);
  // Idle and drained, the relay exits by itself.
  CHECK(eventually([&] { return access(socket.c_str(), F_OK) != 0; }, 30'000));
  unsetenv("OFFSYNC_SERVICES_DIR");
}

TEST_CASE("relay: killed with SIGKILL 25 times while it drains, every write reaches the cloud exactly once") {
  ScratchDir dir;
  std::string cloud_db = dir.file("cloud.db"), lms_db = dir.file("lms.db"), socket = dir.file("lms.sock");
  std::string cloud_url = reserve_server_url(cloud_db);
  // Small batches upstream, so that the kills land in the middle of the drain.
  std::vector<std::string> relay_argv = {OFFSYNC_BIN, "serve", "--unix", socket, store_flag(), store_arg(lms_db), "--upstream", cloud_url,
                                         "--upstream-batch-size", "1", "--upstream-db", lms_db + ".upstream"};
  auto math = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {OFFSYNC_BIN, "client", "--db", dir.file("math.db"), "--ipc-service", "unix:" + socket});
    return run_process(args);
  };
  const int kNotes = 300;
  {
    ChildProcess relay(relay_argv);
    for (int i = 0; i < kNotes; ++i) {
      REQUIRE(math({"put", "notes", "k" + std::to_string(i), json{{"i", i}}.dump()}).exit_code == 0);
    }
    REQUIRE(math({"sync"}).exit_code == 0);
    relay.stop(SIGTERM);
  }
  auto cloud = start_server_at(cloud_db, cloud_url);
  std::mt19937 random(20261123);
  int mid_drain = 0;  // kills that came while the cloud still lacked some writes
  for (int kill = 0; kill < 25; ++kill) {
    ChildProcess relay(relay_argv);
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 30)(random)));
    relay.stop(SIGKILL);
    if (stats(cloud_db)["mutations_applied"] < kNotes) ++mid_drain;
  }
  CHECK(mid_drain >= 10);
  int64_t applied_while_killing = stats(cloud_db)["mutations_applied"];
  MESSAGE(applied_while_killing << " of " << kNotes << " applied on the cloud during the 25 kills, " << mid_drain
                                << " of which came mid-drain");
  ChildProcess relay(relay_argv);
  CHECK(eventually([&] { return stats(cloud_db)["mutations_applied"] >= kNotes; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  json cloud_stats = stats(cloud_db);
  CHECK(cloud_stats["mutations_applied"] == kNotes);  // exactly once each
  CHECK(cloud_stats["idempotency_keys"] == kNotes);
  // Every client converges with the cloud.
  REQUIRE(math({"sync"}).exit_code == 0);
  auto web = run_process({OFFSYNC_BIN, "client", "--db", dir.file("web.db"), "--server", cloud_url, "sync"});
  REQUIRE(web.exit_code == 0);
  auto listed = [&](const std::vector<std::string>& argv) {
    auto r = run_process(argv);
    REQUIRE(r.exit_code == 0);
    return json::parse(r.out);
  };
  json on_device = listed({OFFSYNC_BIN, "client", "--db", dir.file("math.db"), "list", "notes", "--json"});
  json on_cloud = listed({OFFSYNC_BIN, "client", "--db", dir.file("web.db"), "list", "notes", "--json"});
  CHECK(on_device.size() == kNotes);
  CHECK(on_device == on_cloud);
  // The relay's gauges pass promtool, and admin stats shows its upstream outbox drained.
  ProcessResult metrics = run_process({"/usr/bin/curl", "-s", "--unix-socket", socket, "-o", dir.file("metrics.txt"),
                                       "http://localhost/metrics"});
  REQUIRE(metrics.exit_code == 0);
  auto check = run_process({"/bin/sh", "-c", "promtool check metrics < " + dir.file("metrics.txt")});
  CHECK_MESSAGE(check.exit_code == 0, check.out << check.err);
  CHECK(read_file_text(dir.file("metrics.txt")).find("offsync_relay_upstream_pending 0\n") != std::string::npos);
  json relay_stats = stats(lms_db)["relay"];
  CHECK(relay_stats["upstream_pending"] == 0);
  CHECK(relay_stats["handed_over"] == 0);
  CHECK(relay_stats["last_upstream_contact_age_s"].is_number());
}

TEST_CASE("relay: a conflict and a refusal made on the cloud while the device was offline reach the math app, which settles them") {
  ScratchDir dir;
  std::ofstream(dir.file("schema.json"))
      << R"({"collections": {"tasks": {"fields": {"status": {"merge": "escalate"}}}, "orders": {"required": ["title"]}}})";
  std::string cloud_db = dir.file("cloud.db"), socket = dir.file("lms.sock");
  ChildProcess cloud({OFFSYNC_BIN, "serve", store_flag(), store_arg(cloud_db), "--listen", "127.0.0.1:0", "--schema", dir.file("schema.json")});
  std::string cloud_url = http_url_of(cloud);
  // The relay's way to the cloud goes through a port that can be cut: a second cloud address is
  // not needed, the relay is simply stopped while the device is "offline".
  std::vector<std::string> relay_argv = {OFFSYNC_BIN, "serve", "--unix", socket, store_flag(), store_arg(dir.file("lms.db")),
                                         "--upstream", cloud_url, "--upstream-db", dir.file("lms.db") + ".upstream"};
  auto math = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {OFFSYNC_BIN, "client", "--db", dir.file("math.db"), "--ipc-service", "unix:" + socket});
    return run_process(args);
  };
  auto web = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {OFFSYNC_BIN, "client", "--db", dir.file("web.db"), "--server", cloud_url});
    return run_process(args);
  };
  auto relay = std::make_unique<ChildProcess>(relay_argv);
  REQUIRE(math({"put", "tasks", "t1", R"({"status": "open"})"}).exit_code == 0);
  REQUIRE(math({"sync"}).exit_code == 0);
  REQUIRE(eventually([&] { return stats(cloud_db)["mutations_applied"] == 1; }));
  REQUIRE(web({"sync"}).exit_code == 0);

  // Offline: the relay cannot reach the cloud (its upstream is pointed at a closed port).
  relay->stop(SIGTERM);
  relay_argv[7] = "http://127.0.0.1:9";  // discard port: nothing listens
  relay = std::make_unique<ChildProcess>(relay_argv);
  REQUIRE(web({"patch", "tasks", "t1", R"({"status": "closed"})"}).exit_code == 0);
  REQUIRE(web({"sync"}).exit_code == 0);
  std::string edit = math({"patch", "tasks", "t1", R"({"status": "blocked"})"}).out;
  std::string order = math({"put", "orders", "o1", R"({"qty": 2})"}).out;
  edit = edit.substr(0, edit.find('\n'));
  order = order.substr(0, order.find('\n'));
  REQUIRE(math({"sync"}).exit_code == 0);  // the relay accepted both

  // Online again.
  relay->stop(SIGTERM);
  relay_argv[7] = cloud_url;
  relay = std::make_unique<ChildProcess>(relay_argv);
  json status;
  CHECK(eventually([&] {
    (void)math({"sync"});
    status = json::parse(math({"status", "--json"}).out);
    return status["conflicts"] == 1 && status["rejected"] == 1;
  }));
  CHECK(status["conflict_mutations"][0]["id"] == edit);
  CHECK(status["rejected_mutations"][0]["id"] == order);
  CHECK(status["rejected_mutations"][0]["last_error"].get<std::string>().find("title") != std::string::npos);
  CHECK(json::parse(math({"get", "tasks", "t1", "--json"}).out)["fields"]["status"] == "closed");

  REQUIRE(math({"resolve", edit, "keep-mine"}).exit_code == 0);
  REQUIRE(math({"discard", order}).exit_code == 0);
  REQUIRE(math({"sync"}).exit_code == 0);
  CHECK(eventually([&] {
    (void)web({"sync"});
    auto got = web({"get", "tasks", "t1", "--json"});
    return got.exit_code == 0 && json::parse(got.out)["fields"]["status"] == "blocked";
  }));
  relay->stop(SIGTERM);
}

TEST_CASE("offsync auth upstream gives a local user its upstream identity, and a relay with auth refuses one token for all") {
  ScratchDir dir;
  std::string db = dir.file("lms.db");
  auto given = run_process({OFFSYNC_BIN, "auth", store_flag(), store_arg(db), "--json", "upstream", "--user", "alice", "--upstream-user",
                            "cloud-alice", "--access-token", "AT-alice", "--refresh-token", "RT-alice"});
  REQUIRE_MESSAGE(given.exit_code == 0, given.err);
  CHECK(json::parse(given.out) == json{{"user", "alice"}, {"upstream_user", "cloud-alice"}});
  json s = stats(db);
  REQUIRE(s.contains("relay"));
  CHECK(s["relay"]["upstream_identities"] == 1);
  CHECK(s["relay"]["handed_over"] == 0);
  auto incomplete = run_process({OFFSYNC_BIN, "auth", store_flag(), store_arg(db), "upstream", "--user", "bob", "--upstream-user", "cloud-bob"});
  CHECK(incomplete.exit_code != 0);
  CHECK(incomplete.err.find("--access-token") != std::string::npos);
  auto shared = run_process({OFFSYNC_BIN, "serve", store_flag(), store_arg(db), "--require-auth", "--listen", "127.0.0.1:0", "--upstream",
                             "http://127.0.0.1:9", "--upstream-token", "one-for-all", "--upstream-db", db + ".upstream"});
  CHECK(shared.exit_code != 0);
  CHECK(shared.err.find("one user's data under another's identity") != std::string::npos);
}

TEST_CASE("relay: on PostgreSQL a relay needs --upstream-db for its upstream client, and says so") {
  ScratchDir dir;
  std::string socket = dir.file("lms.sock");
  auto refused = run_process({OFFSYNC_BIN, "serve", "--postgres", "host=/nonexistent dbname=x", "--unix", socket,
                              "--upstream", "http://127.0.0.1:9"});
  CHECK(refused.exit_code != 0);
  CHECK(refused.err.find("--upstream-db") != std::string::npos);
  auto lonely = run_process({OFFSYNC_BIN, "serve", "--db", dir.file("s.db"), "--unix", socket, "--upstream-db", dir.file("u.db")});
  CHECK(lonely.exit_code != 0);
  CHECK(lonely.err.find("--upstream-db needs --upstream") != std::string::npos);
}
