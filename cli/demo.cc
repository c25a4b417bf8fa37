// `offsync demo`: the offline story on the embedded defaults, told step by step.
//
// Writes with no network, the outbox growing, a real process restart with the outbox intact, then
// the network back: a server on loopback, the outbox drained once, a second device pulling by
// cursor and its edit coming back.
#include "cli/demo.h"

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <thread>

#include "cli/output.h"
#include "offsync/client.h"
#include "offsync/server.h"
#include "offsync/transport.h"
#include "offsync/listener.h"

namespace offsync::cli {
namespace {

void say(const std::string& line) { std::cout << line << std::endl; }

void show_outbox(Client& client) {
  auto mutations = client.outbox();
  if (!mutations) {
    say("  (outbox unreadable: " + mutations.status().to_string() + ")");
    return;
  }
  say("  outbox: " + std::to_string(mutations->size()) + " mutation(s)");
  for (const Mutation& m : *mutations) say("    " + describe(m));
}

int first_run(const std::string& db) {
  say("== 1. The app starts with the network off. Store: " + db);
  auto opened = Client::open(ClientOptions{.path = db});
  if (!opened) return fail(opened.status());
  Client& client = **opened;

  say("== 2. The user writes; every write returns at once, after its local commit.");
  std::vector<std::string> notes;
  for (const char* title : {"Buy milk", "Call the plumber", "Inspect unit 4B"}) {
    auto created = client.create("notes", {{"title", title}, {"done", false}});
    if (!created) return fail(created.status());
    notes.push_back(created->record_id);
    say("  created notes/" + created->record_id + " \"" + title + "\" -> mutation " + created->mutation_id);
    show_outbox(client);
  }

  say("== 3. Rapid edits of a record not yet sent fold into its pending mutation (nothing is lost).");
  for (int i = 1; i <= 3; ++i) {
    auto id = client.patch("notes", notes[1], {{"title", "Call the plumber (try " + std::to_string(i) + ")"}});
    if (!id) return fail(id.status());
  }
  say("  notes/" + notes[1] + " now reads " + client.get("notes", notes[1])->fields.dump());
  show_outbox(client);

  say("== 4. Deleting a note that was created offline and never sent leaves nothing to send.");
  auto removed = client.remove("notes", notes[2]);
  if (!removed) return fail(removed.status());
  say(removed->empty() ? "  cancelled: no delete needs to reach the server" : "  delete queued: " + *removed);
  show_outbox(client);

  say("== 5. A request for another app's REST API is queued the same way, with its own key.");
  RestRequest request;
  request.module = "calendar";
  request.action = "create_event";
  request.method = "POST";
  request.url = "/v1/mutations";  // here the same server's REST API; any HTTP API works the same
  request.headers = {{"Content-Type", "application/json"}};
  request.body = R"({"collection": "events", "record": "plumber", "op": "upsert",
                     "fields": {"title": "Plumber visit", "start": "2026-11-24T09:00:00Z"}})";
  auto queued = client.enqueue_request(request);
  if (!queued) return fail(queued.status());
  say("  queued calendar/create_event -> " + *queued);
  show_outbox(client);
  return 0;
}

int after_restart(const std::string& db) {
  say("== 6. The process was restarted. Reopening " + db);
  auto opened = Client::open(ClientOptions{.path = db});
  if (!opened) return fail(opened.status());
  Client& client = **opened;
  show_outbox(client);
  auto notes = client.list("notes");
  if (!notes) return fail(notes.status());
  say("  what the app shows (" + std::to_string(notes->size()) + " notes):");
  for (const Record& r : *notes) say("    notes/" + r.id + " " + r.fields.dump());
  auto summary = client.summary();
  if (!summary) return fail(summary.status());
  say("== 7. Still offline: " + std::to_string(summary->pending) +
      " mutation(s) wait for the network, in ULID order, each with its Idempotency-Key.");
  return 0;
}

// A server on loopback in this process: the network coming back.
struct DemoServer {
  std::unique_ptr<Server> server;
  std::unique_ptr<Listener> listener;
  std::thread thread;
  std::string url;
  ~DemoServer() {
    if (listener) listener->stop();
    if (thread.joinable()) thread.join();
  }
};

Result<std::unique_ptr<Client>> online_client(const std::string& db, const std::string& url) {
  auto transport = make_curl_transport({.base_url = url});
  if (!transport) return transport.status();
  ClientOptions options{.path = db};
  options.sync.transport = std::shared_ptr<Transport>(std::move(*transport));
  options.sync.background = false;
  options.sync.app_version = "1.0.0";
  options.sync.os_version = "Debian 12";
  return Client::open(options);
}

std::string describe(const SyncReport& r) {
  return "sent " + std::to_string(r.sent) + ": applied " + std::to_string(r.applied) + ", rejected " +
         std::to_string(r.rejected) + ", conflicts " + std::to_string(r.conflicts) + "; pulled " +
         std::to_string(r.pulled);
}

int back_online(const std::string& dir) {
  std::string db = (std::filesystem::path(dir) / "app.db").string();
  say("== 8. The network comes back: a server starts on loopback (" + (std::filesystem::path(dir) / "server.db").string() + ").");
  DemoServer live;
  auto server = Server::open({.db_path = (std::filesystem::path(dir) / "server.db").string()});
  if (!server) return fail(server.status());
  live.server = std::move(*server);
  auto listener = Listener::listen_tcp(*live.server, "127.0.0.1", 0);
  if (!listener) return fail(listener.status());
  live.listener = std::move(*listener);
  live.url = "http://127.0.0.1:" + std::to_string(live.listener->port());
  live.thread = std::thread([&] { live.listener->run(); });
  say("  listening on " + live.url);

  auto opened = online_client(db, live.url);
  if (!opened) return fail(opened.status());
  Client& client = **opened;
  Status handler = client.register_handler("calendar", "create_event", [](const RestOutcome& o) {
    say("  calendar/create_event answered " + std::to_string(o.status) + " (handler called after the restart)");
  });
  if (!handler) return fail(handler);
  auto report = client.sync_once();
  if (!report) return fail(report.status());
  say("  sync: " + describe(*report));
  show_outbox(client);

  say("== 9. A second device pulls everything by cursor, edits a note, and syncs.");
  auto other = online_client((std::filesystem::path(dir) / "tablet.db").string(), live.url);
  if (!other) return fail(other.status());
  auto pulled = (*other)->sync_once();
  if (!pulled) return fail(pulled.status());
  say("  tablet: " + describe(*pulled));
  auto notes = (*other)->list("notes");
  if (!notes || notes->empty()) return fail(Status::internal("the tablet has no notes"));
  if (auto id = (*other)->patch("notes", notes->front().id, {{"done", true}}); !id) return fail(id.status());
  if (auto r = (*other)->sync_once(); !r) return fail(r.status());
  auto back = client.sync_once();
  if (!back) return fail(back.status());
  say("  phone: " + describe(*back) + "; notes/" + notes->front().id + " now reads " +
      client.get("notes", notes->front().id)->fields.dump());
  auto stats = live.server->stats();
  if (!stats) return fail(stats.status());
  say("== 10. The server applied " + std::to_string(stats->mutations_applied) + " mutation(s), each once (" +
      std::to_string(stats->idempotency_keys) + " idempotency keys kept).");
  return 0;
}

}  // namespace

int run_demo(const std::string& dir, bool resume) {
  std::string db = (std::filesystem::path(dir) / "app.db").string();
  if (resume) {
    if (int rc = after_restart(db); rc != 0) return rc;
    return back_online(dir);
  }

  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  for (const char* name : {"app.db", "server.db", "tablet.db"}) {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::filesystem::remove(std::filesystem::path(dir) / (std::string(name) + suffix), ec);
    }
  }
  if (int rc = first_run(db); rc != 0) return rc;

  say("== The app is closed; a new process opens the same store.");
  pid_t child = fork();
  if (child < 0) return fail(Status::internal("fork failed"));
  if (child == 0) {
    execl("/proc/self/exe", "offsync", "demo", "--dir", dir.c_str(), "--resume", static_cast<char*>(nullptr));
    _exit(127);
  }
  int wstatus = 0;
  waitpid(child, &wstatus, 0);
  return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 1;
}

}  // namespace offsync::cli
