// Watched queries (Client::watch) and removable observers: a screen's query hears each change
// that alters its result (a local write, a pull, a rejected mutation's revert) and nothing else.
#include <doctest/doctest.h>

#include <atomic>
#include <deque>
#include <mutex>

#include "offsync/client.h"
#include "offsync/server.h"
#include "server_support.h"
#include "support.h"
#include "sync_support.h"

using namespace offsync;
using namespace offsync::test;
using nlohmann::json;

namespace {

// An executor the test drains by hand: which runs happen, and when, is the test's to say.
class ManualExecutor {
 public:
  Executor executor() {
    return [this](std::function<void()> task) {
      std::lock_guard<std::mutex> lock(mu_);
      tasks_.push_back(std::move(task));
    };
  }
  // Runs queued tasks (and those they queue) until none is left; returns how many ran.
  int drain() {
    int ran = 0;
    for (;;) {
      std::function<void()> task;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (tasks_.empty()) return ran;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
      ++ran;
    }
  }

 private:
  std::mutex mu_;
  std::deque<std::function<void()>> tasks_;
};

struct Heard {
  std::mutex mu;
  std::vector<std::vector<std::string>> results;
  std::vector<QueryChange> changes;
  QueryCallback callback() {
    return [this](const std::vector<Record>& result, const QueryChange& change) {
      std::lock_guard<std::mutex> lock(mu);
      std::vector<std::string> ids;
      for (const auto& r : result) ids.push_back(r.id);
      results.push_back(ids);
      changes.push_back(change);
    };
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu);
    return results.size();
  }
};

Query open_math_notes() {
  return Query("notes").where(q::field("course") == "math" && q::field("done") == false).order_by("due").limit(20);
}

}  // namespace

TEST_CASE("a live query hears local writes that change its result and nothing else") {
  ScratchDir dir;
  auto client = open_client({.path = dir.file("c.db")});
  for (int i = 0; i < 30; ++i) {
    REQUIRE(client->put("notes", "n" + std::to_string(i), {{"course", i % 2 ? "math" : "art"}, {"done", false}, {"due", i}}).is_ok());
  }
  ManualExecutor ui;
  Heard heard;
  auto handle = client->watch(open_math_notes(), heard.callback(), ui.executor());
  REQUIRE(handle.is_ok());
  ui.drain();
  REQUIRE(heard.count() == 1);  // the first result: all added
  CHECK(heard.changes[0].added.size() == 15);
  CHECK(heard.results[0].front() == "n1");

  // Writes to records outside the result, and to another collection: silent.
  REQUIRE(client->put("notes", "n2", {{"course", "art"}, {"done", true}, {"due", 2}}).is_ok());
  REQUIRE(client->put("tasks", "t1", {{"course", "math"}, {"done", false}, {"due", 0}}).is_ok());
  ui.drain();
  CHECK(heard.count() == 1);

  // A write that changes it: heard once, with what changed.
  REQUIRE(client->patch("notes", "n3", {{"done", true}}).is_ok());
  ui.drain();
  REQUIRE(heard.count() == 2);
  CHECK(heard.changes[1].removed == std::vector<std::string>{"n3"});
  CHECK(heard.results[1].front() == "n1");
  // A new record that sorts first.
  REQUIRE(client->put("notes", "n100", {{"course", "math"}, {"done", false}, {"due", -5}}).is_ok());
  ui.drain();
  REQUIRE(heard.count() == 3);
  CHECK(heard.changes[2].added == std::vector<std::string>{"n100"});
  CHECK(heard.results[2].front() == "n100");

  // A burst of writes: one run, one callback.
  for (int i = 0; i < 50; ++i) REQUIRE(client->patch("notes", "n5", {{"due", 1000 + i}}).is_ok());
  CHECK(ui.drain() == 1);
  CHECK(heard.count() == 4);
  CHECK(heard.changes[3].changed == std::vector<std::string>{"n5"});  // moved to the end, others only shifted
  CHECK(heard.results[3].back() == "n5");

  // Removed: never called again.
  handle->remove();
  REQUIRE(client->remove("notes", "n1").is_ok());
  ui.drain();
  CHECK(heard.count() == 4);
}

TEST_CASE("a live query hears a pull and a rejected mutation's revert, on the Client's own thread") {
  ScratchDir dir;
  ServerOptions server_options{.db_path = dir.file("s.db")};
  server_options.validators["notes"] = refusing_forbidden_titles();
  auto server = open_server(std::move(server_options));
  auto connect = [&](const std::string& name) {
    ClientOptions options{.path = dir.file(name)};
    options.sync.transport = std::make_shared<ScriptedTransport>(server.get());
    options.sync.background = false;
    return open_client(options);
  };
  auto phone = connect("phone.db"), tablet = connect("tablet.db");
  Heard heard;
  // No executor: callbacks come on the Client's notifier thread.
  auto handle = tablet->watch(Query("notes").order_by("title"), heard.callback());
  REQUIRE(handle.is_ok());
  REQUIRE(eventually([&] { return heard.count() == 1; }));
  CHECK(heard.results[0].empty());

  // Another device's change arrives by a pull.
  REQUIRE(phone->put("notes", "a", {{"title", "algebra"}}).is_ok());
  REQUIRE(phone->sync_once().is_ok());
  REQUIRE(tablet->sync_once().is_ok());
  REQUIRE(eventually([&] { return heard.count() == 2; }));
  CHECK(heard.results[1] == std::vector<std::string>{"a"});

  // A local write shows at once (pending), and goes when the server refuses it.
  REQUIRE(tablet->put("notes", "b", {{"title", "forbidden"}}).is_ok());
  REQUIRE(eventually([&] { return heard.count() == 3; }));
  CHECK(heard.results[2] == std::vector<std::string>{"a", "b"});
  auto report = tablet->sync_once();
  REQUIRE(report.is_ok());
  CHECK(report->rejected == 1);
  REQUIRE(eventually([&] { return heard.count() == 4; }));
  CHECK(heard.results[3] == std::vector<std::string>{"a"});
  CHECK(heard.changes[3].removed == std::vector<std::string>{"b"});
  handle->remove();
}

TEST_CASE("a live query's callback may call the Client and remove itself, and a removed sync observer hears nothing more") {
  ScratchDir dir;
  auto client = open_client({.path = dir.file("c.db")});
  ManualExecutor ui;
  std::atomic<int> calls{0};
  ObserverHandle self;
  auto handle = client->watch(
      Query("notes"),
      [&](const std::vector<Record>& result, const QueryChange&) {
        ++calls;
        CHECK(client->count(Query("notes")).value() == static_cast<int64_t>(result.size()));
        if (result.size() >= 2) self.remove();  // from inside its own callback
      },
      ui.executor());
  REQUIRE(handle.is_ok());
  self = *handle;
  ui.drain();
  REQUIRE(client->put("notes", "a", {{"v", 1}}).is_ok());
  ui.drain();
  REQUIRE(client->put("notes", "b", {{"v", 1}}).is_ok());
  ui.drain();
  REQUIRE(client->put("notes", "c", {{"v", 1}}).is_ok());
  ui.drain();
  CHECK(calls == 3);  // [], [a], [a, b]: then it removed itself

  // A refused query is refused when watched, not later.
  auto bad = client->watch(Query("notes").where(q::field("") == 1), [](const auto&, const auto&) {});
  CHECK(bad.status().code() == StatusCode::kInvalidArgument);

  // Sync observers are removable too.
  struct Counting : SyncObserver {
    std::atomic<int> states{0};
    void on_state(const SyncStatus&) override { ++states; }
  };
  ClientOptions syncing{.path = dir.file("s.db")};
  syncing.sync.transport = std::make_shared<ScriptedTransport>(nullptr);  // no server: rounds end offline
  syncing.sync.background = false;
  auto other = open_client(syncing);
  auto observer = std::make_shared<Counting>();
  ObserverHandle h = other->add_observer(observer);
  (void)other->sync_once();
  h.remove();
  int before = observer->states;
  CHECK(before > 0);
  (void)other->sync_once();
  CHECK(observer->states == before);
  other.reset();
  // A handle outliving its Client does nothing when removed.
  client.reset();
  h.remove();
  self.remove();
}

TEST_CASE("a hostile answer to the watch (HTML with 200, JSON nested a million deep) is no page: the client syncs on") {
  ScratchDir dir;
  auto server = open_server({.db_path = dir.file("s.db")});
  auto transport = std::make_shared<ScriptedTransport>(server.get());
  std::atomic<int> polls{0};
  std::string deep = std::string(1'000'000, '[') + std::string(1'000'000, ']');
  transport->set_script([&](const HttpRequest& r) -> std::optional<Result<HttpResponse>> {
    if (r.target.find("wait=") == std::string::npos) return std::nullopt;
    HttpResponse answer{.status = 200};
    answer.body = polls++ % 2 ? "<html>captive portal</html>" : "{\"changes\": " + deep + "}";
    return answer;
  });
  ClientOptions options{.path = dir.file("c.db")};
  options.sync.transport = transport;
  options.sync.watch_transport = transport;  // the watch goes through the same script
  auto client = open_client(options);
  REQUIRE(eventually([&] { return polls >= 2; }, 10'000));
  REQUIRE(client->put("notes", "n1", {{"title", "still works"}}).is_ok());
  CHECK(client->wait_until_synced(10'000).is_ok());
  CHECK(server->stats()->mutations_applied == 1);
}
