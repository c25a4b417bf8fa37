// `offsync demo`: the whole story on the embedded defaults (SQLite stores, local IPC), told step by
// step in under a minute:
//   a cloud server (this process, loopback); an LMS provider app started on demand over IPC (a
//   real `offsync serve --unix ... --upstream` process, from the activation registry) that relays
//   to the cloud; a math app (this process) that writes through it; a web device on the cloud.
//   The device goes offline; the math app writes three notes and a photo and edits a lesson title
//   the web also edited; its photo upload is cut and resumes; the network comes back; the outbox
//   drains, the conflict is escalated and resolved, a refused write shows its reason; then an
//   evidence table (outbox depths, one result per key, rejected reasons, metrics).
#include "cli/demo.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "cli/output.h"
#include "offsync/client.h"
#include "offsync/ipc.h"
#include "offsync/listener.h"
#include "offsync/server.h"
#include "offsync/transport.h"

namespace offsync::cli {
namespace {

namespace fs = std::filesystem;

// Where the story goes: stdout, or stderr with --json (stdout then carries the evidence alone).
std::ostream* story = &std::cout;

void say(const std::string& line) { *story << line << std::endl; }

// Waits for done(), printing a dot every half second; false after the timeout.
bool waiting(const std::string& what, const std::function<bool()>& done, int timeout_s = 30) {
  *story << "  " << what << std::flush;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int ticks = 0;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) {
      *story << " gave up after " << timeout_s << " s" << std::endl;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (++ticks % 10 == 0) *story << '.' << std::flush;
  }
  *story << " done" << std::endl;
  return true;
}

// The math app's way to the provider: the IPC transport, with one cut planted in the photo's
// upload (the connection drops after the first chunk), as on a phone leaving a Wi-Fi.
class CuttingTransport final : public Transport {
 public:
  explicit CuttingTransport(std::unique_ptr<Transport> inner) : inner_(std::move(inner)) {}
  Result<HttpResponse> send(const HttpRequest& r) override {
    bool chunk = r.method == "PUT" && r.target.rfind("/v1/attachments/", 0) == 0 && !r.body.empty();
    if (chunk && ++chunks_ == 2 && !cut_) {
      cut_ = true;
      return Status::transient("the connection dropped (planted by the demo)");
    }
    auto answer = inner_->send(r);
    // After the cut, the client asks where to resume (Content-Range: bytes */N): the provider's Range.
    if (cut_ && resumed_from_ < 0 && chunk && answer) {
      auto range = r.headers.get("Content-Range");
      if (range && range->rfind("bytes ", 0) == 0) resumed_from_ = std::stoll(range->substr(6));
    }
    return answer;
  }
  bool cut() const { return cut_; }
  // Where the first chunk after the cut started: the bytes the provider had kept.
  int64_t resumed_from() const { return resumed_from_; }

 private:
  std::unique_ptr<Transport> inner_;
  int chunks_ = 0;
  bool cut_ = false;
  int64_t resumed_from_ = -1;
};

// The cloud: a server in this process, on loopback, that can lose its network and get it back on
// the same port.
struct Cloud {
  std::unique_ptr<Server> server;
  std::unique_ptr<Listener> listener;
  std::thread thread;
  uint16_t port = 0;
  Status up() {
    auto l = Listener::listen_tcp(*server, "127.0.0.1", port);
    if (!l) return l.status();
    listener = std::move(*l);
    port = listener->port();
    thread = std::thread([this] { listener->run(); });
    return Status::ok();
  }
  void down() {
    if (!listener) return;
    listener->stop();
    thread.join();
    listener.reset();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
  ~Cloud() { down(); }
};

// The sample lines of a metric in a Prometheus text.
std::vector<std::string> metric_lines(const std::string& text, const std::string& name) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(at, end - at);
    if (line.rfind(name, 0) == 0) out.push_back(line);
    at = end + 1;
  }
  return out;
}

constexpr const char* kSchema =
    R"({"collections": {"notes": {"required": ["title"], "fields": {"title": {"type": "string", "merge": "escalate"}}},
                        "photos": {}}})";

}  // namespace

int run_demo(const std::string& dir_arg, bool json) {
  if (json) story = &std::cerr;
  fs::path dir = fs::absolute(dir_arg);
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir / "services");
  std::ofstream(dir / "schema.json") << kSchema;
  auto started = std::chrono::steady_clock::now();

  say("== 1. A cloud server starts (this process, loopback), with a schema: notes need a title, and");
  say("      two edits of the same title escalate to the user instead of the last one winning.");
  Cloud cloud;
  auto schema = Schema::parse(kSchema);
  if (!schema) return fail(schema.status());
  auto server = Server::open({.db_path = (dir / "cloud.db").string(), .durability = Durability::kNormal, .schema = *schema});
  if (!server) return fail(server.status());
  cloud.server = std::move(*server);
  if (Status s = cloud.up(); !s) return fail(s);
  say("  cloud: " + cloud.url());

  say("== 2. The LMS provider app is registered for on-demand start over IPC (like an Android bound service).");
  std::string self = fs::read_symlink("/proc/self/exe").string();
  std::string socket = (dir / "lms.sock").string();
  std::ofstream(dir / "services" / "org.example.lms.service")
      << "[Service]\nName=org.example.lms\nSocket=" << socket << "\nExec=" << self << " serve --unix " << socket
      << " --db " << (dir / "lms.db").string() << " --schema " << (dir / "schema.json").string() << " --upstream "
      << cloud.url() << " --idle-exit 3\n";
  say("  " + (dir / "services" / "org.example.lms.service").string() + ": nothing runs yet");

  auto ipc = make_ipc_transport({.service = "org.example.lms", .services_dir = (dir / "services").string()});
  if (!ipc) return fail(ipc.status());
  auto cutting = std::make_shared<CuttingTransport>(std::move(*ipc));
  ClientOptions math_options{.path = (dir / "math.db").string(), .durability = Durability::kNormal};
  math_options.sync.transport = cutting;
  math_options.sync.background = false;  // the demo drives each round, to tell it
  math_options.sync.app_version = "2.1.0";
  math_options.sync.attachment_chunk_bytes = 1 << 20;
  auto math_opened = Client::open(math_options);
  if (!math_opened) return fail(math_opened.status());
  Client& math = **math_opened;
  auto web_transport = make_curl_transport({.base_url = cloud.url()});
  if (!web_transport) return fail(web_transport.status());
  ClientOptions web_options{.path = (dir / "web.db").string(), .durability = Durability::kNormal};
  web_options.sync.transport = std::shared_ptr<Transport>(std::move(*web_transport));
  web_options.sync.background = false;
  auto web_opened = Client::open(web_options);
  if (!web_opened) return fail(web_opened.status());
  Client& web = **web_opened;

  say("== 3. Online: the math app writes a lesson note; its first request starts the provider.");
  if (auto w = math.put("notes", "lesson-3", {{"title", "Lesson 3: fractions"}}); !w) return fail(w.status());
  auto r = math.sync_once();
  if (!r) return fail(r.status());
  say("  math app: sent " + std::to_string(r->sent) + ", applied " + std::to_string(r->applied) +
      " by the provider (" + socket + " now listens)");
  if (!waiting("the provider forwards it to the cloud", [&] { return cloud.server->stats()->mutations_applied >= 1; })) return 1;
  if (auto p = web.sync_once(); !p) return fail(p.status());
  say("  web: sees notes/lesson-3 \"" + web.get("notes", "lesson-3")->fields["title"].get<std::string>() + "\"");

  say("== 4. On the web, a teacher renames the lesson; then the device loses its network.");
  if (auto w = web.patch("notes", "lesson-3", {{"title", "Lesson 3: fractions and decimals"}}); !w) return fail(w.status());
  if (auto p = web.sync_once(); !p) return fail(p.status());
  cloud.down();
  say("  the cloud is unreachable from the device now");

  say("== 5. Offline, the math app writes three notes, a photo, a title edit and a note without title.");
  for (int i = 1; i <= 3; ++i) {
    if (auto w = math.put("notes", "note-" + std::to_string(i), {{"title", "Exercise " + std::to_string(i)}, {"lesson", "lesson-3"}}); !w) {
      return fail(w.status());
    }
  }
  std::string photo_bytes(2'500'000, '\0');
  for (size_t i = 0; i < photo_bytes.size(); ++i) photo_bytes[i] = static_cast<char>((i * 31 + i / 977) & 0xff);
  auto photo = math.add_attachment(photo_bytes, "image/jpeg");
  if (!photo) return fail(photo.status());
  WriteOptions with_photo;
  with_photo.attachments = {*photo};
  if (auto w = math.put("photos", "board", {{"caption", "the board after class"}}, with_photo); !w) return fail(w.status());
  if (auto w = math.patch("notes", "lesson-3", {{"title", "Lesson 3: fractions (my summary)"}}); !w) return fail(w.status());
  if (auto w = math.put("notes", "scratch", {{"text", "no title here"}}); !w) return fail(w.status());
  say("  the app's outbox: " + std::to_string(math.outbox()->size()) + " mutation(s), photo " +
      std::to_string(photo_bytes.size()) + " bytes waiting to upload");

  say("== 6. The provider is on this device: the app syncs with it though the cloud is away.");
  r = math.sync_once();
  if (!r) return fail(r.status());
  say("  round 1: the photo's upload is cut after its first chunk (a dropped connection); the writes that");
  say("           list it wait for it. applied " + std::to_string(r->applied) + ", conflicts " +
      std::to_string(r->conflicts) + ", rejected " + std::to_string(r->rejected));
  r = math.sync_once();
  if (!r) return fail(r.status());
  say("  round 2: the upload resumes at byte " + std::to_string(cutting->resumed_from()) + " (what the provider kept), " +
      std::to_string(math.attachment(*photo)->sent_bytes) + " of " + std::to_string(photo_bytes.size()) +
      " bytes now; applied " + std::to_string(r->applied) + ", conflicts " + std::to_string(r->conflicts) +
      ", rejected " + std::to_string(r->rejected));

  std::vector<std::string> rejected_reasons;
  for (const Mutation& m : *math.outbox()) {
    if (m.state == MutationState::kRejected) {
      rejected_reasons.push_back(m.collection + "/" + m.record_id + ": " + std::to_string(m.http_status) + " " + m.error_code +
                                 " (" + m.last_error + ")");
      say("  refused: " + rejected_reasons.back() + "; the user discards it");
      if (Status s = math.discard(m.id); !s) return fail(s);
    }
  }

  say("== 7. The network comes back: the provider forwards what it holds to the cloud.");
  if (Status s = cloud.up(); !s) return fail(s);
  // The lesson, the teacher's rename, three notes and the photo's record: 6 on the cloud. The title
  // edit conflicts, at the provider (when it had heard the rename already) or at the cloud (then
  // the provider passes the 409 on): either way it reaches the app.
  bool conflicted = false;
  if (!waiting("the provider drains what it held to the cloud", [&] {
        (void)math.sync_once();  // the app's pull also wakes the provider's rounds with the cloud
        for (const Mutation& m : *math.outbox()) conflicted = conflicted || m.state == MutationState::kConflict;
        return cloud.server->stats()->mutations_applied >= 6 && conflicted;
      })) {
    return 1;
  }
  for (const Mutation& m : *math.outbox()) {
    if (m.state != MutationState::kConflict) continue;
    say("  conflict escalated on notes/" + m.record_id + ": \"" +
        m.server_record["fields"]["title"].get<std::string>() + "\" against the app's \"" +
        m.payload["title"].get<std::string>() + "\"");
    std::string merged = "Lesson 3: fractions and decimals (my summary)";
    nlohmann::json edited = m.server_record["fields"];
    edited["title"] = merged;
    if (Status s = math.resolve(m.id, Resolution::kEdited, edited); !s) return fail(s);
    say("  the user merges both: \"" + merged + "\"");
  }
  if (!waiting("the resolution reaches the cloud", [&] {
        (void)math.sync_once();
        (void)web.sync_once();
        auto lesson = web.get("notes", "lesson-3");
        return math.outbox()->empty() && lesson && lesson->fields["title"] == "Lesson 3: fractions and decimals (my summary)";
      })) {
    return 1;
  }

  say("== 8. On the web, everything arrived once; the photo downloads and verifies.");
  if (Status s = web.download_attachment(*photo); !s) return fail(s);
  auto copy = web.read_attachment(*photo, 0, static_cast<int64_t>(photo_bytes.size()) + 1);
  bool same_photo = copy && *copy == photo_bytes;
  say(std::string("  photo: ") + (same_photo ? "identical" : "DIFFERENT") + ", SHA-256 " + web.attachment(*photo)->sha256.substr(0, 16) + "...");

  auto stats = cloud.server->stats();
  std::string cloud_metrics = cloud.server->handle(HttpRequest{.method = "GET", .target = "/metrics"}).body;
  auto notes = web.list("notes");
  int64_t math_outbox = static_cast<int64_t>(math.outbox()->size());
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  say("");
  say("== Evidence");
  auto row = [](const std::string& what, const std::string& value) {
    std::string padded = what;
    padded.resize(46, ' ');
    say("  " + padded + value);
  };
  row("math app outbox depth", std::to_string(math_outbox));
  row("records on the web device (notes)", std::to_string(notes ? notes->size() : 0));
  row("cloud: mutations applied", std::to_string(stats->mutations_applied) + " (lesson, rename, 3 notes, photo, merge)");
  int64_t refused_keys = stats->idempotency_keys - stats->mutations_applied;
  row("cloud: keys, one stored result each",
      std::to_string(stats->idempotency_keys) +
          (refused_keys > 0 ? " (" + std::to_string(refused_keys) + " answered 409: a conflict's answer is stored under its key too)"
                            : " (one per applied mutation: the conflict was answered by the provider)"));
  row("cloud: retries answered by replay", std::to_string(stats->replays) + " (each key applied once)");
  row("conflicts escalated and resolved", conflicted ? "1 (notes/lesson-3 title)" : "0");
  row("photo upload cut and resumed", std::string(cutting->cut() ? "yes" : "no") + ", at byte " +
                                          std::to_string(cutting->resumed_from()) + "; downloaded " +
                                          (same_photo ? "identical" : "different"));
  for (const auto& reason : rejected_reasons) row("rejected", reason);
  for (const char* name : {"offsync_mutations_applied_total", "offsync_idempotent_replays_total", "offsync_client_outbox_pending"}) {
    for (const auto& line : metric_lines(cloud_metrics, name)) {
      if (line.find("_bucket") == std::string::npos) row("cloud metric", line);
    }
  }
  char took[32];
  std::snprintf(took, sizeof took, "%.1f s", seconds);
  row("demo time", took);
  bool ok = math_outbox == 0 && conflicted && cutting->cut() && cutting->resumed_from() > 0 && same_photo &&
            rejected_reasons.size() == 1 && stats->mutations_applied == 7;
  say(ok ? "The story held." : "Something in the story did not hold (see above).");
  if (json) {
    nlohmann::json evidence = {{"held", ok},
                               {"math_outbox_depth", math_outbox},
                               {"web_notes", notes ? notes->size() : 0},
                               {"cloud_mutations_applied", stats->mutations_applied},
                               {"cloud_idempotency_keys", stats->idempotency_keys},
                               {"cloud_replays", stats->replays},
                               {"conflict_escalated_and_resolved", conflicted},
                               {"upload_cut_and_resumed_at", cutting->resumed_from()},
                               {"photo_identical", same_photo},
                               {"rejected", rejected_reasons},
                               {"seconds", seconds}};
    std::cout << evidence.dump() << std::endl;
  }
  return ok ? 0 : 1;
}

}  // namespace offsync::cli
