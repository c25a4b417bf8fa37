// Attachments between a client and the server: uploads that gate their mutation, resumed after
// dropped connections and a killed client, the metered-network policy, lazy verified downloads,
// the server losing an attachment, quotas, collection and progress.
#include <doctest/doctest.h>

#include <atomic>
#include <map>

#include "engine/common/crypto.h"
#include "offsync/transport.h"
#include "server_support.h"
#include "support.h"
#include "sync_support.h"

using nlohmann::json;
using namespace offsync;
using namespace offsync::test;

namespace {

// Forwards to an in-process server; drops the connection on every `drop_every`-th request (half
// of the drops after the server handled the request, half before), and after `die_after` requests
// answers nothing at all (the process was killed). Logs the order of 201s and applied mutations.
class FlakyTransport final : public Transport {
 public:
  FlakyTransport(Server& server, int drop_every, int die_after = -1)
      : inner_(make_in_process_transport(server)), drop_every_(drop_every), die_after_(die_after) {}

  Result<HttpResponse> send(const HttpRequest& request) override {
    int n = ++count_;
    if (die_after_ >= 0 && n > die_after_) return Status::transient("killed (test)");
    bool drop = drop_every_ > 0 && n % drop_every_ == 0;
    if (drop && (n / drop_every_) % 2 == 0) return Status::transient("connection reset before sending (test)");
    if (n % 11 == 0 && request.method == "PUT") {
      // A busy server: the round goes on with other work, the file waits for its backoff.
      HttpResponse busy{.status = 503, .body = R"x({"error":{"code":"unavailable","message":"busy, test"}})x"};
      busy.headers.set("Content-Type", "application/json");
      return busy;
    }
    auto answer = inner_->send(request);
    if (drop) return Status::transient("connection reset after sending (test)");
    if (answer && answer->status == 422) ++refusals;
    if (request.method == "PUT") bytes_put += static_cast<int64_t>(request.body.size());
    if (answer && request.method == "PUT" && answer->status == 201) {
      events.push_back("stored " + request.path().substr(std::string("/v1/attachments/").size()));
    }
    if (answer && request.method == "POST" && request.path().starts_with("/v1/mutations") && answer->status == 200) {
      auto body = json::parse(answer->body);
      auto note = [&](const json& one) {
        if (one.contains("record") && one["record"].is_object()) {
          for (const auto& id : one["record"].value("attachments", json::array())) events.push_back("applied " + id.get<std::string>());
        }
      };
      if (body.contains("results")) {
        for (const auto& item : body["results"]) {
          if (item["status"] == 422) ++refusals;
          note(item["body"]);
        }
      } else {
        note(body);
      }
    }
    return answer;
  }

  std::vector<std::string> events;
  int refusals = 0;
  int64_t bytes_put = 0;  // chunk bytes that reached the server

 private:
  std::unique_ptr<Transport> inner_;
  int drop_every_, die_after_;
  std::atomic<int> count_{0};
};

HttpRequest get(const std::string& id, const std::string& range = "") {
  HttpRequest r{.method = "GET", .target = "/v1/attachments/" + id};
  if (!range.empty()) r.headers.add("Range", range);
  return r;
}

// Syncs until the outbox is empty (or `rounds` runs out).
void drain(Client& client, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    (void)client.sync_once();
    if (client.summary()->pending == 0) return;
  }
}

struct Progress final : SyncObserver {
  std::vector<AttachmentProgress> seen;
  void on_attachment_progress(const AttachmentProgress& p) override { seen.push_back(p); }
};

}  // namespace

TEST_CASE("18 photos of 4 MB go up through a connection that drops every few chunks and a client killed once") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db"), .durability = Durability::kNormal});
  const int kFiles = 18;
  std::vector<std::string> photos;
  for (int i = 0; i < kFiles; ++i) photos.push_back(pattern_bytes(4 << 20, static_cast<unsigned>(100 + i)));
  std::map<std::string, std::string> ids;  // attachment id -> record
  std::vector<std::string> events;
  int refusals = 0;
  int64_t bytes_put = 0;
  {
    auto transport = std::make_shared<FlakyTransport>(*server, 5, 40);  // dies after 40 requests
    auto client = open_client({.path = dir.file("c.db"), .durability = Durability::kNormal,
                               .sync = {.transport = transport, .background = false}});
    for (int i = 0; i < kFiles; ++i) {
      auto id = client->add_attachment(photos[i], "image/jpeg");
      REQUIRE(id.is_ok());
      std::string record = "inspection-" + std::to_string(i);
      REQUIRE(client->put("photos", record, {{"n", i}}, {.attachments = {*id}}).is_ok());
      ids[*id] = record;
    }
    for (int i = 0; i < 30; ++i) (void)client->sync_once();  // the last rounds reach nothing: killed
    CHECK(client->summary()->pending > 0);
    events = transport->events;
    refusals = transport->refusals;
    bytes_put = transport->bytes_put;
  }  // the client is gone with uploads half done
  auto transport = std::make_shared<FlakyTransport>(*server, 7);
  auto client = open_client({.path = dir.file("c.db"), .durability = Durability::kNormal,
                             .sync = {.transport = transport, .background = false}});
  drain(*client, 200);
  REQUIRE(client->summary()->pending == 0);
  events.insert(events.end(), transport->events.begin(), transport->events.end());
  refusals += transport->refusals;
  bytes_put += transport->bytes_put;
  // Uploads resumed where the server stood: what was sent twice is the chunks whose answers
  // were lost, not whole files again.
  CHECK(bytes_put < kFiles * (4 << 20) + 24 * (1 << 20));

  CHECK(refusals == 0);  // no mutation ever reached the server before its file
  for (int i = 0; i < kFiles; ++i) {
    std::string id;
    for (const auto& [a, record] : ids) {
      if (record == "inspection-" + std::to_string(i)) id = a;
    }
    // Byte-identical on the server, read back in ranges as a client would.
    for (int64_t at = 0; at < (4 << 20); at += 1 << 20) {
      auto part = server->handle(get(id, "bytes=" + std::to_string(at) + "-" + std::to_string(at + (1 << 20) - 1)));
      REQUIRE(part.status == 206);
      CHECK(part.body == photos[i].substr(static_cast<size_t>(at), 1 << 20));
    }
    auto stored_at = std::find(events.begin(), events.end(), "stored " + id);
    auto applied_at = std::find(events.begin(), events.end(), "applied " + id);
    CHECK(stored_at != events.end());
    // Its mutation was applied after its file was whole (or its answer was lost and replayed).
    CHECK(stored_at < applied_at);
    CHECK(client->attachment(id)->state == AttachmentState::kUploaded);
  }
  auto stats = server->stats();
  CHECK(stats->mutations_applied == kFiles);
}

TEST_CASE("on a metered network attachments wait, except those of an urgent write") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db")});
  auto transport = std::make_shared<ScriptedTransport>(server.get());
  auto client = open_client({.path = dir.file("c.db"), .sync = {.transport = transport, .background = false}});
  client->set_connectivity(Connectivity::kMetered);
  auto big = client->add_attachment(pattern_bytes(3 << 20, 1), "video/mp4");
  auto urgent = client->add_attachment(pattern_bytes(100'000, 2), "image/jpeg");
  REQUIRE(client->put("reports", "routine", {{"text", "weekly"}}, {.attachments = {*big}}).is_ok());
  REQUIRE(client->put("reports", "accident", {{"text", "now"}}, {.attachments = {*urgent}, .urgent = true}).is_ok());
  REQUIRE(client->put("reports", "plain", {{"text", "no file"}}).is_ok());
  auto report = client->sync_once();
  REQUIRE(report.is_ok());
  CHECK(report->attachments_uploaded == 1);
  CHECK(report->attachments_waiting == 1);
  CHECK(client->attachment(*urgent)->state == AttachmentState::kUploaded);
  CHECK(client->attachment(*big)->state == AttachmentState::kLocal);
  for (const auto& r : transport->sent()) {
    CHECK(r.target != "/v1/attachments/" + *big);
    CHECK(r.body.find("routine") == std::string::npos);  // its mutation waits for its file
  }
  auto outbox = client->outbox();
  REQUIRE(outbox->size() == 1);
  CHECK(outbox->front().record_id == "routine");  // the accident and the plain write went
  CHECK(server->handle(get(*urgent)).status == 200);

  client->set_connectivity(Connectivity::kOnline);
  report = client->sync_once();
  CHECK(report->attachments_uploaded == 1);
  CHECK(client->summary()->pending == 0);
  CHECK(server->handle(get(*big, "bytes=0-9")).status == 206);
}

TEST_CASE("another device downloads an attachment lazily, resuming by range, and gets it only once verified") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db")});
  std::string photo = pattern_bytes(2'500'000, 5);
  auto up = open_client({.path = dir.file("a.db"),
                         .sync = {.transport = make_in_process_transport(*server), .background = false}});
  auto id = up->add_attachment(photo, "image/png");
  REQUIRE(up->put("notes", "n1", {{"title", "with photo"}}, {.attachments = {*id}}).is_ok());
  REQUIRE(up->sync_once()->applied == 1);

  auto transport = std::make_shared<ScriptedTransport>(server.get());
  auto down = open_client({.path = dir.file("b.db"),
                           .sync = {.transport = transport, .background = false, .attachment_chunk_bytes = 1 << 20}});
  REQUIRE(down->sync_once()->pulled == 1);
  CHECK(down->attachments_of("notes", "n1").value() == std::vector<std::string>{*id});
  CHECK(down->read_attachment(*id, 0, 10).status().code() == StatusCode::kNotFound);  // nothing fetched yet

  int gets = 0;
  bool corrupt = true;
  transport->set_script([&](const HttpRequest& r) -> std::optional<Result<HttpResponse>> {
    if (r.method != "GET" || !r.path().starts_with("/v1/attachments/")) return std::nullopt;
    if (++gets == 2) return Result<HttpResponse>(Status::transient("connection reset (test)"));
    HttpResponse a = server->handle(r);
    if (corrupt && a.status == 206 && a.headers.get("Content-Range")->starts_with("bytes 2097152-")) a.body[7] ^= 1;
    return a;
  });
  auto progress = std::make_shared<Progress>();
  down->add_observer(progress);
  Status first = down->download_attachment(*id);
  CHECK(first.code() == StatusCode::kTransient);  // the second GET dropped
  CHECK(down->attachment(*id)->local_bytes == 1 << 20);
  Status second = down->download_attachment(*id);  // resumes, and the last chunk is damaged on the way
  CHECK(second.code() == StatusCode::kCorrupt);
  CHECK(down->read_attachment(*id, 0, 10).status().code() == StatusCode::kNotFound);
  CHECK(down->attachment(*id)->local_bytes == 0);  // discarded
  corrupt = false;
  REQUIRE(down->download_attachment(*id).is_ok());
  auto info = down->attachment(*id);
  CHECK(info->state == AttachmentState::kDownloaded);
  CHECK(info->content_type == "image/png");
  CHECK(info->sha256 == hex(sha256(photo)));
  CHECK(down->read_attachment(*id, 0, 3'000'000).value() == photo);
  CHECK(down->read_attachment(*id, 1'000'000, 5).value() == photo.substr(1'000'000, 5));
  REQUIRE(!progress->seen.empty());
  CHECK(progress->seen.back().complete);
  CHECK(progress->seen.back().done == 2'500'000);
  CHECK_FALSE(progress->seen.back().upload);
  std::string out = dir.file("out.png");
  REQUIRE(down->export_attachment(*id, out).is_ok());
  CHECK(std::filesystem::file_size(out) == photo.size());
  CHECK(down->download_attachment("nosuchattachment").code() == StatusCode::kNotFound);
}

TEST_CASE("a server that lost an uploaded attachment gets it again before the mutation is applied") {
  ScratchDir dir;
  ManualClock clock;
  auto server = open_server({.db_path = dir.file("s.db"), .attachment_grace_ms = 60'000, .clock = &clock});
  auto transport = std::make_shared<ScriptedTransport>(server.get());
  auto client = open_client({.path = dir.file("c.db"), .clock = &clock,
                             .sync = {.transport = transport, .background = false, .backoff_base_ms = 1}});
  std::string bytes = pattern_bytes(50'000, 4);
  auto id = client->add_attachment(bytes, "image/jpeg");
  REQUIRE(client->put("notes", "n1", {{"a", 1}}, {.attachments = {*id}}).is_ok());
  // The upload goes through; the mutation's request never leaves.
  transport->set_script([](const HttpRequest& r) -> std::optional<Result<HttpResponse>> {
    if (r.path().starts_with("/v1/mutations")) return Result<HttpResponse>(Status::transient("unreachable (test)"));
    return std::nullopt;
  });
  (void)client->sync_once();
  REQUIRE(client->attachment(*id)->state == AttachmentState::kUploaded);
  clock.advance(120'000);
  REQUIRE(server->collect_attachments().value() == 1);  // never referenced: collected
  transport->set_script(nullptr);
  drain(*client, 5);
  CHECK(client->summary()->pending == 0);
  CHECK(client->summary()->rejected == 0);
  CHECK(server->handle(get(*id)).body == bytes);
}

TEST_CASE("a server that refuses an attachment for good rejects the mutations listing it, with its reason") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db"), .max_attachment_bytes = 1000});
  auto client = open_client({.path = dir.file("c.db"),
                             .sync = {.transport = make_in_process_transport(*server), .background = false}});
  auto id = client->add_attachment(pattern_bytes(5000), "image/jpeg");
  auto m = client->put("notes", "n1", {{"a", 1}}, {.attachments = {*id}});
  REQUIRE(client->put("notes", "n2", {{"b", 2}}).is_ok());
  auto report = client->sync_once();
  CHECK(report->rejected == 1);
  CHECK(report->applied == 1);
  auto rejected = client->mutation(*m);
  CHECK(rejected->state == MutationState::kRejected);
  CHECK(rejected->last_error.find("at most 1000 bytes") != std::string::npos);
}

TEST_CASE("attachments: a quota refuses new ones, sign-out and collection leave no bytes behind, progress is told") {
  ScratchDir dir;
  ManualClock clock;
  auto server = open_server({.db_path = dir.file("s.db")});
  auto client = open_client({.path = dir.file("c.db"), .clock = &clock, .max_attachment_bytes = 3 << 20,
                             .attachment_grace_ms = 60'000,
                             .sync = {.transport = make_in_process_transport(*server), .background = false,
                                      .attachment_chunk_bytes = 256 << 10}});
  auto progress = std::make_shared<Progress>();
  client->add_observer(progress);
  auto a = client->add_attachment(pattern_bytes(2 << 20), "image/jpeg");
  REQUIRE(a.is_ok());
  auto over = client->add_attachment(pattern_bytes(2 << 20, 2), "image/jpeg");
  CHECK(over.status().code() == StatusCode::kResourceExhausted);
  CHECK(client->add_attachment(pattern_bytes(1 << 20, 3), "image/jpeg").is_ok());  // exactly at the quota
  CHECK(client->add_attachment("x", "bad\ntype").status().code() == StatusCode::kInvalidArgument);
  CHECK(client->put("notes", "n", {{"a", 1}}, {.attachments = {"../etc/passwd"}}).status().code() ==
        StatusCode::kInvalidArgument);

  auto m = client->put("notes", "n1", {{"a", 1}}, {.attachments = {*a}});
  REQUIRE(client->sync_once()->applied == 1);
  std::vector<int64_t> sent;
  for (const auto& p : progress->seen) {
    if (p.id == *a) sent.push_back(p.done);
  }
  CHECK(sent == std::vector<int64_t>{256 << 10, 512 << 10, 768 << 10, 1 << 20, 1280 << 10, 1536 << 10, 1792 << 10, 2 << 20});
  CHECK(progress->seen.back().complete);

  // The second attachment was never listed by a write: collected after the grace period; the
  // first stays while its record lists it.
  CHECK(client->collect_attachments().value() == 0);
  clock.advance(120'000);
  CHECK(client->collect_attachments().value() == 1);
  CHECK(client->attachment(*a).is_ok());
  REQUIRE(client->put("notes", "n1", {{"a", 2}}, {.attachments = {}}).is_ok());
  REQUIRE(client->patch("notes", "n1", {{"a", 3}}).is_ok());
  CHECK(client->read_attachment(*a, 0, 4).value() == pattern_bytes(4));
  REQUIRE(client->sign_out().is_ok());
  CHECK(client->attachment(*a).status().code() == StatusCode::kNotFound);
}

TEST_CASE("a file the server cannot take yet holds back its mutation and the record's later ones, not other records") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db")});
  auto transport = std::make_shared<ScriptedTransport>(server.get());
  auto client = open_client({.path = dir.file("c.db"), .sync = {.transport = transport, .background = false}});
  auto id = client->add_attachment(pattern_bytes(10'000), "image/jpeg");
  REQUIRE(client->put("notes", "held", {{"v", 1}}, {.attachments = {*id}}).is_ok());
  REQUIRE(client->patch("notes", "held", {{"v", 2}}).is_ok());
  REQUIRE(client->put("notes", "free", {{"v", 1}}).is_ok());
  bool busy = true;
  transport->set_script([&](const HttpRequest& r) -> std::optional<Result<HttpResponse>> {
    if (!busy || r.method != "PUT") return std::nullopt;
    HttpResponse a{.status = 503, .body = R"x({"error":{"code":"unavailable","message":"busy, test"}})x"};
    a.headers.set("Content-Type", "application/json");
    return a;
  });
  auto report = client->sync_once();
  REQUIRE(report.is_ok());
  CHECK(report->applied == 1);
  CHECK(report->attachments_waiting == 1);
  for (const auto& r : transport->sent()) CHECK(r.body.find("held") == std::string::npos);
  CHECK(client->attachment(*id)->last_error.find("busy, test") != std::string::npos);
  CHECK(client->sync_status().next_attempt_at_ms > 0);  // the file's backoff is a timer of the worker
  busy = false;
  report = client->sync_once();
  CHECK(report->applied == 1);  // the patch folded into the unsent upsert, which keeps its file
  CHECK(client->summary()->pending == 0);
  CHECK(client->get("notes", "held")->fields == json{{"v", 2}});
}

TEST_CASE("a hostile server cannot make the uploader or the downloader loop, lie about progress, or hand out bytes") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db")});
  auto transport = std::make_shared<ScriptedTransport>(server.get());
  auto client = open_client({.path = dir.file("c.db"), .sync = {.transport = transport, .background = false}});
  auto id = client->add_attachment(pattern_bytes(3 << 20, 8), "image/jpeg");
  REQUIRE(client->put("notes", "n1", {{"t", 1}}, {.attachments = {*id}}).is_ok());
  auto answer = [](int status, std::string body, std::vector<std::pair<std::string, std::string>> headers = {}) {
    HttpResponse a{.status = status, .body = std::move(body)};
    for (auto& [k, v] : headers) a.headers.set(k, v);
    return std::optional<Result<HttpResponse>>(a);
  };
  using Script = std::function<std::optional<Result<HttpResponse>>(const HttpRequest&)>;
  std::vector<std::pair<std::string, Script>> hostile = {
      {"a captive portal's HTML page with 200",
       [&](const HttpRequest&) { return answer(200, "<html>Sign in to the Wi-Fi</html>", {{"Content-Type", "text/html"}}); }},
      {"a 308 claiming more bytes than the file has",
       [&](const HttpRequest& r) -> std::optional<Result<HttpResponse>> {
         if (r.method != "PUT") return std::nullopt;
         return answer(308, "{}", {{"Range", "bytes=0-999999999"}});
       }},
      {"a 308 that never takes a byte",
       [&](const HttpRequest& r) -> std::optional<Result<HttpResponse>> {
         if (r.method != "PUT") return std::nullopt;
         return answer(308, "{}");
       }},
      {"a 201 to the chunks of an upload it never finished",
       [&](const HttpRequest& r) -> std::optional<Result<HttpResponse>> {
         if (r.method != "PUT" || r.headers.get("Content-Range")->find('*') != std::string::npos) return std::nullopt;
         return answer(201, "{}");
       }},
  };
  for (auto& [what, script] : hostile) {
    CAPTURE(what);
    transport->clear();
    transport->set_script(script);
    auto report = client->sync_once();
    REQUIRE(report.is_ok());
    CHECK(transport->sent().size() <= 8);  // a few requests, never a loop
    if (what.find("201 to the chunks") == std::string::npos) {
      for (const auto& r : transport->sent()) CHECK(!r.path().starts_with("/v1/mutations"));
      CHECK(client->attachment(*id)->state == AttachmentState::kLocal);
      CHECK(report->transient_left >= 1);
    } else {
      // Believed, the mutation went and the server refused it (422 attachment_missing): it stays
      // pending, not rejected, and its file is to be uploaded again.
      CHECK(client->summary()->pending == 1);
      CHECK(client->summary()->rejected == 0);
      CHECK(client->attachment(*id)->state == AttachmentState::kLocal);
    }
  }
  // The 201 lie marked the file uploaded: the server's refusal of the mutation brings it back.
  transport->set_script(nullptr);
  for (int i = 0; i < 4 && client->summary()->pending > 0; ++i) (void)client->sync_once();
  CHECK(client->summary()->pending == 0);
  CHECK(server->handle(HttpRequest{.method = "GET", .target = "/v1/attachments/" + *id}).body == pattern_bytes(3 << 20, 8));

  // Downloads: answers that do not continue the bytes held, or carry no checksum, store nothing.
  auto down_transport = std::make_shared<ScriptedTransport>(server.get());
  auto down = open_client({.path = dir.file("d.db"), .sync = {.transport = down_transport, .background = false}});
  REQUIRE(down->sync_once().is_ok());
  for (Script script : std::vector<Script>{
           [&](const HttpRequest&) { return answer(200, "<html>portal</html>", {{"Content-Type", "text/html"}}); },
           [&](const HttpRequest&) {
             return answer(206, "abc", {{"Content-Range", "bytes 0-9/100"}, {"Offsync-Sha256", std::string(64, 'a')}});
           },
           [&](const HttpRequest&) {
             return answer(206, "abc", {{"Content-Range", "bytes 5-7/100"}, {"Offsync-Sha256", std::string(64, 'a')}});
           }}) {
    down_transport->set_script(script);
    CHECK(down->download_attachment(*id).code() == StatusCode::kTransient);
    CHECK(down->attachment(*id)->local_bytes == 0);
    CHECK(down->read_attachment(*id, 0, 1).status().code() == StatusCode::kNotFound);
  }
  down_transport->set_script(nullptr);
  REQUIRE(down->download_attachment(*id).is_ok());
  CHECK(down->read_attachment(*id, 0, 4 << 20).value() == pattern_bytes(3 << 20, 8));
}

TEST_CASE("chunks larger than the server takes are halved after a 413, not a reason to reject the write") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db"), .max_body_bytes = 300'000});
  auto client = open_client({.path = dir.file("c.db"),
                             .sync = {.transport = make_in_process_transport(*server), .background = false,
                                      .attachment_chunk_bytes = 1 << 20}});
  std::string bytes = pattern_bytes(1'000'000, 3);
  auto id = client->add_attachment(bytes, "image/jpeg");
  REQUIRE(client->put("notes", "n1", {{"t", 1}}, {.attachments = {*id}}).is_ok());
  auto report = client->sync_once();
  CHECK(report->applied == 1);
  CHECK(report->rejected == 0);
  HttpRequest r{.method = "GET", .target = "/v1/attachments/" + *id};
  r.headers.add("Range", "bytes=0-");
  CHECK(server->handle(r).body.size() == 300'000);  // one answer holds at most the body limit
}
