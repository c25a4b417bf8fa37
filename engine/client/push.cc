// The push half of a round: drains the outbox in ULID order, one batch in flight while the previous
// one is settled, and records every answer as docs/protocol.md classifies it.
#include <algorithm>
#include <future>

#include "engine/client/round.h"

namespace offsync {

using nlohmann::json;

bool Round::Exchange::halt() const {
  return unreachable || std::any_of(responses.begin(), responses.end(), [](const HttpResponse& r) {
           return r.status == 401 || r.status == 426;
         });
}

// A few batches' worth: enough to keep one batch in flight while the next is prepared.
size_t Round::max_wave() const { return 4 * static_cast<size_t>(std::max(1, c_.options.sync.batch_size)); }

// Streams the outbox until a wave is full: the ids to send and a hash per record seen are held,
// never the whole outbox. Settled mutations leave the outbox (or become rejected or in conflict),
// so the next wave finds the next heads at the front.
Round::Wave Round::wave() {
  Wave out;
  int64_t now = c_.clock.now_ms();
  std::unordered_set<size_t> seen_records;
  std::hash<std::string> hash;
  Status s = c_.locked("plan sync", [&]() -> Status {
    c_.store->for_each_head([&](const storage::ClientStore::Head& h) {
      // A hash collision only defers a record to the next wave.
      if (!seen_records.insert(hash(h.collection + '\n' + h.record_id)).second) return true;
      if (h.state == MutationState::kRejected || h.state == MutationState::kConflict) return true;
      if (h.waiting_for_attachments) return true;  // and so do the record's later mutations
      if (attempted_.contains(h.id)) return true;
      if (!explicit_ && h.next_attempt_at_ms > now) {
        due_at(h.next_attempt_at_ms);
        return true;
      }
      (h.op == MutationOp::kRequest ? out.requests : out.records).push_back(h.id);
      return out.records.size() + out.requests.size() < max_wave();
    });
    return Status::ok();
  });
  if (!stored(s, "planning the push")) return Wave{};
  return out;
}

void Round::push() {
  c_.set_status({SyncState::kPushing, 0, ""});
  if (!c_.observers_copy().empty()) {
    auto summary = c_.locked("count pending", [&]() -> Result<OutboxSummary> { return c_.store->summary(); });
    if (summary) push_total_ = summary->pending;
  }
  upload_attachments();
  while (!stopped()) {
    Wave next = wave();
    if (next.empty()) return;
    if (!next.records.empty() && report_.sent == 0) push_telemetry_ = telemetry();
    if (!next.records.empty()) push_records(next.records);
    for (const auto& id : next.requests) {
      if (stopped()) break;
      push_request(id);
    }
  }
}

// Marks the mutations as sent (frozen from here on) in one transaction and loads them.
Round::Chunk Round::begin_send(const std::vector<std::string>& ids) {
  Chunk out;
  Status s = c_.write("begin send", [&]() -> Status {
    for (auto& [m, payload] : c_.store->begin_sending(ids)) {
      out.muts.push_back(std::move(m));
      out.payloads.push_back(std::move(payload));
    }
    return Status::ok();
  });
  if (!stored(s, "marking mutations as sent")) return Chunk{};
  for (const auto& m : out.muts) attempted_.insert(m.id);
  report_.sent += static_cast<int64_t>(out.muts.size());
  out.telemetry = std::exchange(push_telemetry_, std::string());
  return out;
}

// A prepared chunk whose request never left: back to pending as if never begun.
void Round::unsend(const Chunk& chunk) {
  Status s = c_.write("unsend", [&]() -> Status {
    for (const auto& m : chunk.muts) c_.store->unmark_sending(m.id);
    return Status::ok();
  });
  // If that failed, the mutations stay in flight in the store: the next open requeues them.
  (void)stored(s, "returning unsent mutations to pending");
  for (const auto& m : chunk.muts) attempted_.erase(m.id);
  report_.sent -= static_cast<int64_t>(chunk.muts.size());
}

bool Round::server_has_batch() {
  if (c_.server_has_batch) return *c_.server_has_batch;
  auto answer = send(request("GET", "/v1/health"));
  if (!answer) return false;
  auto body = json_text::parse(answer->body);
  auto batch = body ? json_text::member(*body, "batch") : std::nullopt;
  c_.server_has_batch = answer->status == 200 && batch && batch->kind == json_text::Kind::kTrue;
  return *c_.server_has_batch;
}

void Round::build_batch_body(Chunk& chunk) {
  std::string& body = chunk.batch_body;
  body = "{\"mutations\":[";
  for (size_t i = 0; i < chunk.muts.size(); ++i) {
    if (i > 0) body += ',';
    body += wire::mutation_body(chunk.muts[i], chunk.payloads[i], true);
  }
  body += "]}";
}

// Sends a wave's records chunk by chunk with one request in flight: while the server works on
// chunk k, this thread reads and settles chunk k-1's answers and prepares chunk k+1. A wave holds
// at most one mutation per record, so chunks never touch each other's records.
void Round::push_records(const std::vector<std::string>& ids) {
  size_t size = static_cast<size_t>(std::max(1, c_.options.sync.batch_size));
  if (c_.batch_limit > 0) size = std::min(size, c_.batch_limit);
  size_t next = 0;
  bool batch = false;
  auto prepare = [&]() -> std::optional<Chunk> {
    while (next < ids.size() && !stopped()) {
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
  if (stopped()) return settle(*sending, {}, unreachable_reason_);
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
    if (answers.reached) report_.reached = true;
    if (answers.unreachable) {
      unreachable_ = true;
      unreachable_reason_ = answers.unreachable_reason;
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
    if (following && !answers.halt() && !stopped()) {
      sending = std::move(following);
      in_flight = start(*sending);
    } else if (following) {
      unsend(*following);
      next = ids.size();
    }
    std::deque<json_text::Document> documents;
    settle(done, read_replies(done, answers, documents), answers.unreachable_reason);
    push_done_ += static_cast<int64_t>(done.muts.size());  // sent counts the chunk in flight too
    progress_ = SyncProgress{SyncProgress::Step::kPush, push_done_, push_total_};
    tell_observers();
  }
}

// Runs on a helper thread while the worker settles the previous chunk: it touches no round
// state, only the transport (one request at a time) and what it returns.
Round::Exchange Round::exchange(const Chunk& chunk, bool batch) const {
  Exchange out;
  auto transmit = [&](const HttpRequest& r) -> const HttpResponse* {
    auto answer = c_.send(r);
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
    if (!chunk.telemetry.empty()) r.headers.add("Offsync-Outbox", chunk.telemetry);
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
    if (i == 0 && !chunk.telemetry.empty()) r.headers.add("Offsync-Outbox", chunk.telemetry);
    r.body = wire::mutation_body(chunk.muts[i], chunk.payloads[i], false);
    if (!transmit(r)) break;
  }
  return out;
}

// The answer of each mutation of the chunk that got one, in order. Reads `answers` (in
// `documents`, which must outlive the replies). An answer that cannot be read is a reply with
// status 0: its outcome is unknown, the mutation is retried with the same key, and the server's
// stored answer settles it.
std::vector<Round::Reply> Round::read_replies(const Chunk& chunk, const Exchange& answers,
                                              std::deque<json_text::Document>& documents) const {
  int64_t now = c_.clock.now_ms();
  int64_t cap = c_.options.sync.backoff_cap_ms;
  auto read = [&](const HttpResponse& r) {
    json_text::Document& d = documents.emplace_back(r.body);
    Reply reply{r.status, d.root(), retry_after_ms(r, now, cap), ""};
    reply.replayed = r.headers.get("Idempotent-Replayed") == std::optional<std::string>("true");
    if (!d.valid() && r.status >= 200 && r.status < 300) {
      reply.status = 0;
      reply.unreadable = "unreadable answer (HTTP " + std::to_string(r.status) + "): " + d.problem().message();
    }
    return reply;
  };
  std::vector<Reply> replies;
  if (!answers.batch) {
    for (const auto& r : answers.responses) replies.push_back(read(r));
    return replies;
  }
  const HttpResponse& answer = answers.responses.front();
  Reply whole = read(answer);
  auto results = json_text::member(whole.body, "results");
  if (answer.status >= 200 && answer.status < 300 && (!results || !results->is_array())) {
    if (whole.unreadable.empty()) whole.unreadable = "unreadable batch answer (HTTP " + std::to_string(answer.status) + "): no \"results\" array";
    whole.status = 0;
  }
  if (whole.status == 0 || answer.status != 200 || !results || !results->is_array()) {
    // The whole batch was refused (5xx, 429, 401, 426 ...) or its answer is unreadable: each
    // mutation shares that answer.
    replies.assign(chunk.muts.size(), whole);
    return replies;
  }
  json_text::for_each_element(*results, [&](const json_text::Value& item) {
    Reply& reply = replies.emplace_back();
    json_text::for_each_member(item, [&](std::string_view key, const json_text::Value& v) {
      if (key == "status") {
        auto status = json_text::int_of(v).value_or(0);
        reply.status = status >= 100 && status <= 599 ? static_cast<int>(status) : 0;
      }
      if (key == "body") reply.body = v;
      if (key == "replayed") reply.replayed = v.text == "true";
      return true;
    });
    if (reply.status == 0) reply.unreadable = "unreadable batch item: no HTTP \"status\"";
    return true;
  });
  // An answer that does not match the request one to one is no answer at all: unknown outcome.
  if (replies.size() != chunk.muts.size()) {
    Reply unknown;
    unknown.unreadable = "the batch answer holds " + std::to_string(replies.size()) + " results for " +
                         std::to_string(chunk.muts.size()) + " mutations";
    replies.assign(chunk.muts.size(), unknown);
  }
  return replies;
}

// Records every answer in one transaction. Mutations without a reply got no answer: their
// outcome is unknown, and they are retried with the same key.
void Round::settle(const Chunk& chunk, const std::vector<Reply>& replies, const std::string& unreachable_reason) {
  int64_t now = c_.clock.now_ms();
  size_t changed = changed_.size(), rejected = rejected_.size(), conflicts = conflicts_.size();
  Status s = c_.write("settle answers", [&]() -> Status {
    for (size_t i = 0; i < chunk.muts.size(); ++i) {
      if (i >= replies.size()) {
        keep_pending(chunk.muts[i], now, 0, unreachable_reason.empty() ? "no answer" : unreachable_reason);
        continue;
      }
      settle_one(chunk.muts[i], replies[i], now);
    }
    // Acknowledged mutations leave the outbox: their ids and keys stay the high-water mark, kept
    // once for the chunk.
    std::string newest;
    for (const Mutation& m : chunk.muts) newest = std::max({newest, m.id, m.idempotency_key});
    if (!newest.empty()) c_.store->raise_id_high_water(newest);
    return Status::ok();
  });
  if (!stored(s, "recording the server's answers")) {
    // Nothing of the answers was kept: the mutations stay in flight and are sent again with their
    // keys (after a restart if need be), and the server's stored answers settle them then.
    changed_.resize(changed);
    rejected_.resize(rejected);
    conflicts_.resize(conflicts);
  }
}

void Round::keep_pending(const Mutation& m, int64_t now, int64_t at_least_ms, const std::string& why) {
  int64_t at = now + std::max(backoff_.delay_ms(m.attempts), at_least_ms);
  c_.store->update_mutation_state(m.id, MutationState::kPending, m.attempts, at, why);
  due_at(at);
  ++report_.transient;
}

// Under the store lock, inside settle's transaction: one answer, classified (docs/protocol.md).
void Round::settle_one(const Mutation& m, const Reply& reply, int64_t now) {
  const json_text::Value& body = reply.body;
  if (reply.status == 0) {
    if (!reply.unreadable.empty()) log(LogLevel::kWarning, "mutation " + m.id + ": " + reply.unreadable);
    return keep_pending(m, now, reply.retry_after_ms, reply.unreadable.empty() ? "no answer" : reply.unreadable);
  }
  Outcome outcome = classify(reply.status, reply.status >= 400 ? wire::error_code_of(body) : "");
  if (reply.status == 422 && wire::error_code_of(body) == "attachment_missing" && c_.requeue_attachments_locked(m)) {
    // The server lost (or collected) an attachment this store still holds: upload it again, then
    // send the mutation again with its key (the server did not keep that answer).
    return keep_pending(m, now, 0, wire::error_message_of(body, reply.status));
  }
  switch (outcome) {
    case Outcome::kApplied: {
      auto record = wire::applied_record(body);
      auto base = record ? acknowledged_base(m.op, *record) : Result<std::optional<storage::BaseText>>(record.status());
      if (!base) {
        // Not an answer this protocol gives (a captive portal, a proxy, a body garbled on the way):
        // the outcome is unknown, so the mutation is sent again with its key.
        std::string why = "unreadable answer (HTTP " + std::to_string(reply.status) + "): " + base.status().message();
        log(LogLevel::kWarning, "mutation " + m.id + ": " + why);
        return keep_pending(m, now, reply.retry_after_ms, why);
      }
      // Observers hear of it only when the server's record differs from what the view showed.
      if (c_.acknowledge_locked(m, *base ? &**base : nullptr, reply.replayed)) {
        changed_.emplace_back(m.collection, m.record_id);
      }
      attempted_.erase(m.id);
      ++report_.applied;
      return;
    }
    case Outcome::kConflict: {
      auto server = json_text::member(body, "server");
      auto record = server ? read_server_record(*server) : std::nullopt;
      json server_record = record ? json::parse(server->text) : json();
      // A replayed 409 carries the record as it was then: a version pulled since is newer, and is
      // what the user resolves against (the base does not go back in time).
      std::optional<storage::BaseText> newer;
      if (record && !record->base.hlc.empty()) newer = c_.newer_base_than(m.collection, m.record_id, record->base.hlc);
      if (newer) {
        server_record = {{"collection", m.collection}, {"record", m.record_id},
                         {"op", newer->deleted ? "delete" : "upsert"}, {"fields", json::parse(newer->fields)},
                         {"hlc", newer->hlc}, {"field_hlc", json::parse(newer->field_hlc)},
                         {"attachments", json::parse(newer->attachments)}};
      }
      c_.store->set_conflict(m.id, wire::error_message_of(body, reply.status), server_record);
      if (record && !newer) {
        c_.store_base_and_view_locked(m.collection, m.record_id, record->base);
      } else {
        c_.recompute_view(m.collection, m.record_id);
      }
      ++report_.conflicts;
      attempted_.erase(m.id);
      changed_.emplace_back(m.collection, m.record_id);
      if (auto stored_m = c_.store->mutation(m.id)) conflicts_.push_back(std::move(*stored_m));
      return;
    }
    case Outcome::kRejected: {
      c_.reject_locked(m, wire::error_message_of(body, reply.status), wire::error_code_of(body), reply.status);
      attempted_.erase(m.id);
      ++report_.rejected;
      changed_.emplace_back(m.collection, m.record_id);
      if (auto stored_m = c_.store->mutation(m.id)) rejected_.push_back(std::move(*stored_m));
      return;
    }
    case Outcome::kTransient:
      return keep_pending(m, now, reply.retry_after_ms, wire::error_message_of(body, reply.status));
    case Outcome::kAuth:
    case Outcome::kUpgrade: {
      // Nothing is rejected: the whole queue waits for the app.
      std::string message = wire::error_message_of(body, reply.status);
      c_.store->update_mutation_state(m.id, MutationState::kPending, m.attempts, 0, message);
      if (!report_.paused) {
        pause(outcome == Outcome::kAuth ? "sign in again (401): " + message : "upgrade required (426): " + message,
              outcome == Outcome::kAuth);
      }
      return;
    }
  }
}

// A generic REST request: its outcome goes to the handler of its (module, action).
void Round::push_request(const std::string& id) {
  Chunk chunk = begin_send({id});
  if (chunk.muts.empty()) return;
  Mutation& m = chunk.muts.front();
  HttpRequest r;
  try {
    m.payload = json::parse(chunk.payloads.front());
    r = HttpRequest{.method = m.payload.value("method", "POST"), .target = m.payload.value("url", "/")};
    for (const auto& h : m.payload.value("headers", json::array())) r.headers.add(h.at(0), h.at(1));
    r.body = m.payload.value("body", "");
  } catch (const json::exception& e) {
    (void)stored(Status::corrupt("request " + m.id + " in the outbox is unreadable: " + e.what()), "reading a request");
    return;
  }
  if (!r.headers.get("Idempotency-Key")) r.headers.add("Idempotency-Key", m.idempotency_key);
  auto answer = send(r);
  int64_t now = c_.clock.now_ms();
  // A REST request's answer is the other API's own: only its status decides (5xx, 429, 409: retried).
  auto retried = [](int status) { return status < 200 || status == 408 || status == 409 || status == 429 || status >= 500; };
  if (!answer || retried(answer->status)) {
    int64_t after = answer ? retry_after_ms(*answer, now, c_.options.sync.backoff_cap_ms) : 0;
    std::string why = answer ? "HTTP " + std::to_string(answer->status) : unreachable_reason_;
    (void)stored(c_.write("retry request", [&]() -> Status {
                   keep_pending(m, now, after, why);
                   return Status::ok();
                 }),
                 "scheduling a request's retry");
    return;
  }
  RestOutcome outcome;
  outcome.status = answer->status;
  outcome.headers = answer->headers.fields();
  outcome.body = answer->body;
  if (answer->status >= 400) {
    outcome.error = wire::error_message_of(json_text::parse(answer->body).value_or(json_text::Value{}), answer->status);
  }
  if (Status s = c_.complete(m.id, outcome); !s) log(LogLevel::kWarning, "request " + m.id + ": " + s.to_string());
  ++report_.applied;
}

}  // namespace offsync
