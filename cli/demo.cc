// `offsync demo`: the offline story on the embedded defaults, told step by step.
//
// Today it shows the local half: writes with no network, the outbox growing, a real process
// restart, and the outbox still there, in ULID order.
#include "cli/demo.h"

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "cli/output.h"
#include "offsync/client.h"

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

int check(const Status& s) { return s ? 0 : fail(s); }

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
  request.url = "/calendar/v1/events";
  request.headers = {{"Content-Type", "application/json"}};
  request.body = R"({"title": "Plumber visit", "start": "2026-11-24T09:00:00Z"})";
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
  return check(Status::ok());
}

}  // namespace

int run_demo(const std::string& dir, bool resume) {
  std::string db = (std::filesystem::path(dir) / "app.db").string();
  if (resume) return after_restart(db);

  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(db + suffix, ec);
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
