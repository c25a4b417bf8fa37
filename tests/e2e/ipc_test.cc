// The server over local IPC: a Unix domain socket (`offsync serve --unix`), a socket inherited from
// systemd socket activation, the idle exit, the socket file's safety and the peer check.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "e2e/process.h"
#include "offsync/listener.h"
#include "server_support.h"
#include "support.h"

using nlohmann::json;
using namespace offsync;
using namespace offsync::test;

namespace {

// Waits until `path` exists (a socket being bound by another process).
bool wait_for_file(const std::string& path, int timeout_ms = 5000) {
  for (int waited = 0; waited < timeout_ms; waited += 10) {
    if (access(path.c_str(), F_OK) == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

CurlReply post_note(const std::string& socket, const std::string& record) {
  json m = {{"collection", "notes"}, {"record", record}, {"op", "upsert"}, {"fields", {{"t", record}}}};
  return curl({"--unix-socket", socket, "-X", "POST", "-H", "Content-Type: application/json", "-H",
               "Idempotency-Key: " + new_key(), "--data-binary", m.dump(), "http://localhost/v1/mutations"});
}

}  // namespace

TEST_CASE("offsync serve --unix answers curl --unix-socket, health and a mutation, on a 0600 socket") {
  ScratchDir dir;
  std::string socket = dir.file("api.sock");
  ChildProcess server({OFFSYNC_BIN, "serve", store_flag(), store_arg(dir.file("s.db")), "--unix", socket});
  CHECK(server.first_line().find("on unix:/") != std::string::npos);
  struct stat st {};
  REQUIRE(lstat(socket.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 0777) == 0600);
  CurlReply health = curl({"--unix-socket", socket, "http://localhost/v1/health"});
  CHECK(health.status == 200);
  CHECK(json::parse(health.body)["status"] == "ok");
  CurlReply posted = post_note(socket, "n1");
  CHECK(posted.status == 200);
  CHECK(json::parse(posted.body)["status"] == "applied");
  CHECK(server.stop(SIGTERM) == 0);
  CHECK(access(socket.c_str(), F_OK) != 0);  // the socket file goes with the server
}

TEST_CASE("a stale socket file is replaced, a live one or a file that is not a socket is refused") {
  ScratchDir dir;
  std::string socket = dir.file("api.sock");
  {
    // A crashed run leaves its socket file behind.
    ChildProcess crashed({OFFSYNC_BIN, "serve", store_flag(), store_arg(dir.file("s.db")), "--unix", socket});
    crashed.stop(SIGKILL);
  }
  REQUIRE(access(socket.c_str(), F_OK) == 0);
  ChildProcess server({OFFSYNC_BIN, "serve", store_flag(), store_arg(dir.file("s.db")), "--unix", socket});
  REQUIRE(server.first_line().find("serving") != std::string::npos);
  CHECK(curl({"--unix-socket", socket, "http://localhost/v1/health"}).status == 200);

  auto second = run_process({OFFSYNC_BIN, "serve", store_flag(), store_arg(dir.file("other.db")), "--unix", socket});
  CHECK(second.exit_code == 1);
  CHECK(second.err.find("another server is listening on") != std::string::npos);
  CHECK(curl({"--unix-socket", socket, "http://localhost/v1/health"}).status == 200);  // untouched

  std::string plain = dir.file("not-a-socket");
  std::ofstream(plain) << "precious";
  auto refused = run_process({OFFSYNC_BIN, "serve", store_flag(), store_arg(dir.file("third.db")), "--unix", plain});
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find("is not a socket") != std::string::npos);
  std::ifstream kept(plain);
  std::string text;
  kept >> text;
  CHECK(text == "precious");
}

TEST_CASE("a peer the policy does not admit gets 403 and is logged") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db")});
  std::vector<std::string> logged;
  std::mutex mu;
  ListenerOptions options;
  options.admit_peer = [](const PeerCredentials& peer) { return peer.uid != getuid(); };  // not us
  options.log = [&](LogLevel, std::string_view, std::string_view message) {
    std::lock_guard<std::mutex> lock(mu);
    logged.emplace_back(message);
  };
  std::string socket = dir.file("api.sock");
  auto listener = Listener::listen_unix(*server, socket, options);
  REQUIRE(listener.is_ok());
  std::thread serving([&] { (*listener)->run(); });
  CurlReply refused = curl({"--unix-socket", socket, "http://localhost/v1/health"});
  CHECK(refused.status == 403);
  CHECK(json::parse(refused.body)["error"]["code"] == "forbidden");
  CHECK(post_note(socket, "n1").status == 403);
  CHECK(server->stats()->mutations_applied == 0);
  (*listener)->stop();
  serving.join();
  std::lock_guard<std::mutex> lock(mu);
  REQUIRE(!logged.empty());
  CHECK(logged[0].find("refused pid ") == 0);
}

TEST_CASE("--idle-exit stops the server once no connection has been open for that long") {
  ScratchDir dir;
  std::string socket = dir.file("api.sock");
  ChildProcess server({OFFSYNC_BIN, "serve", store_flag(), store_arg(dir.file("s.db")), "--unix", socket, "--idle-exit", "0.5"});
  REQUIRE(server.first_line().find("serving") != std::string::npos);
  CHECK(post_note(socket, "n1").status == 200);
  CHECK(server.wait_exit(5000) == std::optional<int>(0));
  CHECK(access(socket.c_str(), F_OK) != 0);
}

TEST_CASE("under systemd-socket-activate the first request wakes the server, which exits when idle") {
  if (access("/usr/bin/systemd-socket-activate", X_OK) != 0) {
    FAIL("systemd-socket-activate is missing (Debian's systemd package; scripts/deps.sh installs it)");
  }
  ScratchDir dir;
  std::string socket = dir.file("api.sock");
  ChildProcess activator({"/usr/bin/systemd-socket-activate", "-l", socket, OFFSYNC_BIN, "serve", store_flag(),
                          store_arg(dir.file("s.db")), "--idle-exit", "0.5"},
                         false);
  REQUIRE(wait_for_file(socket));
  // Nothing runs yet but the activator; the first connection starts offsync on the bound socket.
  CurlReply first = post_note(socket, "woken");
  CHECK(first.status == 200);
  CHECK(curl({"--unix-socket", socket, "http://localhost/v1/health"}).status == 200);
  CHECK(activator.wait_exit(5000) == std::optional<int>(0));
  auto stats = run_process({OFFSYNC_BIN, "admin", "stats", store_flag(), store_arg(dir.file("s.db")), "--json"});
  REQUIRE(stats.exit_code == 0);
  CHECK(json::parse(stats.out)["mutations_applied"] == 1);
}

TEST_CASE("without --listen, --unix or an inherited socket, serve says what it needs") {
  ScratchDir dir;
  auto r = run_process({OFFSYNC_BIN, "serve", store_flag(), store_arg(dir.file("s.db"))});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("LISTEN_FDS") != std::string::npos);
}

TEST_CASE("a client with --ipc-service starts its provider through the registry, again after each idle exit") {
  ScratchDir dir;
  std::string socket = dir.file("lms.sock");
  std::string services = dir.file("services");
  std::filesystem::create_directories(services);
  std::ofstream(services + "/org.example.lms.service")
      << "[Service]\nName=org.example.lms\nSocket=" << socket << "\nExec=" << OFFSYNC_BIN << " serve --unix " << socket
      << store_exec_args(dir.file("lms-api.db")) << " --idle-exit 0.3\n";
  setenv("OFFSYNC_SERVICES_DIR", services.c_str(), 1);
  auto client = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {OFFSYNC_BIN, "client", "--db", dir.file("math.db"), "--ipc-service", "org.example.lms"});
    return run_process(args);
  };
  auto stats = [&] {
    auto r = run_process({OFFSYNC_BIN, "admin", "stats", store_flag(), store_arg(dir.file("lms-api.db")), "--json"});
    REQUIRE(r.exit_code == 0);
    return json::parse(r.out);
  };
  for (int round = 1; round <= 3; ++round) {
    CAPTURE(round);
    CHECK(access(socket.c_str(), F_OK) != 0);  // nothing runs: the provider exited when idle
    REQUIRE(client({"put", "notes", "n" + std::to_string(round), R"({"v":1})"}).exit_code == 0);
    auto sync = client({"sync"});
    CHECK_MESSAGE(sync.exit_code == 0, sync.out << sync.err);
    CHECK(stats()["mutations_applied"] == round);  // none lost, none twice
    // The provider exits after 0.3 s without a connection.
    for (int waited = 0; waited < 5000 && access(socket.c_str(), F_OK) == 0; waited += 20) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  unsetenv("OFFSYNC_SERVICES_DIR");
  auto unknown = run_process({OFFSYNC_BIN, "client", "--db", dir.file("math.db"), "--ipc-service", "org.example.nope", "sync"});
  CHECK(unknown.exit_code == 1);
  CHECK(unknown.err.find("no service org.example.nope is registered") != std::string::npos);
}

TEST_CASE("offsync proxy serves curl over loopback TCP by forwarding to the IPC server, only with its secret") {
  ScratchDir dir;
  std::string socket = dir.file("api.sock");
  ChildProcess server({OFFSYNC_BIN, "serve", store_flag(), store_arg(dir.file("s.db")), "--unix", socket});
  REQUIRE(server.first_line().find("serving") != std::string::npos);
  ChildProcess proxy({OFFSYNC_BIN, "proxy", "--ipc-service", "unix:" + socket, "--listen", "127.0.0.1:0"});
  const std::string& line = proxy.first_line();
  size_t at = line.find("http://127.0.0.1:");
  size_t secret_at = line.find("with secret ");
  REQUIRE_MESSAGE((at != std::string::npos && secret_at != std::string::npos), line);
  std::string url = line.substr(at, line.find(' ', at) - at);
  std::string secret = line.substr(secret_at + 12);
  CHECK(secret.size() == 64);

  CurlReply health = curl({"-H", "Authorization: Bearer " + secret, url + "/v1/health"});
  CHECK(health.status == 200);
  CHECK(json::parse(health.body)["status"] == "ok");
  json m = {{"collection", "notes"}, {"record", "n1"}, {"op", "upsert"}, {"fields", {{"via", "proxy"}}}};
  CurlReply posted = curl({"-X", "POST", "-H", "Offsync-Proxy-Secret: " + secret, "-H", "Content-Type: application/json",
                           "-H", "Idempotency-Key: " + new_key(), "--data-binary", m.dump(), url + "/v1/mutations"});
  CHECK(posted.status == 200);
  CHECK(json::parse(posted.body)["record"]["fields"]["via"] == "proxy");

  CurlReply none = curl({url + "/v1/health"});
  CHECK(none.status == 401);
  CHECK(json::parse(none.body)["error"]["code"] == "proxy_secret_required");
  CHECK(curl({"-H", "Authorization: Bearer " + std::string(64, '0'), url + "/v1/health"}).status == 401);

  auto outside = run_process({OFFSYNC_BIN, "proxy", "--ipc-service", "unix:" + socket, "--listen", "0.0.0.0:0"});
  CHECK(outside.exit_code == 1);
  CHECK(outside.err.find("loopback only") != std::string::npos);
}

TEST_CASE("an inherited TCP socket is served too, and the address is printed") {
  if (access("/usr/bin/systemd-socket-activate", X_OK) != 0) {
    FAIL("systemd-socket-activate is missing (Debian's systemd package; scripts/deps.sh installs it)");
  }
  ScratchDir dir;
  // A free port: bound by a listener of ours, then released for the activator.
  auto probe_server = open_server({.db_path = dir.file("probe.db")});
  uint16_t port = 0;
  {
    auto probe = Listener::listen_tcp(*probe_server, "127.0.0.1", 0);
    REQUIRE(probe.is_ok());
    port = (*probe)->port();
  }
  std::string address = "127.0.0.1:" + std::to_string(port);
  ChildProcess activator({"/usr/bin/systemd-socket-activate", "-l", address, OFFSYNC_BIN, "serve", store_flag(),
                          store_arg(dir.file("s.db")), "--idle-exit", "0.5"},
                         false);
  CurlReply health;
  for (int i = 0; i < 200 && health.status != 200; ++i) {
    health = curl({"http://" + address + "/v1/health"});
    if (health.status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(health.status == 200);
  CHECK(activator.wait_exit(5000) == std::optional<int>(0));
}

TEST_CASE("serve --json and proxy --json print their first line as one JSON object a launcher parses") {
  ScratchDir dir;
  std::string socket = dir.file("api.sock");
  ChildProcess server({OFFSYNC_BIN, "serve", store_flag(), store_arg(dir.file("s.db")), "--unix", socket, "--json"});
  json served = json::parse(server.first_line());
  CHECK(served["address"] == "unix:" + socket);
  CHECK(served.contains("store"));
  ChildProcess proxy({OFFSYNC_BIN, "proxy", "--ipc-service", "unix:" + socket, "--listen", "127.0.0.1:0", "--json"});
  json line = json::parse(proxy.first_line());
  std::string url = line["url"], secret = line["secret"];
  CHECK(url.rfind("http://127.0.0.1:", 0) == 0);
  CHECK(line["ipc_service"] == "unix:" + socket);
  CHECK(secret.size() == 64);
  CHECK(curl({"-H", "Authorization: Bearer " + secret, url + "/v1/health"}).status == 200);
}
