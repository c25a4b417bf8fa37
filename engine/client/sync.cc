// The sync worker: pushes the outbox in ULID order with idempotency keys, classifies every answer
// (PROTOCOL.md's table), pulls changes by cursor, and backs off with full jitter.
#include <chrono>
#include <ctime>
#include <set>
#include <unordered_set>

#include "engine/client/client_impl.h"
#include "engine/client/input_rules.h"
#include "engine/client/view.h"

namespace offsync {

using nlohmann::json;

namespace {

enum class Outcome { kApplied, kTransient, kConflict, kRejected, kAuth, kUpgrade };

std::string error_code_of(const json& body) {
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    return body["error"].value("code", "");
  }
  return "";
}

std::string error_message_of(const json& body, int status) {
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    std::string message = body["error"].value("message", "");
    if (!message.empty()) return message;
  }
  return "HTTP " + std::to_string(status);
}

// PROTOCOL.md, "How a client classifies an answer".
Outcome classify(int status, const std::string& code) {
  if (status >= 200 && status < 300) return Outcome::kApplied;
  if (status == 401) return Outcome::kAuth;
  if (status == 426) return Outcome::kUpgrade;
  if (status == 409) return code == "conflict" ? Outcome::kConflict : Outcome::kTransient;
  if (status == 408 || status == 429 || status >= 500 || status < 200) return Outcome::kTransient;
  return Outcome::kRejected;
}

// Retry-After as delay-seconds or an HTTP-date (RFC 9110); 0 when absent or unreadable.
int64_t retry_after_ms(const HttpResponse& r, int64_t now_ms) {
  auto value = r.headers.get("Retry-After");
  if (!value || value->empty()) return 0;
  if (std::all_of(value->begin(), value->end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::stoll(*value) * 1000;
  }
  std::tm tm{};
  if (!strptime(value->c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm)) return 0;
  return std::max<int64_t>(0, static_cast<int64_t>(timegm(&tm)) * 1000 - now_ms);
}

json body_json(const HttpResponse& r) { return json::parse(r.body, nullptr, false); }

// The mutation as the single endpoint takes it, as JSON text built directly (no copy of the payload
// into a JSON tree); with_key adds the batch item's "idempotency_key".
std::string mutation_body(const Mutation& m, bool with_key) {
  std::string out = "{";
  if (!m.attachments.empty()) out += "\"attachments\":" + json(m.attachments).dump() + ",";
  out += "\"base\":" + (m.base_hlc ? json(*m.base_hlc).dump() : std::string("null"));
  out += ",\"collection\":" + json(m.collection).dump();
  if (m.op != MutationOp::kDelete) out += ",\"fields\":" + m.payload.dump();
  out += ",\"id\":\"" + m.id + "\"";  // a ULID: nothing to escape
  if (with_key) out += ",\"idempotency_key\":\"" + m.idempotency_key + "\"";
  out += ",\"op\":\"" + std::string(mutation_op_name(m.op)) + "\"";
  out += ",\"record\":" + json(m.record_id).dump() + "}";
  return out;
}

// Moves what it needs out of `record` (a page is applied once and dropped).
storage::BaseRecord base_from_record(json& record) {
  storage::BaseRecord base;
  base.deleted = record.value("op", "upsert") == "delete";
  auto take = [&](const char* key) {
    auto it = record.find(key);
    return it != record.end() && it->is_object() ? std::move(*it) : json::object();
  };
  base.fields = base.deleted ? json::object() : take("fields");
  base.hlc = record.value("hlc", "");
  base.field_hlc = take("field_hlc");
  return base;
}

bool is_record(const json& r) {
  return r.is_object() && r.contains("collection") && r["collection"].is_string() && r.contains("record") &&
         r["record"].is_string() && r.contains("hlc") && r["hlc"].is_string();
}

// What one round learned about the network and the queue.
struct RoundState {
  SyncReport report;
  std::unordered_set<std::string> attempted;  // mutations sent this round: not sent twice in one round
  bool unreachable = false;         // a request got no answer
  std::string unreachable_reason;
  std::vector<std::pair<std::string, std::string>> changed;
  std::vector<Mutation> rejected, conflicts;
};

}  // namespace

std::string_view sync_state_name(SyncState state) {
  switch (state) {
    case SyncState::kIdle: return "idle";
    case SyncState::kPushing: return "pushing";
    case SyncState::kPulling: return "pulling";
    case SyncState::kOffline: return "offline";
    case SyncState::kBackingOff: return "backing_off";
    case SyncState::kPaused: return "paused";
  }
  return "unknown";
}

namespace {

class Round {
 public:
  Round(Client::Impl& impl, bool explicit_request) : c_(impl), explicit_(explicit_request) {}

  SyncReport run() {
    push();
    if (!st_.unreachable && !st_.report.paused) pull();
    finish();
    return st_.report;
  }

  bool unreachable() const { return st_.unreachable; }
  const std::string& unreachable_reason() const { return st_.unreachable_reason; }

 private:
  // ---- requests ----
  HttpRequest request(const std::string& method, const std::string& target) {
    HttpRequest r{.method = method, .target = target};
    const SyncOptions& o = c_.options.sync;
    std::string token;
    {
      std::lock_guard<std::mutex> lock(c_.state_mu);
      token = c_.token;
    }
    if (!token.empty()) r.headers.add("Authorization", "Bearer " + token);
    if (!o.app_version.empty()) r.headers.add("Offsync-App-Version", o.app_version);
    if (!o.os_version.empty()) r.headers.add("Offsync-OS-Version", o.os_version);
    if (!o.device.empty()) r.headers.add("Offsync-Device", o.device);
    if (method == "POST") r.headers.add("Content-Type", "application/json");
    return r;
  }

  // Sends; no answer marks the round unreachable.
  std::optional<HttpResponse> send(const HttpRequest& r) {
    auto answer = c_.options.sync.transport->send(r);
    if (!answer) {
      st_.unreachable = true;
      st_.unreachable_reason = answer.status().message();
      return std::nullopt;
    }
    st_.report.reached = true;
    return std::move(*answer);
  }

  int64_t backoff_ms(int attempts) {
    const SyncOptions& o = c_.options.sync;
    int64_t ceiling = o.backoff_cap_ms;
    if (attempts <= 40) ceiling = std::min(o.backoff_cap_ms, o.backoff_base_ms << std::max(0, attempts - 1));
    uint64_t r = 0;
    c_.random.fill(std::span<uint8_t>(reinterpret_cast<uint8_t*>(&r), sizeof r));
    return ceiling <= 0 ? 0 : static_cast<int64_t>(r % static_cast<uint64_t>(ceiling + 1));
  }

  void pause(const std::string& reason) {
    st_.report.paused = true;
    st_.report.pause_reason = reason;
    std::lock_guard<std::mutex> lock(c_.state_mu);
    c_.paused = true;
  }

  // ---- push ----
  // The next mutations to send: per record (or request ordering key) the first unacknowledged
  // one, unless it is rejected, in conflict, waiting for its backoff, or already tried this round.
  struct Wave {
    std::vector<std::string> records, requests;  // mutation ids, in ULID order
    bool empty() const { return records.empty() && requests.empty(); }
  };
  // The next mutations to send: per record (or request ordering key) the first unacknowledged
  // one, unless it is rejected, in conflict, waiting for its backoff, or already tried this round.
  // Streams the outbox: only the ids to send and a hash per record are held, whatever its size.
  Wave wave() {
    Wave out;
    int64_t now = c_.clock.now_ms();
    std::unordered_set<size_t> seen_records;
    std::hash<std::string> hash;
    (void)c_.locked("plan sync", [&]() -> Status {
      c_.store->for_each_head([&](const storage::ClientStore::Head& h) {
        // A hash collision only defers a record to the next wave.
        if (!seen_records.insert(hash(h.collection + '\n' + h.record_id)).second) return;
        if (h.state == MutationState::kRejected || h.state == MutationState::kConflict) return;
        if (st_.attempted.contains(h.id)) return;
        if (!explicit_ && h.next_attempt_at_ms > now) return;
        (h.op == MutationOp::kRequest ? out.requests : out.records).push_back(h.id);
      });
      return Status::ok();
    });
    return out;
  }

  void push() {
    c_.set_status({SyncState::kPushing, 0, ""});
    while (!st_.unreachable && !st_.report.paused) {
      Wave next = wave();
      if (next.empty()) return;
      const auto& records = next.records;
      const auto& requests = next.requests;
      size_t batch = static_cast<size_t>(std::max(1, c_.options.sync.batch_size));
      for (size_t i = 0; i < records.size() && !st_.unreachable && !st_.report.paused; i += batch) {
        std::vector<std::string> chunk(records.begin() + static_cast<std::ptrdiff_t>(i),
                                       records.begin() + static_cast<std::ptrdiff_t>(std::min(records.size(), i + batch)));
        push_chunk(chunk);
      }
      for (const auto& id : requests) {
        if (st_.unreachable || st_.report.paused) break;
        push_request(id);
      }
    }
  }

  // Marks the mutations as sent (frozen from here on) in one transaction and loads them.
  std::vector<Mutation> begin_send(const std::vector<std::string>& ids) {
    std::vector<Mutation> out;
    Status s = c_.write("begin send", [&]() -> Status {
      for (const auto& id : ids) {
        c_.store->mark_sending(id);
        if (auto m = c_.store->mutation(id)) out.push_back(std::move(*m));
      }
      return Status::ok();
    });
    if (!s) out.clear();
    for (const auto& m : out) st_.attempted.insert(m.id);
    st_.report.sent += static_cast<int64_t>(out.size());
    return out;
  }

  bool server_has_batch() {
    if (c_.server_has_batch) return *c_.server_has_batch;
    auto answer = send(request("GET", "/v1/health"));
    if (!answer) return false;
    json body = body_json(*answer);
    c_.server_has_batch = answer->status == 200 && body.is_object() && body.value("batch", false);
    return *c_.server_has_batch;
  }

  void push_chunk(const std::vector<std::string>& ids) {
    std::vector<Mutation> muts = begin_send(ids);
    if (muts.empty()) return;
    std::vector<std::pair<int, json>> answers(muts.size(), {0, json()});
    std::vector<int64_t> retry_after(muts.size(), 0);
    size_t answered = 0;
    bool batch = server_has_batch();
    if (batch && !st_.unreachable) {
      HttpRequest r = request("POST", "/v1/mutations:batch");
      r.body = "{\"mutations\":[";
      for (size_t i = 0; i < muts.size(); ++i) {
        if (i > 0) r.body += ',';
        r.body += mutation_body(muts[i], true);
      }
      r.body += "]}";
      if (auto answer = send(r)) {
        json body = body_json(*answer);
        int64_t after = retry_after_ms(*answer, c_.clock.now_ms());
        if (answer->status == 200 && body.is_object() && body["results"].is_array() &&
            body["results"].size() == muts.size()) {
          for (size_t i = 0; i < muts.size(); ++i) {
            answers[i] = {body["results"][i].value("status", 0), body["results"][i].value("body", json())};
          }
        } else if (answer->status == 404 || answer->status == 405) {
          c_.server_has_batch = false;
          batch = false;
        } else {
          for (size_t i = 0; i < muts.size(); ++i) {
            answers[i] = {answer->status, body};
            retry_after[i] = after;
          }
        }
        if (batch) answered = muts.size();
      }
    }
    if (!batch && !st_.unreachable) {
      for (size_t i = 0; i < muts.size(); ++i) {
        HttpRequest r = request("POST", "/v1/mutations");
        r.headers.add("Idempotency-Key", muts[i].idempotency_key);
        r.body = mutation_body(muts[i], false);
        auto answer = send(r);
        if (!answer) break;
        answers[i] = {answer->status, body_json(*answer)};
        retry_after[i] = retry_after_ms(*answer, c_.clock.now_ms());
        answered = i + 1;
        if (classify(answer->status, error_code_of(answers[i].second)) == Outcome::kAuth ||
            classify(answer->status, "") == Outcome::kUpgrade) {
          break;
        }
      }
    }
    settle(muts, answers, retry_after, answered);
  }

  // Records every answer in one transaction. Mutations past `answered` got no answer: their
  // outcome is unknown, and they are retried with the same key.
  void settle(const std::vector<Mutation>& muts, const std::vector<std::pair<int, json>>& answers,
              const std::vector<int64_t>& retry_after, size_t answered) {
    int64_t now = c_.clock.now_ms();
    Status s = c_.write("settle answers", [&]() -> Status {
      for (size_t i = 0; i < muts.size(); ++i) {
        const Mutation& m = muts[i];
        if (i >= answered) {
          int64_t at = now + backoff_ms(m.attempts);
          c_.store->update_mutation_state(m.id, MutationState::kPending, m.attempts, at,
                                          st_.unreachable_reason.empty() ? "no answer" : st_.unreachable_reason);
          ++st_.report.transient;
          continue;
        }
        const auto& [status, body] = answers[i];
        Outcome outcome = classify(status, error_code_of(body));
        switch (outcome) {
          case Outcome::kApplied: {
            json record = body.is_object() ? body.value("record", json()) : json();
            if (Status a = c_.acknowledge_locked(m, record); !a) {
              // A 2xx whose body we cannot read: the server applied it; keep it until a pull confirms.
              c_.store->update_mutation_state(m.id, MutationState::kRejected, m.attempts, 0,
                                              "unreadable answer: " + a.message());
              break;
            }
            ++st_.report.applied;
            st_.changed.emplace_back(m.collection, m.record_id);
            break;
          }
          case Outcome::kConflict: {
            json server = body.is_object() ? body.value("server", json()) : json();
            c_.store->set_conflict(m.id, error_message_of(body, status), server);
            if (is_record(server)) {
              c_.store_base_and_view_locked(m.collection, m.record_id, base_from_record(server));
            } else {
              c_.recompute_view(m.collection, m.record_id);
            }
            ++st_.report.conflicts;
            st_.changed.emplace_back(m.collection, m.record_id);
            if (auto stored = c_.store->mutation(m.id)) st_.conflicts.push_back(std::move(*stored));
            break;
          }
          case Outcome::kRejected: {
            c_.reject_locked(m, error_message_of(body, status));
            ++st_.report.rejected;
            st_.changed.emplace_back(m.collection, m.record_id);
            if (auto stored = c_.store->mutation(m.id)) st_.rejected.push_back(std::move(*stored));
            break;
          }
          case Outcome::kTransient: {
            int64_t at = now + std::max(backoff_ms(m.attempts), retry_after[i]);
            c_.store->update_mutation_state(m.id, MutationState::kPending, m.attempts, at,
                                            error_message_of(body, status));
            ++st_.report.transient;
            break;
          }
          case Outcome::kAuth:
          case Outcome::kUpgrade: {
            // Nothing is rejected: the whole queue waits for the app.
            c_.store->update_mutation_state(m.id, MutationState::kPending, m.attempts, 0,
                                            error_message_of(body, status));
            if (!st_.report.paused) {
              pause(outcome == Outcome::kAuth ? "sign in again (401): " + error_message_of(body, status)
                                              : "upgrade required (426): " + error_message_of(body, status));
            }
            break;
          }
        }
      }
      return Status::ok();
    });
    (void)s;  // a store failure leaves the mutations in flight: the next open requeues them
  }

  // A generic REST request: its outcome goes to the handler of its (module, action).
  void push_request(const std::string& id) {
    std::vector<Mutation> muts = begin_send({id});
    if (muts.empty()) return;
    const Mutation& m = muts.front();
    HttpRequest r{.method = m.payload.value("method", "POST"), .target = m.payload.value("url", "/")};
    for (const auto& h : m.payload.value("headers", json::array())) r.headers.add(h.at(0), h.at(1));
    if (!r.headers.get("Idempotency-Key")) r.headers.add("Idempotency-Key", m.idempotency_key);
    r.body = m.payload.value("body", "");
    auto answer = send(r);
    int64_t now = c_.clock.now_ms();
    if (!answer || classify(answer->status, "") == Outcome::kTransient) {
      int64_t after = answer ? retry_after_ms(*answer, now) : 0;
      std::string why = answer ? "HTTP " + std::to_string(answer->status) : st_.unreachable_reason;
      (void)c_.write("retry request", [&]() -> Status {
        c_.store->update_mutation_state(m.id, MutationState::kPending, m.attempts,
                                        now + std::max(backoff_ms(m.attempts), after), why);
        return Status::ok();
      });
      ++st_.report.transient;
      return;
    }
    RestOutcome outcome;
    outcome.status = answer->status;
    outcome.headers = answer->headers.fields();
    outcome.body = answer->body;
    if (answer->status >= 400) outcome.error = error_message_of(body_json(*answer), answer->status);
    (void)c_.complete(m.id, outcome);
    ++st_.report.applied;
  }

  // ---- pull ----
  std::string telemetry() {
    auto summary = c_.locked("telemetry", [&]() -> Result<OutboxSummary> { return c_.store->summary(); });
    if (!summary) return "";
    int64_t age = summary->oldest_pending_created_at_ms
                      ? std::max<int64_t>(0, (c_.clock.now_ms() - *summary->oldest_pending_created_at_ms) / 1000)
                      : 0;
    return "pending=" + std::to_string(summary->pending) + ", oldest_age_s=" + std::to_string(age) +
           ", rejected=" + std::to_string(summary->rejected);
  }

  std::optional<HttpResponse> get_page(const std::string& cursor) {
    std::string target = "/v1/sync?limit=" + std::to_string(std::max(1, c_.options.sync.pull_limit));
    if (!cursor.empty()) target += "&cursor=" + cursor;  // base64url: nothing to escape
    HttpRequest r = request("GET", target);
    r.headers.add("Offsync-Outbox", telemetry());
    return send(r);
  }

  void pull() {
    c_.set_status({SyncState::kPulling, 0, ""});
    auto stored = c_.locked("read cursor", [&]() -> Result<std::string> {
      return c_.store->meta("cursor").value_or("");
    });
    std::string cursor = stored ? *stored : "";
    while (true) {
      auto answer = get_page(cursor);
      if (!answer) return;
      if (answer->status == 410) return full_refresh();
      if (answer->status == 401 || answer->status == 426) {
        return pause(answer->status == 401 ? "sign in again (401)" : "upgrade required (426)");
      }
      json body = body_json(*answer);
      if (answer->status != 200 || !body.is_object() || !body["changes"].is_array() || !body["cursor"].is_string()) {
        ++st_.report.transient;
        return;
      }
      cursor = body["cursor"];
      json& changes = body["changes"];
      Status s = c_.write("apply pulled changes", [&]() -> Status {
        for (auto& change : changes) {
          if (!is_record(change)) continue;
          c_.put_server_record_locked(change["collection"], change["record"], base_from_record(change));
        }
        c_.store->set_meta("cursor", cursor);
        c_.store->set_meta("cursor_at", std::to_string(c_.clock.now_ms()));
        return Status::ok();
      });
      if (!s) return;
      for (const auto& change : changes) {
        if (is_record(change)) st_.changed.emplace_back(change["collection"], change["record"]);
      }
      st_.report.pulled += static_cast<int64_t>(changes.size());
      if (!body.value("has_more", false)) return;
    }
  }

  // 410: the whole server state into base_incoming, then swapped into base in one transaction and
  // every view recomputed; pending mutations stay in the outbox and on top of the new base.
  void full_refresh() {
    st_.report.full_refresh = true;
    if (!c_.write("start refresh", [&]() -> Status {
          c_.store->clear_incoming();
          return Status::ok();
        })) {
      return;
    }
    std::string cursor;
    while (true) {
      auto answer = get_page(cursor);
      if (!answer) return;
      json body = body_json(*answer);
      if (answer->status != 200 || !body.is_object() || !body["changes"].is_array() || !body["cursor"].is_string()) {
        ++st_.report.transient;
        return;
      }
      cursor = body["cursor"];
      Status s = c_.write("refresh page", [&]() -> Status {
        for (auto& change : body["changes"]) {
          if (is_record(change)) c_.store->put_incoming(change["collection"], change["record"], base_from_record(change));
        }
        return Status::ok();
      });
      if (!s) return;
      st_.report.pulled += static_cast<int64_t>(body["changes"].size());
      if (!body.value("has_more", false)) break;
    }
    (void)c_.write("swap in refresh", [&]() -> Status {
      c_.store->swap_in_incoming();
      for (const auto& [collection, record] : c_.store->all_record_keys()) {
        c_.recompute_view(collection, record);
        st_.changed.emplace_back(collection, record);
      }
      c_.store->set_meta("cursor", cursor);
      c_.store->set_meta("cursor_at", std::to_string(c_.clock.now_ms()));
      return Status::ok();
    });
  }

  void finish() {
    auto left = c_.locked("count transient", [&]() -> Result<int64_t> {
      int64_t n = 0;
      c_.store->for_each_head([&](const storage::ClientStore::Head& h) {
        if (h.state == MutationState::kPending && st_.attempted.contains(h.id)) ++n;
      });
      return n;
    });
    st_.report.transient_left = left ? *left : 0;
    auto observers = c_.observers_copy();
    for (const auto& o : observers) {
      if (!st_.changed.empty()) o->on_view_changed(st_.changed);
      for (const auto& m : st_.rejected) o->on_rejected(m);
      for (const auto& m : st_.conflicts) o->on_conflict(m);
    }
  }

  Client::Impl& c_;
  bool explicit_;
  RoundState st_;
};

}  // namespace

Result<SyncReport> Client::Impl::round(bool explicit_request) {
  if (!options.sync.transport) {
    return Status::invalid_argument("this client has no transport (ClientOptions::sync.transport)");
  }
  std::lock_guard<std::mutex> one_round(round_mu);
  {
    std::lock_guard<std::mutex> lock(state_mu);
    if (paused && !explicit_request) return SyncReport{.paused = true};
    paused = false;
  }
  Round r(*this, explicit_request);
  SyncReport report = r.run();
  int64_t now = clock.now_ms();
  SyncStatus next;
  if (report.paused) {
    next = {SyncState::kPaused, 0, report.pause_reason};
  } else if (r.unreachable()) {
    int failures;
    {
      std::lock_guard<std::mutex> lock(state_mu);
      failures = ++offline_failures;
    }
    int64_t cap = options.sync.backoff_cap_ms;
    int64_t probe = std::min(cap, options.sync.backoff_base_ms << std::min(failures - 1, 40));
    next = {SyncState::kOffline, now + probe, r.unreachable_reason()};
  } else {
    {
      std::lock_guard<std::mutex> lock(state_mu);
      offline_failures = 0;
    }
    auto at = locked("next attempt", [&]() -> Result<std::optional<int64_t>> {
      return store->next_attempt_after(now);
    });
    if (at && *at) {
      next = {SyncState::kBackingOff, **at, "transient failures"};
    } else if (options.sync.pull_interval_ms > 0) {
      next = {SyncState::kIdle, now + options.sync.pull_interval_ms, ""};
    } else {
      next = {SyncState::kIdle, 0, ""};
    }
  }
  set_status(next);
  return report;
}

void Client::Impl::set_status(SyncStatus s) {
  std::vector<std::shared_ptr<SyncObserver>> copy;
  {
    std::lock_guard<std::mutex> lock(state_mu);
    status = s;
    copy = observers;
  }
  for (const auto& o : copy) o->on_state(s);
}

std::vector<std::shared_ptr<SyncObserver>> Client::Impl::observers_copy() const {
  std::lock_guard<std::mutex> lock(state_mu);
  return observers;
}

void Client::Impl::start_worker() {
  worker = std::thread([this] { worker_loop(); });
}

void Client::Impl::stop_worker() {
  {
    std::lock_guard<std::mutex> lock(state_mu);
    stopping = true;
  }
  wake_cv.notify_all();
  if (worker.joinable()) worker.join();
}

void Client::Impl::worker_loop() {
  std::unique_lock<std::mutex> lock(state_mu);
  wake = true;  // a first round at start: the outbox may hold work from before a restart
  while (!stopping) {
    // Sleep until woken or until the next attempt is due; with nothing due, sleep until woken.
    while (!stopping && !wake) {
      int64_t due = status.next_attempt_at_ms;
      if (due == 0) {
        wake_cv.wait(lock);
      } else {
        int64_t wait_ms = due - clock.now_ms();
        if (wait_ms <= 0) break;
        wake_cv.wait_for(lock, std::chrono::milliseconds(wait_ms));
      }
    }
    if (stopping) break;
    wake = false;
    if (connectivity == Connectivity::kOffline) {
      status = {SyncState::kOffline, 0, "the app reported no network"};
      continue;
    }
    if (paused) continue;
    lock.unlock();
    (void)round(false);
    lock.lock();
  }
}

// ---- The public face of sync ----

Result<SyncReport> Client::sync_once() { return impl_->round(true); }

void Client::sync_now() {
  {
    std::lock_guard<std::mutex> lock(impl_->state_mu);
    impl_->wake = true;
  }
  impl_->wake_cv.notify_all();
}

void Client::set_connectivity(Connectivity connectivity) {
  {
    std::lock_guard<std::mutex> lock(impl_->state_mu);
    impl_->connectivity = connectivity;
    if (connectivity != Connectivity::kOffline) {
      impl_->wake = true;
      impl_->offline_failures = 0;
    }
  }
  impl_->wake_cv.notify_all();
}

void Client::set_token(const std::string& token) {
  {
    std::lock_guard<std::mutex> lock(impl_->state_mu);
    impl_->token = token;
    impl_->paused = false;
    impl_->wake = true;
  }
  impl_->wake_cv.notify_all();
}

SyncStatus Client::sync_status() const {
  std::lock_guard<std::mutex> lock(impl_->state_mu);
  return impl_->status;
}

void Client::add_observer(std::shared_ptr<SyncObserver> observer) {
  std::lock_guard<std::mutex> lock(impl_->state_mu);
  impl_->observers.push_back(std::move(observer));
}

Result<std::optional<std::pair<std::string, int64_t>>> Client::cursor() {
  return impl_->locked("cursor", [&]() -> Result<std::optional<std::pair<std::string, int64_t>>> {
    auto c = impl_->store->meta("cursor");
    if (!c) return std::optional<std::pair<std::string, int64_t>>();
    int64_t at = std::stoll(impl_->store->meta("cursor_at").value_or("0"));
    return std::optional<std::pair<std::string, int64_t>>(std::make_pair(*c, at));
  });
}

Status Client::resolve(const std::string& mutation_id, Resolution resolution, const nlohmann::json& edited) {
  std::optional<std::string> edited_text;
  if (resolution == Resolution::kEdited) {
    auto text = client_rules::check_payload(edited, impl_->options.max_payload_bytes, "edited record");
    if (!text) return text.status();
  }
  Status s = impl_->write("resolve", [&]() -> Status {
    auto m = impl_->store->mutation(mutation_id);
    if (!m) return Status::not_found("no mutation " + mutation_id + " in the outbox");
    if (m->state != MutationState::kConflict) {
      return Status::conflict("mutation " + mutation_id + " is " + std::string(mutation_state_name(m->state)) +
                              ", not in conflict");
    }
    std::optional<std::string> server_hlc;
    if (is_record(m->server_record)) server_hlc = m->server_record["hlc"].get<std::string>();
    switch (resolution) {
      case Resolution::kTakeServer:
        impl_->store->delete_mutation(m->id);
        if (m->op == MutationOp::kDelete) impl_->store->delete_tombstone(m->id);
        break;
      case Resolution::kKeepMine:
        impl_->store->renew(m->id, impl_->next_id(), server_hlc, m->op, m->payload);
        break;
      case Resolution::kEdited:
        impl_->store->renew(m->id, impl_->next_id(), server_hlc, MutationOp::kUpsert, edited);
        break;
    }
    impl_->recompute_view(m->collection, m->record_id);
    return Status::ok();
  });
  if (s) sync_now();
  return s;
}

}  // namespace offsync
