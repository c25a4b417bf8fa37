// The app is killed (SIGKILL) while writing: every write whose call returned is there after a
// restart, in the view and in the outbox, in ULID order.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <set>

#include "offsync/client.h"
#include "support.h"

using namespace offsync;

namespace {

// In a child process: write records forever, reporting each acknowledged mutation on `fd`.
[[noreturn]] void write_until_killed(const std::string& path, Durability durability, int fd) {
  auto client = Client::open({.path = path, .durability = durability});
  if (!client) _exit(2);
  for (int i = 0;; ++i) {
    std::string record = "n" + std::to_string(i);
    auto id = (*client)->put("notes", record, {{"i", i}});
    if (!id) _exit(3);
    std::string line = *id + " " + record + "\n";
    if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(4);
  }
}

void check_survives_sigkill(Durability durability) {
  test::ScratchDir dir;
  std::string path = dir.file("c.db");
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    close(fds[0]);
    write_until_killed(path, durability, fds[1]);
  }
  close(fds[1]);
  FILE* acks = fdopen(fds[0], "r");
  std::vector<std::pair<std::string, std::string>> acknowledged;
  char id[64], record[64];
  while (acknowledged.size() < 150 && std::fscanf(acks, "%63s %63s", id, record) == 2) {
    acknowledged.emplace_back(id, record);
  }
  kill(child, SIGKILL);
  // Whatever the child reported before it died was acknowledged too.
  while (std::fscanf(acks, "%63s %63s", id, record) == 2) acknowledged.emplace_back(id, record);
  std::fclose(acks);
  int wstatus = 0;
  waitpid(child, &wstatus, 0);
  REQUIRE(WIFSIGNALED(wstatus));
  REQUIRE(acknowledged.size() >= 150);

  auto client = test::open_client({.path = path});
  auto outbox = client->outbox();
  REQUIRE(outbox.is_ok());
  // At most one more write may have committed without its acknowledgement reaching us.
  CHECK(outbox->size() >= acknowledged.size());
  CHECK(outbox->size() <= acknowledged.size() + 1);
  for (size_t i = 0; i < acknowledged.size(); ++i) {
    REQUIRE((*outbox)[i].id == acknowledged[i].first);
    CHECK((*outbox)[i].record_id == acknowledged[i].second);
    CHECK(client->get("notes", acknowledged[i].second).is_ok());
  }
  for (size_t i = 1; i < outbox->size(); ++i) CHECK((*outbox)[i - 1].id < (*outbox)[i].id);
}

}  // namespace

TEST_CASE("every acknowledged write survives SIGKILL at the default durability") {
  check_survives_sigkill(Durability::kFull);
}

TEST_CASE("every acknowledged write survives SIGKILL at normal durability") {
  check_survives_sigkill(Durability::kNormal);
}
