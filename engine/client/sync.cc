// The sync worker: pushes the outbox in ULID order with idempotency keys, classifies every answer
// (PROTOCOL.md's table), pulls changes by cursor, and backs off with full jitter.
#include <chrono>
#include <ctime>
#include <deque>
#include <future>
#include <set>
#include <unordered_set>

#include "engine/client/client_impl.h"
#include "engine/common/input_rules.h"
#include "engine/client/server_record.h"
#include "engine/common/json_text.h"
#include "engine/client/view.h"

namespace offsync {

using nlohmann::json;

namespace {

enum class Outcome { kApplied, kTransient, kConflict, kRejected, kAuth, kUpgrade };

// A member of the error object of an answer body ({"error": {"code", "message"}}), or "".
std::string error_member(const json_text::Value& body, std::string_view key) {
  auto error = json_text::member(body, "error");
  auto value = error ? json_text::member(*error, key) : std::nullopt;
  return value && value->is_string() ? json_text::string_of(*value) : "";
}

std::string error_code_of(const json_text::Value& body) { return error_member(body, "code"); }

std::string error_message_of(const json_text::Value& body, int status) {
  std::string message = error_member(body, "message");
  return message.empty() ? "HTTP " + std::to_string(status) : message;
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
std::string mutation_body(const Mutation& m, const std::string& payload_text, bool with_key) {
  std::string out = "{";
  if (!m.attachments.empty()) out += "\"attachments\":" + json(m.attachments).dump() + ",";
  out += "\"base\":" + (m.base_hlc ? json_text::quoted(*m.base_hlc) : std::string("null"));
  out += ",\"collection\":";
  json_text::append_string(out, m.collection);
  if (m.op != MutationOp::kDelete) out += ",\"fields\":" + payload_text;
  out += ",\"id\":\"" + m.id + "\"";  // a ULID: nothing to escape
  if (with_key) out += ",\"idempotency_key\":\"" + m.idempotency_key + "\"";
  out += ",\"op\":\"" + std::string(mutation_op_name(m.op)) + "\"";
  out += ",\"record\":";
  json_text::append_string(out, m.record_id);
  out += '}';
  return out;
}

// A sync page read from its text: its readable changes, its cursor, and whether more follow.
struct Page {
  std::vector<ServerRecord> changes;
  size_t count = 0;  // every change on the page, readable or not
  std::string cursor;
  bool has_more = false;
};

std::optional<Page> read_page(const HttpResponse& answer) {
  if (answer.status != 200) return std::nullopt;
  json_text::Document document(answer.body);
  auto body = document.valid() ? std::optional(document.root()) : std::nullopt;
  auto changes = body ? json_text::member(*body, "changes") : std::nullopt;
  auto cursor = body ? json_text::member(*body, "cursor") : std::nullopt;
  if (!changes || !changes->is_array() || !cursor || !cursor->is_string()) return std::nullopt;
  Page page;
  page.cursor = json_text::string_of(*cursor);
  auto more = json_text::member(*body, "has_more");
  page.has_more = more && more->kind == json_text::Kind::kTrue;
  json_text::for_each_element(*changes, [&](const json_text::Value& change) {
    ++page.count;
    if (auto record = read_server_record(change)) page.changes.push_back(std::move(*record));
    return true;
  });
  return page;
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
  HttpRequest request(const std::string& method, const std::string& target) const {
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

  bool stopped() const { return st_.unreachable || st_.report.paused; }

  void push() {
    c_.set_status({SyncState::kPushing, 0, ""});
    while (!stopped()) {
      Wave next = wave();
      if (next.empty()) return;
      if (!next.records.empty()) push_records(next.records);
      for (const auto& id : next.requests) {
        if (stopped()) break;
        push_request(id);
      }
    }
  }

  // The mutations of one request, marked in flight, with their payloads as stored text.
  struct Chunk {
    std::vector<Mutation> muts;
    std::vector<std::string> payloads;
    std::string batch_body;  // POST /v1/mutations:batch's body, built before the chunk is sent
  };

  // What the transport brought back for a chunk, in request order: one batch answer, or one answer
  // per mutation sent through the single endpoint. Mutations past those answers got none.
  struct Exchange {
    std::deque<HttpResponse> responses;  // a deque: replies point into the bodies (stable addresses)
    bool batch = false;                  // responses[0] answers the whole chunk
    bool batch_unsupported = false;      // 404/405 on the batch endpoint: sent one by one instead
    bool reached = false;
    bool unreachable = false;
    std::string unreachable_reason;
    // Nothing more should be sent: no answer, or 401/426 (the queue pauses).
    bool halt() const {
      return unreachable || std::any_of(responses.begin(), responses.end(), [](const HttpResponse& r) {
               return r.status == 401 || r.status == 426;
             });
    }
  };

  // One mutation's answer: its status and body (a view into Exchange::responses).
  struct Reply {
    int status = 0;
    json_text::Value body;  // kind null (text empty) when the body is not JSON
    int64_t retry_after_ms = 0;
  };

  // Marks the mutations as sent (frozen from here on) in one transaction and loads them.
  Chunk begin_send(const std::vector<std::string>& ids) {
    Chunk out;
    Status s = c_.write("begin send", [&]() -> Status {
      for (auto& [m, payload] : c_.store->begin_sending(ids)) {
        out.muts.push_back(std::move(m));
        out.payloads.push_back(std::move(payload));
      }
      return Status::ok();
    });
    if (!s) out = Chunk{};
    for (const auto& m : out.muts) st_.attempted.insert(m.id);
    st_.report.sent += static_cast<int64_t>(out.muts.size());
    return out;
  }

  // A prepared chunk whose request never left: back to pending as if never begun.
  void unsend(const Chunk& chunk) {
    (void)c_.write("unsend", [&]() -> Status {
      for (const auto& m : chunk.muts) c_.store->unmark_sending(m.id);
      return Status::ok();
    });
    for (const auto& m : chunk.muts) st_.attempted.erase(m.id);
    st_.report.sent -= static_cast<int64_t>(chunk.muts.size());
  }

  bool server_has_batch() {
    if (c_.server_has_batch) return *c_.server_has_batch;
    auto answer = send(request("GET", "/v1/health"));
    if (!answer) return false;
    json body = body_json(*answer);
    c_.server_has_batch = answer->status == 200 && body.is_object() && body.value("batch", false);
    return *c_.server_has_batch;
  }

  static void build_batch_body(Chunk& chunk) {
    std::string& body = chunk.batch_body;
    body = "{\"mutations\":[";
    for (size_t i = 0; i < chunk.muts.size(); ++i) {
      if (i > 0) body += ',';
      body += mutation_body(chunk.muts[i], chunk.payloads[i], true);
    }
    body += "]}";
  }

  // Sends a wave's records chunk by chunk with one request in flight: while the server works on
  // chunk k, this thread reads and settles chunk k-1's answers and prepares chunk k+1. A wave holds
  // at most one mutation per record, so chunks never touch each other's records.
  void push_records(const std::vector<std::string>& ids) {
    size_t size = static_cast<size_t>(std::max(1, c_.options.sync.batch_size));
    if (c_.batch_limit > 0) size = std::min(size, c_.batch_limit);
    size_t next = 0;
    bool batch = false;
    auto prepare = [&]() -> std::optional<Chunk> {
      while (next < ids.size()) {
        auto first = ids.begin() + static_cast<std::ptrdiff_t>(next);
        next = std::min(ids.size(), next + size);
        Chunk chunk = begin_send(std::vector<std::string>(first, ids.begin() + static_cast<std::ptrdiff_t>(next)));
        if (chunk.muts.empty()) continue;
        if (batch) build_batch_body(chunk);
        return chunk;
      }
      return std::nullopt;
    };
    std::optional<Chunk> sending = prepare();
    if (!sending) return;
    // Asked after the first chunk is begun: a server that cannot be reached counts as a failed
    // attempt of that chunk, with its backoff, as a failed POST would.
    batch = server_has_batch();
    if (stopped()) return settle(*sending, {}, st_.unreachable_reason);
    if (batch) build_batch_body(*sending);
    auto start = [&](const Chunk& chunk) {
      auto carry = [this, &chunk, batch] { return exchange(chunk, batch); };
      try {
        return std::async(std::launch::async, carry);
      } catch (const std::system_error&) {
        return std::async(std::launch::deferred, carry);  // no thread to spare: carried on this one
      }
    };
    std::future<Exchange> in_flight = start(*sending);
    while (sending) {
      std::optional<Chunk> following = prepare();
      Exchange answers = in_flight.get();
      Chunk done = std::move(*sending);
      sending.reset();
      if (answers.reached) st_.report.reached = true;
      if (answers.unreachable) {
        st_.unreachable = true;
        st_.unreachable_reason = answers.unreachable_reason;
      }
      if (answers.batch_unsupported) {
        c_.server_has_batch = batch = false;
        if (following) following->batch_body.clear();
      }
      if (answers.batch && answers.responses.front().status == 413 && done.muts.size() > 1) {
        // Too large for this server, and nothing in it was applied: the wave is planned again in
        // batches half the size, down to one mutation, whose 413 is then its own (validation).
        c_.batch_limit = std::max<size_t>(1, done.muts.size() / 2);
        unsend(done);
        if (following) unsend(*following);
        return;
      }
      if (following && !answers.halt()) {
        sending = std::move(following);
        in_flight = start(*sending);
      } else if (following) {
        unsend(*following);
        next = ids.size();
      }
      std::deque<json_text::Document> documents;
      settle(done, read_replies(done, answers, documents), answers.unreachable_reason);
    }
  }

  // Runs on a helper thread while the worker settles the previous chunk: it touches no round
  // state, only the transport (one request at a time) and what it returns.
  Exchange exchange(const Chunk& chunk, bool batch) const {
    Exchange out;
    auto transmit = [&](const HttpRequest& r) -> const HttpResponse* {
      auto answer = c_.options.sync.transport->send(r);
      if (!answer) {
        out.unreachable = true;
        out.unreachable_reason = answer.status().message();
        return nullptr;
      }
      out.reached = true;
      return &out.responses.emplace_back(std::move(*answer));
    };
    if (batch) {
      HttpRequest r = request("POST", "/v1/mutations:batch");
      r.body = chunk.batch_body;
      const HttpResponse* answer = transmit(r);
      if (!answer || (answer->status != 404 && answer->status != 405)) {
        out.batch = answer != nullptr;
        return out;
      }
      out.responses.pop_back();
      out.batch_unsupported = true;
    }
    for (size_t i = 0; i < chunk.muts.size() && !out.halt(); ++i) {
      HttpRequest r = request("POST", "/v1/mutations");
      r.headers.add("Idempotency-Key", chunk.muts[i].idempotency_key);
      r.body = mutation_body(chunk.muts[i], chunk.payloads[i], false);
      if (!transmit(r)) break;
    }
    return out;
  }

  // The answer of each mutation of the chunk that got one, in order. Reads `answers` (in
  // `documents`, which must outlive the replies).
  std::vector<Reply> read_replies(const Chunk& chunk, const Exchange& answers,
                                  std::deque<json_text::Document>& documents) const {
    int64_t now = c_.clock.now_ms();
    auto json_of = [&](const HttpResponse& r) { return documents.emplace_back(r.body).root(); };
    std::vector<Reply> replies;
    if (!answers.batch) {
      for (const auto& r : answers.responses) replies.push_back(Reply{r.status, json_of(r), retry_after_ms(r, now)});
      return replies;
    }
    const HttpResponse& answer = answers.responses.front();
    json_text::Value body = json_of(answer);
    auto results = json_text::member(body, "results");
    if (answer.status != 200 || !results || !results->is_array()) {
      // The whole batch was refused (5xx, 429, 401, 426 ...): each mutation shares that answer.
      replies.assign(chunk.muts.size(), Reply{answer.status, body, retry_after_ms(answer, now)});
      return replies;
    }
    json_text::for_each_element(*results, [&](const json_text::Value& item) {
      Reply& reply = replies.emplace_back();
      json_text::for_each_member(item, [&](std::string_view key, const json_text::Value& v) {
        if (key == "status") reply.status = static_cast<int>(json_text::int_of(v).value_or(0));
        if (key == "body") reply.body = v;
        return true;
      });
      return true;
    });
    // An answer that does not match the request one to one is no answer at all: unknown outcome.
    if (replies.size() != chunk.muts.size()) replies.assign(chunk.muts.size(), Reply{});
    return replies;
  }

  // Records every answer in one transaction. Mutations without a reply got no answer: their
  // outcome is unknown, and they are retried with the same key.
  void settle(const Chunk& chunk, const std::vector<Reply>& replies, const std::string& unreachable_reason) {
    int64_t now = c_.clock.now_ms();
    Status s = c_.write("settle answers", [&]() -> Status {
      for (size_t i = 0; i < chunk.muts.size(); ++i) {
        const Mutation& m = chunk.muts[i];
        if (i >= replies.size()) {
          int64_t at = now + backoff_ms(m.attempts);
          c_.store->update_mutation_state(m.id, MutationState::kPending, m.attempts, at,
                                          unreachable_reason.empty() ? "no answer" : unreachable_reason);
          ++st_.report.transient;
          continue;
        }
        settle_one(m, replies[i], now);
      }
      return Status::ok();
    });
    (void)s;  // a store failure leaves the mutations in flight: the next open requeues them
  }

  // Under the store lock, inside settle's transaction: one answer, classified (PROTOCOL.md).
  void settle_one(const Mutation& m, const Reply& reply, int64_t now) {
    const json_text::Value& body = reply.body;
    // Only a 409's error code changes its class: no other answer is searched for one.
    Outcome outcome = classify(reply.status, reply.status == 409 ? error_code_of(body) : "");
    switch (outcome) {
      case Outcome::kApplied: {
        auto base = acknowledged_base(m.op, json_text::member(body, "record").value_or(json_text::Value{}));
        if (!base) {
          // A 2xx whose body we cannot read: the server applied it; keep it until a pull confirms.
          c_.store->update_mutation_state(m.id, MutationState::kRejected, m.attempts, 0,
                                          "unreadable answer: " + base.status().message());
          return;
        }
        c_.acknowledge_locked(m, *base ? &**base : nullptr);
        ++st_.report.applied;
        st_.changed.emplace_back(m.collection, m.record_id);
        return;
      }
      case Outcome::kConflict: {
        auto server = json_text::member(body, "server");
        c_.store->set_conflict(m.id, error_message_of(body, reply.status),
                               server ? json::parse(server->text) : json());
        if (auto record = server ? read_server_record(*server) : std::nullopt) {
          c_.store_base_and_view_locked(m.collection, m.record_id, record->base);
        } else {
          c_.recompute_view(m.collection, m.record_id);
        }
        ++st_.report.conflicts;
        st_.changed.emplace_back(m.collection, m.record_id);
        if (auto stored = c_.store->mutation(m.id)) st_.conflicts.push_back(std::move(*stored));
        return;
      }
      case Outcome::kRejected: {
        c_.reject_locked(m, error_message_of(body, reply.status));
        ++st_.report.rejected;
        st_.changed.emplace_back(m.collection, m.record_id);
        if (auto stored = c_.store->mutation(m.id)) st_.rejected.push_back(std::move(*stored));
        return;
      }
      case Outcome::kTransient: {
        int64_t at = now + std::max(backoff_ms(m.attempts), reply.retry_after_ms);
        c_.store->update_mutation_state(m.id, MutationState::kPending, m.attempts, at,
                                        error_message_of(body, reply.status));
        ++st_.report.transient;
        return;
      }
      case Outcome::kAuth:
      case Outcome::kUpgrade: {
        // Nothing is rejected: the whole queue waits for the app.
        std::string message = error_message_of(body, reply.status);
        c_.store->update_mutation_state(m.id, MutationState::kPending, m.attempts, 0, message);
        if (!st_.report.paused) {
          pause(outcome == Outcome::kAuth ? "sign in again (401): " + message : "upgrade required (426): " + message);
        }
        return;
      }
    }
  }

  // A generic REST request: its outcome goes to the handler of its (module, action).
  void push_request(const std::string& id) {
    Chunk chunk = begin_send({id});
    if (chunk.muts.empty()) return;
    Mutation& m = chunk.muts.front();
    m.payload = json::parse(chunk.payloads.front());
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
    if (answer->status >= 400) {
      outcome.error = error_message_of(json_text::parse(answer->body).value_or(json_text::Value{}), answer->status);
    }
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
    auto interrupt = [&](const HttpResponse& answer) {
      if (answer.status == 410) {
        full_refresh();
        return true;
      }
      if (answer.status == 401 || answer.status == 426) {
        pause(answer.status == 401 ? "sign in again (401)" : "upgrade required (426)");
        return true;
      }
      return false;
    };
    auto apply = [&](const Page& page) {
      for (const auto& change : page.changes) {
        c_.put_server_record_locked(change.collection, change.record_id, change.base);
      }
      c_.store->set_meta("cursor", page.cursor);
      c_.store->set_meta("cursor_at", std::to_string(c_.clock.now_ms()));
    };
    auto applied = [&](Page& page) {
      for (auto& change : page.changes) st_.changed.emplace_back(std::move(change.collection), std::move(change.record_id));
    };
    (void)read_log(stored ? *stored : "", interrupt, apply, applied);
  }

  // Reads the change log from `cursor` page by page while has_more, each page stored by `apply` in
  // one write transaction, then handed to `applied`. Returns the last cursor once the log is read
  // to its end; nullopt when it stopped: no answer, an unreadable page (counted transient), a store
  // error, or an answer that `interrupt` took over.
  template <typename Interrupt, typename Apply, typename Applied>
  std::optional<std::string> read_log(std::string cursor, Interrupt interrupt, Apply apply, Applied applied) {
    while (true) {
      auto answer = get_page(cursor);
      if (!answer || interrupt(*answer)) return std::nullopt;
      auto page = read_page(*answer);
      if (!page) {
        ++st_.report.transient;
        return std::nullopt;
      }
      Status s = c_.write("apply a sync page", [&]() -> Status {
        apply(*page);
        return Status::ok();
      });
      if (!s) return std::nullopt;
      cursor = page->cursor;
      applied(*page);
      st_.report.pulled += static_cast<int64_t>(page->count);
      if (!page->has_more) return cursor;
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
    auto cursor = read_log(
        "", [](const HttpResponse&) { return false; },
        [&](const Page& page) {
          for (const auto& change : page.changes) c_.store->put_incoming(change.collection, change.record_id, change.base);
        },
        [](Page&) {});
    if (!cursor) return;
    (void)c_.write("swap in refresh", [&]() -> Status {
      c_.store->swap_in_incoming();
      for (const auto& [collection, record] : c_.store->all_record_keys()) {
        c_.recompute_view(collection, record);
        st_.changed.emplace_back(collection, record);
      }
      c_.store->set_meta("cursor", *cursor);
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
    auto text = input_rules::check_payload(edited, impl_->options.max_payload_bytes, "edited record");
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
