// ipc-service addresses, launch URIs and the activation registry's files.
#include <doctest/doctest.h>

#include <fstream>

#include "offsync/ipc.h"
#include "support.h"

using namespace offsync;
using offsync::test::ScratchDir;

TEST_CASE("an ipc-service is unix: and an absolute path or a registered name, and anything else is refused") {
  auto direct = resolve_ipc_service("unix:/run/user/1000/lms.sock");
  REQUIRE(direct.is_ok());
  CHECK(direct->socket == "/run/user/1000/lms.sock");
  CHECK_FALSE(direct->service);
  for (const char* bad : {"", "unix:", "unix:relative.sock", "http://127.0.0.1:80", "../etc/passwd", "9lives"}) {
    CAPTURE(bad);
    auto r = resolve_ipc_service(bad, "/nonexistent");
    CHECK_FALSE(r.is_ok());
    CHECK_FALSE(r.status().message().empty());
  }
  CHECK(resolve_ipc_service("unix:/" + std::string(200, 'x')).status().message().find("longer") != std::string::npos);
}

TEST_CASE("the ipc-service of a launch URI is found and percent-decoded") {
  auto value = ipc_service_from_uri("lms://lesson/3?id=7&ipc-service=unix%3A%2Frun%2Fuser%2F1000%2Flms.sock#top");
  REQUIRE(value.is_ok());
  CHECK(*value == "unix:/run/user/1000/lms.sock");
  CHECK(*ipc_service_from_uri("math://open?ipc-service=org.example.lms") == "org.example.lms");
  CHECK_FALSE(ipc_service_from_uri("math://open").is_ok());
  CHECK_FALSE(ipc_service_from_uri("math://open?id=1").is_ok());
  CHECK_FALSE(ipc_service_from_uri("math://open?ipc-service=%zz").is_ok());
  CHECK_FALSE(ipc_service_from_uri("math://open?ipc-service=a&ipc-service=b").is_ok());
}

TEST_CASE("Exec is split like a shell word list, never expanded") {
  auto words = split_exec(R"(/usr/bin/offsync serve --db "/var/lib/my app/api.db" --name 'a b' x\ y $HOME)");
  REQUIRE(words.is_ok());
  CHECK(*words == std::vector<std::string>{"/usr/bin/offsync", "serve", "--db", "/var/lib/my app/api.db", "--name",
                                           "a b", "x y", "$HOME"});
  CHECK_FALSE(split_exec("/bin/x 'unterminated").is_ok());
}

TEST_CASE("a registered service is read from its .service file, and a broken file is refused naming it") {
  ScratchDir dir;
  std::ofstream(dir.file("org.example.lms.service")) << "# the LMS\n[Service]\nName=org.example.lms\n"
                                                        "Socket=/run/user/1000/lms.sock\n"
                                                        "Exec=/usr/bin/offsync serve --unix /run/user/1000/lms.sock --idle-exit 30\n";
  auto found = resolve_ipc_service("org.example.lms", dir.path().string());
  REQUIRE(found.is_ok());
  CHECK(found->socket == "/run/user/1000/lms.sock");
  REQUIRE(found->service);
  CHECK(found->service->exec.size() == 6);

  std::ofstream(dir.file("wrong.name.service")) << "[Service]\nName=other\nSocket=/x.sock\n";
  CHECK(find_ipc_service("wrong.name", dir.path().string()).status().message().find("Name=") != std::string::npos);
  std::ofstream(dir.file("relative.service")) << "[Service]\nName=relative\nSocket=/x.sock\nExec=offsync serve\n";
  CHECK(find_ipc_service("relative", dir.path().string()).status().message().find("absolute") != std::string::npos);
  CHECK(find_ipc_service("missing", dir.path().string()).status().code() == StatusCode::kNotFound);
}

TEST_CASE("a provider that cannot be started, or never listens, is a clear error, not a hang") {
  ScratchDir dir;
  std::string socket = dir.file("p.sock");
  std::ofstream(dir.file("broken.service")) << "[Service]\nName=broken\nSocket=" << socket
                                            << "\nExec=/nonexistent/offsync-provider serve\n";
  std::ofstream(dir.file("silent.service")) << "[Service]\nName=silent\nSocket=" << socket << "\nExec=/bin/true\n";
  auto broken = make_ipc_transport({.service = "broken", .services_dir = dir.path().string()});
  REQUIRE(broken.is_ok());
  auto r = (*broken)->send(HttpRequest{.method = "GET", .target = "/v1/health"});
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().message().find("cannot start /nonexistent/offsync-provider") != std::string::npos);
  auto silent = make_ipc_transport({.service = "silent", .services_dir = dir.path().string(), .activation_timeout_ms = 200});
  REQUIRE(silent.is_ok());
  auto s = (*silent)->send(HttpRequest{.method = "GET", .target = "/v1/health"});
  REQUIRE_FALSE(s.is_ok());
  CHECK(s.status().is_transient());
  CHECK(s.status().message().find("nothing listened on") != std::string::npos);
}
