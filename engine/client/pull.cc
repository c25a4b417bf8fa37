// The pull half of a round: the change log by opaque cursor, page by page, each page stored in one
// transaction; on 410 a full refresh that keeps every unsent local mutation.
#include "engine/client/round.h"

namespace offsync {

std::string Round::telemetry() {
  auto summary = c_.locked("telemetry", [&]() -> Result<OutboxSummary> { return c_.store->summary(); });
  if (!summary) return "";
  int64_t age = summary->oldest_pending_created_at_ms
                    ? std::max<int64_t>(0, (c_.clock.now_ms() - *summary->oldest_pending_created_at_ms) / 1000)
                    : 0;
  return "pending=" + std::to_string(summary->pending) + ", oldest_age_s=" + std::to_string(age) +
         ", rejected=" + std::to_string(summary->rejected);
}

std::optional<HttpResponse> Round::get_page(const std::string& cursor) {
  std::string target = "/v1/sync?limit=" + std::to_string(std::max(1, c_.options.sync.pull_limit));
  if (!cursor.empty()) target += "&cursor=" + wire::cursor_query(cursor);
  HttpRequest r = request("GET", target);
  r.headers.add("Offsync-Outbox", telemetry());
  return send(r);
}

void Round::pull() {
  c_.set_status({SyncState::kPulling, 0, ""});
  auto stored_cursor = c_.locked("read cursor", [&]() -> Result<std::string> {
    return c_.store->meta("cursor").value_or("");
  });
  if (!stored(stored_cursor.status(), "reading the cursor")) return;
  auto interrupt = [&](const HttpResponse& answer) {
    if (answer.status == 410) {
      full_refresh();
      return true;
    }
    if (answer.status == 400 && wire::error_code_of(json_text::parse(answer.body).value_or(json_text::Value{})) ==
                                    "invalid_cursor") {
      // The stored cursor is not one this server issued (a store restored from another device, a
      // server reset, a damaged file): it can never work again, and reading from the beginning
      // always does. Local pending mutations are kept, as after a 410.
      log(LogLevel::kWarning, "the server refused the stored cursor: refreshing fully");
      full_refresh();
      return true;
    }
    if (answer.status == 401 || answer.status == 426) {
      pause(answer.status == 401 ? "sign in again (401)" : "upgrade required (426)", answer.status == 401);
      return true;
    }
    return false;
  };
  std::vector<Mutation> reinstated;
  std::vector<bool> seen_changed;  // per change of the page: whether the app sees a difference
  auto apply = [&](const wire::Page& page) {
    reinstated.clear();  // a retried transaction starts over
    seen_changed.clear();
    for (const auto& change : page.changes) {
      seen_changed.push_back(c_.put_server_record_locked(change.collection, change.record_id, change.base));
    }
    for (const auto& outcome : page.outcomes) {
      if (auto m = c_.reinstate_locked(outcome)) reinstated.push_back(std::move(*m));
    }
    c_.store->set_meta("cursor", page.cursor);
    c_.store->set_meta("cursor_at", std::to_string(c_.clock.now_ms()));
  };
  auto applied = [&](wire::Page& page) {
    // Observers hear of records that look different, not of echoes of this client's own writes.
    for (size_t i = 0; i < page.changes.size(); ++i) {
      if (i < seen_changed.size() && seen_changed[i]) {
        changed_.emplace_back(std::move(page.changes[i].collection), std::move(page.changes[i].record_id));
      }
    }
    for (auto& m : reinstated) {
      changed_.emplace_back(m.collection, m.record_id);
      if (m.state == MutationState::kConflict) {
        ++report_.conflicts;
        conflicts_.push_back(std::move(m));
      } else {
        ++report_.rejected;
        rejected_.push_back(std::move(m));
      }
    }
    reinstated.clear();
  };
  if (read_log(*stored_cursor, interrupt, apply, applied)) report_.pull_complete = true;
}

// Reads the change log from `cursor` page by page while has_more, each page stored by `apply` in
// one write transaction, then handed to `applied`. Returns the last cursor once the log is read
// to its end; nullopt when it stopped: no answer, an unreadable or refused page (the reason in
// report_.pull_failure), a store error, or an answer that `interrupt` took over.
template <typename Interrupt, typename Apply, typename Applied>
std::optional<std::string> Round::read_log(std::string cursor, Interrupt interrupt, Apply apply, Applied applied) {
  auto failed = [&](const std::string& why) -> std::optional<std::string> {
    ++report_.transient;
    if (report_.pull_failure.empty()) report_.pull_failure = why;
    log(LogLevel::kWarning, "pull stopped: " + why);
    return std::nullopt;
  };
  while (true) {
    auto answer = get_page(cursor);
    if (!answer) {
      if (report_.pull_failure.empty()) report_.pull_failure = "no answer: " + unreachable_reason_;
      return std::nullopt;
    }
    if (interrupt(*answer)) return std::nullopt;
    if (answer->status != 200) {
      auto body = json_text::parse(answer->body).value_or(json_text::Value{});
      return failed("GET /v1/sync answered " + std::to_string(answer->status) + ": " +
                    wire::error_message_of(body, answer->status));
    }
    auto page = wire::read_page(*answer);
    if (!page) return failed(page.status().message());
    Status s = c_.write("apply a sync page", [&]() -> Status {
      apply(*page);
      return Status::ok();
    });
    if (!stored(s, "storing a sync page")) {
      if (report_.pull_failure.empty()) report_.pull_failure = "a page could not be stored: " + s.message();
      return std::nullopt;
    }
    bool moved = page->cursor != cursor;
    cursor = page->cursor;
    applied(*page);
    report_.pulled += static_cast<int64_t>(page->count);
    progress_ = SyncProgress{report_.full_refresh ? SyncProgress::Step::kRefresh : SyncProgress::Step::kPull,
                             report_.pulled, -1};
    tell_observers();
    if (!page->has_more) return cursor;
    // A server that says "more" without moving the cursor would be read for ever.
    if (!moved) return failed("the server said has_more without moving the cursor");
  }
}

// 410: the whole server state into base_incoming, then swapped into base in one transaction and
// every view recomputed; pending mutations stay in the outbox and on top of the new base.
void Round::full_refresh() {
  report_.full_refresh = true;
  Status cleared = c_.write("start refresh", [&]() -> Status {
    c_.store->clear_incoming();
    return Status::ok();
  });
  if (!stored(cleared, "starting a full refresh")) return;
  auto cursor = read_log(
      "", [&](const HttpResponse& answer) {
        // A 410 during the refresh itself would start it again and again: it stops the pull.
        if (answer.status != 410) return false;
        report_.pull_failure = "the server answered 410 to a refresh from the beginning";
        return true;
      },
      [&](const wire::Page& page) {
        for (const auto& change : page.changes) c_.store->put_incoming(change.collection, change.record_id, change.base);
      },
      [](wire::Page&) {});
  if (!cursor) return;
  Status swapped = c_.write("swap in refresh", [&]() -> Status {
    c_.store->swap_in_incoming();
    for (const auto& [collection, record] : c_.store->all_record_keys()) {
      c_.recompute_view(collection, record);
      changed_.emplace_back(collection, record);
    }
    c_.store->set_meta("cursor", *cursor);
    c_.store->set_meta("cursor_at", std::to_string(c_.clock.now_ms()));
    return Status::ok();
  });
  if (stored(swapped, "swapping in a full refresh")) report_.pull_complete = true;
}

}  // namespace offsync
