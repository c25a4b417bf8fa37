// The attachment endpoints: chunked uploads resumed by Content-Range, the checksum at the end,
// hostile chunks, downloads by range, quotas and collection, in the store and under a directory.
#include <doctest/doctest.h>

#include <fstream>
#include <thread>

#include <filesystem>

#include "engine/common/crypto.h"
#include "pg_support.h"
#include "server_support.h"
#include "support.h"

using nlohmann::json;
using namespace offsync;
using namespace offsync::test;

namespace {

std::string range_of(const HttpResponse& r) { return r.headers.get("Range").value_or(""); }

// Uploads bytes in chunks of `chunk`, checking every 308 on the way; returns the last answer.
HttpResponse upload(Server& server, const std::string& id, const std::string& bytes, size_t chunk) {
  HttpResponse r = server.handle(post_attachment(id, bytes));
  REQUIRE(r.status == 201);
  for (size_t at = 0; at < bytes.size(); at += chunk) {
    r = server.handle(put_chunk(id, at, bytes.substr(at, chunk), bytes.size()));
    if (at + chunk < bytes.size()) {
      REQUIRE(r.status == 308);
      CHECK(range_of(r) == "bytes=0-" + std::to_string(at + chunk - 1));
    }
  }
  return r;
}

HttpRequest get(const std::string& id, const std::string& range = "") {
  HttpRequest r{.method = "GET", .target = "/v1/attachments/" + id};
  if (!range.empty()) r.headers.add("Range", range);
  return r;
}

json note_with(const std::string& record, const std::string& attachment) {
  return {{"collection", "notes"}, {"record", record}, {"op", "upsert"}, {"fields", {{"title", "photo"}}},
          {"base", nullptr}, {"attachments", {attachment}}};
}

}  // namespace

TEST_CASE("a file uploaded in chunks is answered 308 with the bytes held, then 201, and downloads identical") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db")});
  std::string bytes = pattern_bytes(2'500'000);
  HttpResponse created = server->handle(post_attachment("photo1", bytes));
  REQUIRE(created.status == 201);
  CHECK(body_of(created)["upload_url"] == "/v1/attachments/photo1");
  CHECK(body_of(created)["chunk_size"] == 1 << 20);
  HttpResponse last = upload(*server, "photo1", bytes, 1 << 20);
  REQUIRE(last.status == 201);
  CHECK(body_of(last)["complete"] == true);

  HttpResponse whole = server->handle(get("photo1"));
  REQUIRE(whole.status == 200);
  CHECK(whole.body == bytes);
  CHECK(whole.headers.get("Content-Type") == "image/jpeg");
  CHECK(whole.headers.get("Offsync-Sha256") == hex(sha256(bytes)));

  HttpResponse part = server->handle(get("photo1", "bytes=1000000-1100000"));
  REQUIRE(part.status == 206);
  CHECK(part.headers.get("Content-Range") == "bytes 1000000-1100000/2500000");
  CHECK(part.body == bytes.substr(1'000'000, 100'001));
  HttpResponse tail = server->handle(get("photo1", "bytes=-10"));
  REQUIRE(tail.status == 206);
  CHECK(tail.body == bytes.substr(bytes.size() - 10));
  HttpResponse open_ended = server->handle(get("photo1", "bytes=2499990-"));
  CHECK(open_ended.body == bytes.substr(2'499'990));
  HttpResponse past = server->handle(get("photo1", "bytes=2500000-"));
  CHECK(past.status == 416);
  CHECK(past.headers.get("Content-Range") == "bytes */2500000");
}

TEST_CASE("an upload stopped half-way tells where to resume and finishes from there, even after a restart") {
  ScratchDir dir;
  std::string bytes = pattern_bytes(3 * 1000 + 17, 7);
  {
    auto server = open_server({.db_path = dir.file("s.db")});
    REQUIRE(server->handle(post_attachment("a1", bytes)).status == 201);
    HttpResponse none = server->handle(resume_query("a1", bytes.size()));
    CHECK(none.status == 308);
    CHECK(range_of(none).empty());  // nothing held yet: no Range header
    REQUIRE(server->handle(put_chunk("a1", 0, bytes.substr(0, 1000), bytes.size())).status == 308);
    REQUIRE(server->handle(put_chunk("a1", 1000, bytes.substr(1000, 1000), bytes.size())).status == 308);
  }
  auto server = open_server({.db_path = dir.file("s.db")});
  HttpResponse where = server->handle(resume_query("a1", bytes.size()));
  REQUIRE(where.status == 308);
  CHECK(range_of(where) == "bytes=0-1999");
  CHECK(body_of(where)["received"] == 2000);
  REQUIRE(server->handle(put_chunk("a1", 2000, bytes.substr(2000), bytes.size())).status == 201);
  CHECK(server->handle(resume_query("a1", bytes.size())).status == 201);
  CHECK(server->handle(get("a1")).body == bytes);
}

TEST_CASE("bytes whose SHA-256 is not the declared one are 422 checksum_mismatch and discarded") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db")});
  std::string bytes = pattern_bytes(5000);
  REQUIRE(server->handle(post_attachment("a1", bytes)).status == 201);
  std::string corrupt = bytes;
  corrupt[4321] ^= 1;
  REQUIRE(server->handle(put_chunk("a1", 0, corrupt.substr(0, 3000), bytes.size())).status == 308);
  HttpResponse r = server->handle(put_chunk("a1", 3000, corrupt.substr(3000), bytes.size()));
  CHECK(r.status == 422);
  CHECK(error_code(r) == "checksum_mismatch");
  HttpResponse where = server->handle(resume_query("a1", bytes.size()));
  CHECK(where.status == 308);
  CHECK(range_of(where).empty());
  CHECK(server->handle(get("a1")).status == 409);  // not downloadable while incomplete
  REQUIRE(server->handle(put_chunk("a1", 0, bytes, bytes.size())).status == 201);
  CHECK(server->handle(get("a1")).body == bytes);
}

TEST_CASE("hostile chunks get a clear 400 or 416 and what was stored stays intact") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db")});
  std::string bytes = pattern_bytes(4000, 3);
  REQUIRE(server->handle(post_attachment("a1", bytes)).status == 201);
  REQUIRE(server->handle(put_chunk("a1", 0, bytes.substr(0, 1500), bytes.size())).status == 308);

  auto with_range = [&](const std::string& content_range, const std::string& body) {
    HttpRequest r{.method = "PUT", .target = "/v1/attachments/a1"};
    r.headers.add("Content-Range", content_range);
    r.body = body;
    return server->handle(r);
  };
  SUBCASE("a gap") {
    HttpResponse r = server->handle(put_chunk("a1", 2000, bytes.substr(2000, 500), bytes.size()));
    CHECK(r.status == 416);
    CHECK(error_code(r) == "range_gap");
    CHECK(range_of(r) == "bytes=0-1499");
  }
  SUBCASE("an overlap that disagrees with the stored bytes") {
    std::string other = bytes.substr(1000, 1000);
    other[100] ^= 0x55;
    HttpResponse r = server->handle(put_chunk("a1", 1000, other, bytes.size()));
    CHECK(r.status == 400);
    CHECK(error_code(r) == "overlap_mismatch");
  }
  SUBCASE("a wrong total") {
    HttpResponse r = server->handle(put_chunk("a1", 1500, bytes.substr(1500, 500), bytes.size() + 1));
    CHECK(r.status == 400);
    CHECK(error_code(r) == "size_mismatch");
  }
  SUBCASE("bytes past the declared size") {
    HttpResponse r = with_range("bytes 1500-4500/4000", std::string(3001, 'x'));
    CHECK(r.status == 416);
    CHECK(error_code(r) == "range_past_end");
  }
  SUBCASE("a body longer or shorter than its range") {
    HttpResponse r = with_range("bytes 1500-1599/4000", std::string(99, 'x'));
    CHECK(r.status == 400);
    CHECK(error_code(r) == "length_mismatch");
  }
  SUBCASE("malformed Content-Range") {
    for (const char* bad : {"bytes 1500-1499/4000", "bytes=1500-1599/4000", "bytes 1500-/4000", "bytes -1599/4000",
                            "items 1500-1599/4000", "bytes 1500-1599/*", "bytes 1500-1599/4000 ", "bytes 0x10-0x20/4000",
                            "bytes 1500-1599999999999999999999/4000", ""}) {
      HttpResponse r = with_range(bad, std::string(100, 'x'));
      CHECK_MESSAGE(r.status == 400, bad);
      CHECK_MESSAGE(error_code(r) == "invalid_content_range", bad);
    }
    HttpRequest none{.method = "PUT", .target = "/v1/attachments/a1", .body = "x"};
    CHECK(error_code(server->handle(none)) == "invalid_content_range");
  }
  SUBCASE("a chunk for an upload nobody started") {
    HttpResponse r = server->handle(put_chunk("nobody", 0, "abc", 3));
    CHECK(r.status == 404);
    CHECK(error_code(r) == "attachment_not_found");
  }
  // Whatever was refused, the bytes held are the first 1500 and the upload completes intact.
  HttpResponse where = server->handle(resume_query("a1", bytes.size()));
  CHECK(range_of(where) == "bytes=0-1499");
  // A repeat of a chunk already held (its answer was lost) is accepted and changes nothing.
  CHECK(server->handle(put_chunk("a1", 500, bytes.substr(500, 1000), bytes.size())).status == 308);
  REQUIRE(server->handle(put_chunk("a1", 1000, bytes.substr(1000), bytes.size())).status == 201);
  CHECK(server->handle(get("a1")).body == bytes);
}

TEST_CASE("starting an upload: idempotent by id, refused with a reason when malformed, too large or over quota") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db"), .max_attachment_bytes = 10'000, .attachment_quota_bytes = 15'000});
  std::string bytes = pattern_bytes(8000);
  REQUIRE(server->handle(post_attachment("a1", bytes)).status == 201);
  REQUIRE(server->handle(put_chunk("a1", 0, bytes.substr(0, 100), bytes.size())).status == 308);
  HttpResponse again = server->handle(post_attachment("a1", bytes));
  CHECK(again.status == 201);
  CHECK(body_of(again)["received"] == 100);  // the same session, not a new one
  HttpResponse other = server->handle(post_attachment("a1", pattern_bytes(8000, 2)));
  CHECK(other.status == 409);
  CHECK(error_code(other) == "attachment_exists");
  HttpResponse big = server->handle(post_attachment("a2", pattern_bytes(10'001)));
  CHECK(big.status == 413);
  CHECK(error_code(big) == "attachment_too_large");
  HttpResponse full = server->handle(post_attachment("a3", pattern_bytes(7001)));
  CHECK(full.status == 507);
  CHECK(error_code(full) == "storage_full");
  CHECK(full.headers.get("Retry-After").has_value());
  CHECK(server->handle(post_attachment("a4", pattern_bytes(7000))).status == 201);

  HttpRequest no_key = post_attachment("a5", "x");
  no_key.headers.set("Idempotency-Key", "");
  CHECK(error_code(server->handle(no_key)) == "idempotency_key_missing");
  auto post = [&](const std::string& body) {
    HttpRequest r = post_attachment("x", "x");
    r.body = body;
    return error_code(server->handle(r));
  };
  CHECK(post(R"({"id": "../etc", "size": 1, "sha256": ")" + std::string(64, 'a') + "\"}") == "invalid_attachment_id");
  CHECK(post(R"({"id": "b", "size": -1, "sha256": ")" + std::string(64, 'a') + "\"}") == "invalid_size");
  CHECK(post(R"({"id": "b", "size": 1.5, "sha256": ")" + std::string(64, 'a') + "\"}") == "invalid_size");
  CHECK(post(R"({"id": "b", "size": 1, "sha256": "abc"})") == "invalid_sha256");
  CHECK(post(R"({"id": "b", "size": 1, "sha256": ")" + std::string(64, 'g') + "\"}") == "invalid_sha256");
  CHECK(post(R"({"id": "b", "size": 1, "sha256": ")" + std::string(64, 'a') + R"(", "content_type": "a\nb"})") ==
        "invalid_content_type");
  CHECK(post("[1,2]") == "invalid_request");
  CHECK(post("{") == "malformed_json");
  HttpRequest text = post_attachment("b", "x");
  text.headers.set("Content-Type", "text/plain");
  CHECK(server->handle(text).status == 415);
}

TEST_CASE("a mutation listing an attachment not uploaded is 422 attachment_missing, and the same key applies once it is") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db")});
  std::string key = new_key();
  std::string bytes = pattern_bytes(3000);
  HttpResponse early = server->handle(post_mutation(note_with("n1", "p1"), key));
  CHECK(early.status == 422);
  CHECK(error_code(early) == "attachment_missing");
  REQUIRE(server->handle(post_attachment("p1", bytes)).status == 201);
  REQUIRE(server->handle(put_chunk("p1", 0, bytes.substr(0, 1000), bytes.size())).status == 308);
  CHECK(error_code(server->handle(post_mutation(note_with("n1", "p1"), key))) == "attachment_missing");
  REQUIRE(server->handle(put_chunk("p1", 1000, bytes.substr(1000), bytes.size())).status == 201);
  HttpResponse applied = server->handle(post_mutation(note_with("n1", "p1"), key));
  REQUIRE(applied.status == 200);
  CHECK(body_of(applied)["record"]["attachments"] == json{"p1"});
  CHECK(server->handle(post_mutation(note_with("n1", "p1"), key)).headers.get("Idempotent-Replayed") == "true");
}

TEST_CASE("abandoned uploads and attachments no mutation listed are collected after their grace period") {
  ScratchDir dir;
  ManualClock clock;
  auto server = open_server({.db_path = dir.file("s.db"),
                             .attachment_session_ttl_ms = 3600'000,
                             .attachment_grace_ms = 2 * 3600'000,
                             .clock = &clock});
  std::string bytes = pattern_bytes(1000);
  REQUIRE(server->handle(post_attachment("abandoned", bytes)).status == 201);
  REQUIRE(server->handle(put_chunk("abandoned", 0, bytes.substr(0, 10), bytes.size())).status == 308);
  REQUIRE(upload(*server, "orphan", bytes, 600).status == 201);
  REQUIRE(upload(*server, "kept", bytes, 600).status == 201);
  REQUIRE(server->handle(post_mutation(note_with("n1", "kept"), new_key())).status == 200);
  clock.advance(90 * 60'000);  // past the session TTL, within the grace period
  CHECK(server->collect_attachments().value() == 1);
  CHECK(server->handle(resume_query("abandoned", bytes.size())).status == 404);
  CHECK(server->handle(get("orphan")).status == 200);
  clock.advance(60 * 60'000);  // past the grace period
  CHECK(server->collect_attachments().value() == 1);
  CHECK(server->handle(get("orphan")).status == 404);
  CHECK(server->handle(get("kept")).body == bytes);
}

TEST_CASE("with attachments_dir the bytes are files, durable and resumable the same way, and never store rows") {
  ScratchDir dir;
  std::string files = dir.file("blobs");
  std::string bytes = pattern_bytes(300'000, 9);
  {
    auto server = open_server({.db_path = dir.file("s.db"), .attachments_dir = files});
    REQUIRE(server->handle(post_attachment("f1", bytes)).status == 201);
    REQUIRE(server->handle(put_chunk("f1", 0, bytes.substr(0, 100'000), bytes.size())).status == 308);
  }
  auto server = open_server({.db_path = dir.file("s.db"), .attachments_dir = files});
  CHECK(range_of(server->handle(resume_query("f1", bytes.size()))) == "bytes=0-99999");
  REQUIRE(server->handle(put_chunk("f1", 100'000, bytes.substr(100'000), bytes.size())).status == 201);
  CHECK(server->handle(get("f1", "bytes=200000-")).body == bytes.substr(200'000));
  size_t file_count = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(files)) {
    if (e.is_regular_file()) {
      ++file_count;
      CHECK(e.file_size() == bytes.size());
    }
  }
  CHECK(file_count == 1);
  std::ofstream(dir.file("plain-file")) << "not a directory";
  auto opened = Server::open({.db_path = dir.file("t.db"), .attachments_dir = dir.file("plain-file")});
  CHECK(opened.status().code() == StatusCode::kInvalidArgument);  // a file, not a directory
}

TEST_CASE("one principal can neither read nor extend another's attachment") {
  ScratchDir dir;
  Authenticator by_token = [](const HttpRequest& r) -> std::optional<std::string> {
    auto auth = r.headers.get("Authorization");
    if (!auth || !auth->starts_with("Bearer ")) return std::nullopt;
    return auth->substr(7);
  };
  auto server = open_server({.db_path = dir.file("s.db"), .authenticate = by_token});
  std::string bytes = pattern_bytes(100);
  REQUIRE(server->handle(post_attachment("a1", bytes, "image/png", "alice")).status == 201);
  REQUIRE(server->handle(put_chunk("a1", 0, bytes, bytes.size(), "alice")).status == 201);
  HttpRequest as_bob = get("a1");
  as_bob.headers.add("Authorization", "Bearer bob");
  CHECK(server->handle(as_bob).status == 404);
  CHECK(server->handle(put_chunk("a1", 0, bytes, bytes.size(), "bob")).status == 404);
}

TEST_CASE("asking where to resume never makes a concurrent start of the same upload answer 409") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db")});
  std::string bytes = pattern_bytes(1000);
  // The probe is held inside the server (another process holds the store's write lock) ...
  auto locker = std::make_unique<StoreWriteLock>(dir.file("s.db"));
  HttpRequest probe{.method = "PUT", .target = "/v1/attachments/clip"};
  probe.headers.add("Content-Range", "bytes */1000");
  std::thread probing([&] { server->handle(probe); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  // ... while the client starts the upload: it waits its turn rather than hear 409.
  HttpResponse created;
  std::thread creating([&] { created = server->handle(post_attachment("clip", bytes)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  locker.reset();
  probing.join();
  creating.join();
  CHECK_MESSAGE(created.status == 201, created.body);
}
