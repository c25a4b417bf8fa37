// The client's half of server push (docs/protocol.md, "Waiting for changes"): one long poll at a
// time on its own connection; when the server answers with a change, the worker syncs.
#include <chrono>

#include "engine/client/client_impl.h"
#include "engine/client/wire.h"
#include "engine/common/json_text.h"

namespace offsync {

namespace {

// Whether a sync page lists a change or an outcome. Read with json_text (bounded depth and size),
// as every answer from a server is: a hostile answer is no page, never a crash.
bool has_changes(const std::string& body) {
  json_text::Document page(body);
  if (!page.valid() || !page.root().is_object()) return false;
  bool found = false;
  json_text::for_each_member(page.root(), [&](std::string_view key, const json_text::Value& v) {
    if ((key == "changes" || key == "outcomes") && v.is_array()) {
      json_text::for_each_element(v, [&](const json_text::Value&) {
        found = true;
        return false;
      });
    }
    return !found;
  });
  return found;
}

}  // namespace

void Client::Impl::poller_loop() {
  int failures = 0;
  std::unique_lock<std::mutex> lock(state_mu);
  for (;;) {
    // Only while online and not paused (a 401 or 426 waits for the app).
    wake_cv.wait(lock, [&] { return stopping || (connectivity != Connectivity::kOffline && !paused); });
    if (stopping) return;
    lock.unlock();
    auto cursor = locked("read the cursor", [&]() -> Result<std::string> { return store->meta("cursor").value_or(""); });
    std::string target = "/v1/sync?limit=1&wait=" + std::to_string(options.sync.watch_wait_s);
    if (cursor && !cursor->empty()) target += "&cursor=" + wire::cursor_query(*cursor);
    auto sent_at = std::chrono::steady_clock::now();
    auto answer = watcher->send(make_request("GET", target));
    auto took = std::chrono::steady_clock::now() - sent_at;
    lock.lock();
    if (stopping) return;
    bool page = answer && answer->status == 200;
    if (page && has_changes(answer->body)) {
      // Changes: the worker syncs now (or whoever drives the rounds is told). Poll again once the
      // cursor moved on (that round pulled), or after 30 s.
      std::string polled = cursor ? *cursor : std::string();
      if (options.sync.on_server_changes) {
        lock.unlock();
        try {
          options.sync.on_server_changes();
        } catch (...) {
          log(LogLevel::kError, "sync", "on_server_changes threw");
        }
        lock.lock();
      } else {
        wake = true;
        wake_cv.notify_all();
      }
      auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      while (!stopping && std::chrono::steady_clock::now() < until) {
        wake_cv.wait_for(lock, std::chrono::milliseconds(20), [&] { return stopping; });
        lock.unlock();
        auto now_cursor = locked("read the cursor", [&]() -> Result<std::string> { return store->meta("cursor").value_or(""); });
        lock.lock();
        if (!now_cursor || *now_cursor != polled) break;
      }
      failures = 0;
      continue;
    }
    if (page && took >= std::chrono::milliseconds(options.sync.watch_wait_s * 1000 / 2)) {
      failures = 0;
      continue;  // the wait ran out: wait again
    }
    // No answer, not a page (401, 410, 503), or an empty page long before the wait ran out (a
    // server that does not hold requests, or one that released them to stop): back off, and leave
    // the rest to the worker's rounds.
    ++failures;
    auto pause = std::chrono::milliseconds(std::min<int64_t>(30'000, 500LL << std::min(failures, 6)));
    wake_cv.wait_for(lock, pause, [&] { return stopping; });
  }
}

}  // namespace offsync
