// The client CLI syncing with a real `offsync serve` over loopback (libcurl), process to process.
#include <doctest/doctest.h>
#include <signal.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <thread>

#include "e2e/process.h"
#include "offsync/client.h"
#include "support.h"

using nlohmann::json;
using namespace offsync::test;

namespace {

constexpr const char* kSchema = R"({"collections": {
  "notes": {},
  "orders": {"fields": {"status": {"type": "string", "merge": "escalate"}}}}})";

struct Setup {
  ScratchDir dir;
  std::string server_db = dir.file("server.db");
  std::string client_db = dir.file("client.db");
  std::string schema = dir.file("schema.json");
  std::unique_ptr<ChildProcess> server;
  std::string url;

  Setup() { std::ofstream(schema) << kSchema; }

  void start(const std::string& listen = "127.0.0.1:0") {
    server = std::make_unique<ChildProcess>(std::vector<std::string>{
        OFFSYNC_BIN, "serve", store_flag(), store_arg(server_db), "--listen", listen, "--schema", schema});
    url = http_url_of(*server);
  }

  ProcessResult client(std::vector<std::string> args, const std::string& db = "") {
    std::vector<std::string> argv = {OFFSYNC_BIN, "client", "--db", db.empty() ? client_db : db};
    if (!url.empty()) argv.insert(argv.end(), {"--server", url});
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv);
  }

  json stats() {
    auto r = run_process({OFFSYNC_BIN, "admin", "stats", store_flag(), store_arg(server_db), "--json"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    return json::parse(r.out);
  }
};

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

TEST_CASE("notes written while the server is down are sent once it is up, in ULID order") {
  Setup s;
  s.url = "http://127.0.0.1:1";  // nothing listens there
  std::vector<std::string> ids;
  for (const char* title : {"one", "two", "three"}) {
    auto r = s.client({"put", "notes", json{{"title", title}}.dump(), "--json"});
    REQUIRE(r.exit_code == 0);
    ids.push_back(json::parse(r.out)["record"]);
  }
  auto offline = s.client({"sync"});
  CHECK(offline.exit_code == 3);
  CHECK(json::parse(s.client({"status", "--json"}).out)["pending"] == 3);

  s.start();
  auto online = s.client({"sync", "--json"});
  CHECK_MESSAGE(online.exit_code == 0, online.err);
  CHECK(json::parse(online.out)["applied"] == 3);
  CHECK(json::parse(s.client({"outbox", "--json"}).out).empty());
  CHECK(s.stats()["mutations_applied"] == 3);
  // The server's change log holds them in the order they were written.
  auto page = curl({s.url + "/v1/sync"});
  json changes = json::parse(page.body)["changes"];
  REQUIRE(changes.size() == 3);
  for (size_t i = 0; i < 3; ++i) CHECK(changes[i]["record"] == ids[i]);
}

TEST_CASE("a server killed mid-drain and restarted applies every mutation exactly once") {
  Setup s;
  s.start();
  std::string port = s.url.substr(s.url.rfind(':') + 1);
  constexpr int kCount = 10000;
  // The outbox is filled through the library in this process (a CLI call per write would be slow).
  {
    auto client = offsync::Client::open({.path = s.client_db, .durability = offsync::Durability::kNormal});
    REQUIRE(client.is_ok());
    for (int i = 0; i < kCount; ++i) REQUIRE((*client)->put("notes", "n" + std::to_string(i), {{"i", i}}).is_ok());
  }
  // Kill the server while the client drains.
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    s.server->stop(SIGKILL);
  });
  auto interrupted = s.client({"sync", "--json"});
  killer.join();
  if (interrupted.exit_code == 0) MESSAGE("the drain finished before the kill; nothing was interrupted");
  s.start("127.0.0.1:" + port);
  auto finished = s.client({"sync", "--json"});
  REQUIRE_MESSAGE(finished.exit_code == 0, finished.err << finished.out);
  CHECK(json::parse(s.client({"outbox", "--json"}).out).empty());
  json stats = s.stats();
  CHECK(stats["mutations_applied"] == kCount);
  CHECK(stats["changes"] == kCount);
  CHECK(stats["idempotency_keys"] == kCount);
}

TEST_CASE("a conflict on an escalate field is shown by status and settled with resolve") {
  Setup s;
  s.start();
  REQUIRE(s.client({"put", "orders", "o1", R"({"status":"new"})"}).exit_code == 0);
  REQUIRE(s.client({"sync"}).exit_code == 0);
  // Another device changes the status.
  std::string other = s.dir.file("other.db");
  REQUIRE(s.client({"sync"}, other).exit_code == 0);
  REQUIRE(s.client({"patch", "orders", "o1", R"({"status":"shipped"})"}, other).exit_code == 0);
  REQUIRE(s.client({"sync"}, other).exit_code == 0);
  // This device cancels from its stale base.
  std::string mine = trimmed(s.client({"patch", "orders", "o1", R"({"status":"cancelled"})"}).out);
  auto synced = s.client({"sync", "--json"});
  CHECK(synced.exit_code == 0);
  CHECK(json::parse(synced.out)["conflicts"] == 1);
  json status = json::parse(s.client({"status", "--json"}).out);
  CHECK(status["conflicts"] == 1);
  REQUIRE(status["conflict_mutations"].size() == 1);
  CHECK(status["conflict_mutations"][0]["server"]["fields"]["status"] == "shipped");
  CHECK(json::parse(s.client({"get", "orders", "o1", "--json"}).out)["fields"]["status"] == "shipped");

  auto resolved = s.client({"resolve", mine, "keep-mine"});
  CHECK_MESSAGE(resolved.exit_code == 0, resolved.err);
  CHECK(s.client({"sync"}).exit_code == 0);
  REQUIRE(s.client({"sync"}, other).exit_code == 0);
  CHECK(json::parse(s.client({"get", "orders", "o1", "--json"}, other).out)["fields"]["status"] == "cancelled");
  CHECK(s.client({"resolve", mine, "sometimes"}).exit_code != 0);
}

TEST_CASE("after offsync admin rotate-cursor the client refreshes fully and keeps what it has not sent") {
  Setup s;
  s.start();
  REQUIRE(s.client({"put", "notes", "a", R"({"v":1})"}).exit_code == 0);
  REQUIRE(s.client({"sync"}).exit_code == 0);
  REQUIRE(run_process({OFFSYNC_BIN, "admin", "rotate-cursor", store_flag(), store_arg(s.server_db)}).exit_code == 0);
  REQUIRE(s.client({"put", "notes", "b", R"({"v":2})"}).exit_code == 0);
  auto r = s.client({"sync", "--json"});
  CHECK(r.exit_code == 0);
  CHECK(json::parse(r.out)["full_refresh"] == true);
  CHECK(json::parse(s.client({"list", "notes", "--json"}).out).size() == 2);
  CHECK(s.stats()["mutations_applied"] == 2);
}

TEST_CASE("sync exits 2 and says why when the pull fails, 0 once it completes") {
  Setup s;
  s.start();
  std::string good = s.url;
  s.url = good + "/not-the-api";  // a wrong base path: the server answers 404 to the pull
  auto failed = s.client({"sync"});
  CHECK(failed.exit_code == 2);
  CHECK(failed.out.find("pull stopped: GET /v1/sync answered 404") != std::string::npos);
  auto json_report = s.client({"sync", "--json"});
  CHECK(json_report.exit_code == 2);
  CHECK(json::parse(json_report.out)["pull_complete"] == false);
  s.url = good;
  CHECK(s.client({"sync"}).exit_code == 0);
}

TEST_CASE("a stored cursor the server never issued leads to a full refresh, not a pull that fails for ever") {
  Setup s;
  s.start();
  REQUIRE(s.client({"put", "notes", "n1", R"({"v":1})"}).exit_code == 0);
  REQUIRE(s.client({"sync"}).exit_code == 0);
  {
    // A store restored from elsewhere, or a bit flipped on disk.
    SQLite::Database db(s.client_db, SQLite::OPEN_READWRITE);
    db.exec("UPDATE meta SET value='AAAAAQAAAAAAAAAB' WHERE key='cursor'");
  }
  std::string url = s.url;
  s.url.clear();  // offline: a local edit waits in the outbox
  REQUIRE(s.client({"put", "notes", "n2", R"({"v":2})"}).exit_code == 0);
  s.url = url;
  auto sync = s.client({"sync", "--json"});
  CHECK(sync.exit_code == 0);
  json report = json::parse(sync.out);
  CHECK(report["full_refresh"] == true);
  CHECK(report["pull_complete"] == true);
  CHECK(json::parse(s.client({"get", "notes", "n2", "--json"}).out)["fields"] == json({{"v", 2}}));
  CHECK(json::parse(s.client({"get", "notes", "n1", "--json"}).out)["fields"] == json({{"v", 1}}));
}

TEST_CASE("on a terminal a long drain shows its progress on stderr, and a pipe gets only the result") {
  Setup s;
  s.start();
  constexpr int kCount = 2500;
  {
    auto client = offsync::Client::open({.path = s.client_db, .durability = offsync::Durability::kNormal});
    REQUIRE(client.is_ok());
    for (int i = 0; i < kCount; ++i) REQUIRE((*client)->put("notes", "n" + std::to_string(i), {{"i", i}}).is_ok());
  }
  // script(1) gives the command a pseudo-terminal and copies what it drew to the file.
  std::string typescript = s.dir.file("typescript");
  std::string command = std::string(OFFSYNC_BIN) + " client --db " + s.client_db + " --server " + s.url + " sync";
  auto tty = run_process({"/usr/bin/script", "-qefc", command, typescript});
  REQUIRE_MESSAGE(tty.exit_code == 0, tty.out << tty.err);
  std::ifstream in(typescript);
  std::string drawn((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(drawn.find("sending: 1000 of 2500 mutations") != std::string::npos);
  CHECK(drawn.find("sending: 2500 of 2500 mutations") != std::string::npos);
  CHECK(drawn.find("pulling: 2500 changes") != std::string::npos);
  CHECK(drawn.find("sent 2500: applied 2500") != std::string::npos);
  // Not a terminal: the result only, no progress lines.
  REQUIRE(s.client({"put", "notes", "late", R"({"v":1})"}).exit_code == 0);
  auto piped = s.client({"sync"});
  CHECK(piped.exit_code == 0);
  CHECK(piped.err.empty());
  CHECK(piped.out.find("sending:") == std::string::npos);
}
