// Attachments through `offsync serve` with real clients: curl alone, chunk by chunk, resumed after
// the upload and the server stopped half-way; and the `offsync client` commands, killed mid-upload.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "e2e/process.h"
#include "engine/common/crypto.h"
#include "server_support.h"
#include "support.h"

using nlohmann::json;
using namespace offsync;
using namespace offsync::test;

namespace {

std::unique_ptr<ChildProcess> serve(const std::vector<std::string>& extra, std::string* base) {
  std::vector<std::string> argv = {OFFSYNC_BIN, "serve", "--listen", "127.0.0.1:0"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto process = std::make_unique<ChildProcess>(argv);
  *base = http_url_of(*process);
  return process;
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

CurlReply put_chunk_file(const std::string& url, const std::string& file, uint64_t first, uint64_t size, uint64_t total) {
  return curl({"-X", "PUT", "-H",
               "Content-Range: bytes " + std::to_string(first) + "-" + std::to_string(first + size - 1) + "/" +
                   std::to_string(total),
               // curl waits for "100 Continue" this long: a server that never sends it fails the test.
               "-H", "Expect: 100-continue", "--expect100-timeout", "30", "--data-binary", "@" + file, url});
}

}  // namespace

TEST_CASE("curl alone uploads a file in chunks, stops half-way with the server, asks where to resume and finishes") {
  for (bool in_dir : {false, true}) {
    CAPTURE(in_dir);
    ScratchDir dir;
    const std::string bytes = pattern_bytes(3'500'000, 11);
    const uint64_t total = bytes.size(), chunk = 1 << 20;
    for (uint64_t at = 0; at < total; at += chunk) {
      write_file(dir.file("part" + std::to_string(at / chunk)), bytes.substr(at, chunk));
    }
    std::vector<std::string> args = {store_flag(), store_arg(dir.file("s.db"))};
    if (in_dir) args.insert(args.end(), {"--attachments-dir", dir.file("files")});
    std::string base;
    auto server = serve(args, &base);
    json create = {{"id", "photo-1"}, {"size", total}, {"sha256", hex(sha256(bytes))}, {"content_type", "image/jpeg"}};
    CurlReply created = curl({"-X", "POST", "-H", "Content-Type: application/json", "-H", "Idempotency-Key: photo-1",
                              "--data-binary", create.dump(), base + "/v1/attachments"});
    REQUIRE_MESSAGE(created.status == 201, created.body);
    std::string url = base + json::parse(created.body)["upload_url"].get<std::string>();
    CurlReply first = put_chunk_file(url, dir.file("part0"), 0, chunk, total);
    CHECK(first.status == 308);
    CHECK(first.header("Range") == "bytes=0-1048575");
    CHECK(put_chunk_file(url, dir.file("part1"), chunk, chunk, total).status == 308);
    server->stop(SIGTERM);  // everything stops half-way

    server = serve(args, &base);
    url = base + "/v1/attachments/photo-1";
    CurlReply where = curl({"-X", "PUT", "-H", "Content-Range: bytes */" + std::to_string(total), url});
    CHECK(where.status == 308);
    REQUIRE(where.header("Range") == "bytes=0-2097151");
    CHECK(put_chunk_file(url, dir.file("part2"), 2 * chunk, chunk, total).status == 308);
    CurlReply done = put_chunk_file(url, dir.file("part3"), 3 * chunk, total - 3 * chunk, total);
    CHECK(done.status == 201);
    ProcessResult got = run_process({"/usr/bin/curl", "-s", "-o", dir.file("got"), url});
    REQUIRE(got.exit_code == 0);
    CHECK(read_file(dir.file("got")) == bytes);
    CurlReply tail = curl({"-H", "Range: bytes=3000000-", url});
    CHECK(tail.status == 206);
    CHECK(tail.header("Content-Range") == "bytes 3000000-3499999/3500000");
    CHECK(tail.body == bytes.substr(3'000'000));
  }
}

TEST_CASE("offsync client: attach, write, sync killed mid-upload, sync again, and another device downloads it verified") {
  ScratchDir dir;
  std::string base;
  auto server = serve({store_flag(), store_arg(dir.file("s.db"))}, &base);
  const std::string bytes = pattern_bytes(48 << 20, 21);
  write_file(dir.file("video.bin"), bytes);
  auto client = [&](const std::string& db, std::vector<std::string> args) {
    std::vector<std::string> argv = {OFFSYNC_BIN, "client", "--db", dir.file(db), "--server", base};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  };
  ProcessResult attached = run_process(client("a.db", {"attach", dir.file("video.bin"), "--content-type", "video/mp4", "--json"}));
  REQUIRE_MESSAGE(attached.exit_code == 0, attached.err);
  json info = json::parse(attached.out);
  std::string id = info["id"];
  CHECK(info["size"] == bytes.size());
  CHECK(info["state"] == "local");
  REQUIRE(run_process(client("a.db", {"put", "clips", "c1", R"({"title": "site walk"})", "--attachment", id})).exit_code == 0);
  ProcessResult outbox = run_process(client("a.db", {"outbox", "--json"}));
  CHECK(json::parse(outbox.out)[0]["attachments"] == json{id});

  // Killed (SIGKILL) once the server holds part of the file.
  int64_t held_at_kill = 0;
  {
    ChildProcess syncing(client("a.db", {"sync"}), false);
    for (int i = 0; i < 2000 && held_at_kill == 0; ++i) {
      CurlReply where = curl({"-X", "PUT", "-H", "Content-Range: bytes */" + std::to_string(bytes.size()),
                              base + "/v1/attachments/" + id});
      if (where.status == 308 && !where.header("Range").empty()) {
        held_at_kill = std::stoll(where.header("Range").substr(8)) + 1;
      } else if (where.status == 201) {
        held_at_kill = static_cast<int64_t>(bytes.size());
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    syncing.stop(SIGKILL);
  }
  CHECK(held_at_kill > 0);
  MESSAGE("the server held " << held_at_kill << " of " << bytes.size() << " bytes when the client was killed");
  // The killed client's last chunk may still be in the server's hands for a moment (its key is
  // claimed: 409 request_in_progress, transient): sync says so with exit 2, and the next one goes on.
  ProcessResult synced = run_process(client("a.db", {"sync", "--json"}));
  for (int retry = 0; retry < 5 && synced.exit_code == 2; ++retry) {
    MESSAGE("sync right after the kill: " << synced.out << run_process(client("a.db", {"status", "--json"})).out);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    synced = run_process(client("a.db", {"sync", "--json"}));
  }
  REQUIRE_MESSAGE(synced.exit_code == 0, std::string(synced.out + synced.err));
  CHECK(json::parse(synced.out)["applied"] == 1);
  json state = json::parse(run_process(client("a.db", {"attachment", id, "--json"})).out);
  CHECK(state["state"] == "uploaded");

  REQUIRE(run_process(client("b.db", {"sync"})).exit_code == 0);
  ProcessResult downloaded = run_process(client("b.db", {"download", id, "--out", dir.file("copy.bin"), "--json"}));
  REQUIRE_MESSAGE(downloaded.exit_code == 0, downloaded.err);
  CHECK(json::parse(downloaded.out)["state"] == "downloaded");
  CHECK(json::parse(downloaded.out)["content_type"] == "video/mp4");
  CHECK(read_file(dir.file("copy.bin")) == bytes);
  ProcessResult missing = run_process(client("b.db", {"attach", dir.file("nope.bin")}));
  CHECK(missing.exit_code != 0);
  CHECK(missing.err.find("nope.bin") != std::string::npos);
}

TEST_CASE("over local IPC an attachment goes up with its record and curl --unix-socket reads it back") {
  ScratchDir dir;
  std::string socket = dir.file("lms.sock");
  ChildProcess server({OFFSYNC_BIN, "serve", store_flag(), store_arg(dir.file("s.db")), "--unix", socket, "--attachments-dir",
                       dir.file("files")});
  const std::string bytes = pattern_bytes(2'600'000, 31);
  write_file(dir.file("scan.pdf"), bytes);
  auto client = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {OFFSYNC_BIN, "client", "--db", dir.file("c.db"), "--ipc-service", "unix:" + socket};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv);
  };
  ProcessResult attached = client({"attach", dir.file("scan.pdf"), "--content-type", "application/pdf"});
  REQUIRE_MESSAGE(attached.exit_code == 0, attached.err);
  std::string id = attached.out.substr(0, attached.out.find('\n'));
  REQUIRE(client({"put", "docs", "d1", R"({"title": "scan"})", "--attachment", id, "--urgent"}).exit_code == 0);
  ProcessResult synced = client({"sync"});
  REQUIRE_MESSAGE(synced.exit_code == 0, synced.out);
  CHECK(synced.out.find("attachments: uploaded 1, waiting 0") != std::string::npos);
  ProcessResult got = run_process({"/usr/bin/curl", "-s", "--unix-socket", socket, "-o", dir.file("back.pdf"),
                                   "http://localhost/v1/attachments/" + id});
  REQUIRE(got.exit_code == 0);
  CHECK(read_file(dir.file("back.pdf")) == bytes);
  CurlReply record = curl({"--unix-socket", socket, "http://localhost/v1/sync"});
  CHECK(json::parse(record.body)["changes"][0]["attachments"] == json{id});
}
