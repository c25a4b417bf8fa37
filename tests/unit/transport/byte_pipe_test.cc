// The byte pipe: serialized HTTP/1.1 in, serialized HTTP/1.1 out, as a Binder or XPC shim carries it.
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "offsync/byte_pipe.h"
#include "offsync/client.h"
#include "server_support.h"
#include "support.h"

using nlohmann::json;
using namespace offsync;
using namespace offsync::test;

namespace {

// Frames on a socketpair, standing in for Binder parcels: a 4-byte length, then the bytes.
bool write_frame(int fd, const std::string& bytes) {
  uint32_t n = static_cast<uint32_t>(bytes.size());
  std::string frame(reinterpret_cast<const char*>(&n), 4);
  frame += bytes;
  size_t sent = 0;
  while (sent < frame.size()) {
    ssize_t w = write(fd, frame.data() + sent, frame.size() - sent);
    if (w <= 0) return false;
    sent += static_cast<size_t>(w);
  }
  return true;
}

std::optional<std::string> read_exact(int fd, size_t n) {
  std::string out(n, '\0');
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, out.data() + got, n - got);
    if (r <= 0) return std::nullopt;
    got += static_cast<size_t>(r);
  }
  return out;
}

std::optional<std::string> read_frame(int fd) {
  auto head = read_exact(fd, 4);
  if (!head) return std::nullopt;
  uint32_t n = 0;
  std::memcpy(&n, head->data(), 4);
  return read_exact(fd, n);
}

std::string serve(Server& server, const std::string& bytes) { return serve_http_bytes(server, bytes); }

}  // namespace

TEST_CASE("the byte pipe round-trips a mutation through a socketpair standing in for Binder") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db")});
  int fds[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  // The provider's side: what onTransact would do with each parcel.
  std::thread provider([&] {
    while (auto request = read_frame(fds[1])) {
      if (!write_frame(fds[1], serve_http_bytes(*server, *request))) break;
    }
  });
  auto transport = std::shared_ptr<Transport>(make_byte_pipe_transport([&](const std::string& bytes) -> Result<std::string> {
    if (!write_frame(fds[0], bytes)) return Status::transient("the provider is gone");
    auto answer = read_frame(fds[0]);
    if (!answer) return Status::transient("the provider is gone");
    return *answer;
  }));
  auto client = open_client({.path = dir.file("c.db"), .sync = {.transport = transport, .background = false}});
  REQUIRE(client->put("notes", "n1", {{"title", "over Binder"}}).is_ok());
  auto report = client->sync_once();
  REQUIRE(report.is_ok());
  CHECK(report->applied == 1);
  CHECK(client->outbox()->empty());
  CHECK(server->stats()->mutations_applied == 1);
  shutdown(fds[0], SHUT_RDWR);
  provider.join();
  close(fds[0]);
  close(fds[1]);
}

TEST_CASE("bytes that are not one whole request are answered 400, 413 or 431, never a crash") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db")});
  auto status_of = [](const std::string& response) {
    int status = 0;
    std::sscanf(response.c_str(), "HTTP/1.1 %d", &status);
    return status;
  };
  CHECK(status_of(serve(*server, "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")) == 200);
  CHECK(status_of(serve(*server, "")) == 400);
  CHECK(status_of(serve(*server, "\x01\x02garbage")) == 400);
  CHECK(status_of(serve(*server, "POST /v1/mutations HTTP/1.1\r\nContent-Length: 50\r\n\r\n{\"cut")) == 400);
  CHECK(status_of(serve(*server, "GET /v1/health HTTP/1.1\r\n\r\nGET /v1/health HTTP/1.1\r\n\r\n")) == 400);
  CHECK(status_of(serve(*server, "GET / HTTP/1.1\r\nX: " + std::string(20000, 'a') + "\r\n\r\n")) == 431);
  CHECK(status_of(serve_http_bytes(*server, "POST /v1/mutations HTTP/1.1\r\nContent-Length: 100\r\n\r\n" +
                                               std::string(100, 'x'), 10)) == 413);
  // A length far past any memory is refused from the head, not reserved (found by fuzzing).
  CHECK(status_of(serve(*server, "POST /v1/mutations HTTP/1.1\r\nContent-Length: 800049278810\r\n\r\n{}")) == 413);
}

TEST_CASE("a response whose Content-Length is absurd is refused from its head, not allocated") {
  auto transport = make_byte_pipe_transport([](const std::string&) -> Result<std::string> {
    return std::string("HTTP/1.1 200 OK\r\nContent-Length: 0800049278810\r\n\r\n{\"o\":1}");
  });
  auto answer = transport->send(HttpRequest{.method = "GET", .target = "/v1/health"});
  REQUIRE_FALSE(answer.is_ok());
  CHECK(answer.status().is_transient());
}

TEST_CASE("an answer from the shim that is not one HTTP response is no answer: the mutation stays pending") {
  ScratchDir dir;
  auto transport = std::shared_ptr<Transport>(make_byte_pipe_transport([](const std::string&) -> Result<std::string> {
    return std::string("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n{\"cut short");
  }));
  auto client = open_client({.path = dir.file("c.db"), .sync = {.transport = transport, .background = false}});
  REQUIRE(client->put("notes", "n1", {{"v", 1}}).is_ok());
  auto report = client->sync_once();
  REQUIRE(report.is_ok());
  CHECK_FALSE(report->reached);
  REQUIRE(client->outbox()->size() == 1);
  CHECK(client->outbox()->front().state == MutationState::kPending);
}

TEST_CASE("the byte pipe carries an attachment's binary chunks up and its ranges down, byte for byte") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db")});
  auto pipe = [&] {
    return std::shared_ptr<Transport>(make_byte_pipe_transport(
        [&](const std::string& bytes) -> Result<std::string> { return serve_http_bytes(*server, bytes); }));
  };
  std::string photo = pattern_bytes(1'300'000, 77);  // every byte value, CR LF and NUL among them
  auto up = open_client({.path = dir.file("a.db"),
                         .sync = {.transport = pipe(), .background = false, .attachment_chunk_bytes = 500'000}});
  auto id = up->add_attachment(photo, "image/jpeg");
  REQUIRE(up->put("notes", "n1", {{"t", 1}}, {.attachments = {*id}}).is_ok());
  REQUIRE(up->sync_once()->applied == 1);
  auto down = open_client({.path = dir.file("b.db"),
                           .sync = {.transport = pipe(), .background = false, .attachment_chunk_bytes = 400'000}});
  REQUIRE(down->sync_once()->pulled == 1);
  REQUIRE(down->download_attachment(*id).is_ok());
  CHECK(down->read_attachment(*id, 0, 2'000'000).value() == photo);
}

TEST_CASE("the asynchronous byte handler holds a long poll without a thread and answers it when a change commits") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db")});
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> answers;
  auto done = [&](std::string bytes) {
    std::lock_guard<std::mutex> lock(mu);
    answers.push_back(std::move(bytes));
    cv.notify_all();
  };
  // Bad bytes and plain requests are answered at once, on the calling thread.
  serve_http_bytes_async(*server, "\x01garbage", done);
  serve_http_bytes_async(*server, "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n", done);
  REQUIRE(answers.size() == 2);
  CHECK(answers[0].rfind("HTTP/1.1 400", 0) == 0);
  CHECK(answers[1].rfind("HTTP/1.1 200", 0) == 0);
  // A long poll on an empty log is held: the call returns, the answer comes with the change.
  serve_http_bytes_async(*server, "GET /v1/sync?wait=30 HTTP/1.1\r\nHost: x\r\n\r\n", done);
  CHECK(answers.size() == 2);
  auto applied = server->handle(post_mutation(note_upsert("n1", {{"title", "t"}}), new_key()));
  CHECK(applied.status == 200);
  std::unique_lock<std::mutex> lock(mu);
  REQUIRE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return answers.size() == 3; }));
  CHECK(answers[2].rfind("HTTP/1.1 200", 0) == 0);
  CHECK(answers[2].find("\"n1\"") != std::string::npos);
}
