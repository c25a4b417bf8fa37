// Idempotency: each (principal, key) is claimed while its request runs (409 request_in_progress for
// a second one), and every answer but a server fault is stored with its effect, in the same
// transaction, and replayed for 30 days (docs/protocol.md, "Idempotency").
#include "engine/server/mutation_request.h"
#include "engine/server/server_impl.h"
#include "offsync/ulid.h"

namespace offsync {

using nlohmann::json;
using storage::ServerTransaction;

// Inside the write transaction: the idempotent wrapper around apply(). `body` is nullopt when
// the raw body was not JSON; `problem` then says why.
Answer Server::Impl::process(const std::string& principal, const std::string& key, std::optional<json> body,
               const std::string& raw, const json_text::Problem& problem, const std::string& sender) {
  int64_t now = clock.now_ms();
  bool deprecated = body && translate_deprecated(*body);
  std::string fp = fingerprint(kMutationsPath, body, raw);
  if (auto stored = store->answer(principal, key);
      stored && stored->created_at_ms >= now - options.idempotency_retention_ms) {
    if (stored->fingerprint != fp && stored->fingerprint != legacy_fingerprint(kMutationsPath, body, raw)) {
      return error(422, "idempotency_key_reused",
                   "Idempotency-Key " + key + " was used before with a different request", "key_reused");
    }
    store->bump(storage::ServerStore::Counter::kReplays);
    Answer a{stored->status, stored->body, true, deprecated};
    if (stored->status == 409) a.failure = "conflict";
    return a;
  }
  Answer answer;
  IncomingMutation m;
  // What a relay hands upstream: the mutation as the client sent it (parse_mutation moves it out).
  if (relay && body && body->is_object()) body->erase(kRelaySenderMember);
  std::string forwarded = relay && body ? body->dump() : std::string();
  json sender_view;
  if (!body) {
    answer = unreadable(problem);
  } else if (auto bad = parse_mutation(*body, &m)) {
    answer = *bad;
  } else {
    answer = apply(principal, m, relay ? &sender_view : nullptr);
  }
  answer.deprecated = deprecated;
  // Every answer but a server fault is stored with its effect: a retry gets it again.
  if (answer.status < 500 && answer.replayable) store->put_answer(principal, key, {fp, answer.status, answer.body, now});
  if (relay && answer.status == 200 && !forwarded.empty()) {
    // The dump of a mutation's object ends with '}': the relay's own member goes before it.
    if (sender_view.is_object() && forwarded.back() == '}') {
      forwarded.insert(forwarded.size() - 1, std::string(",\"") + kRelaySenderMember + "\":" + sender_view.dump());
    }
    store->put_forward(principal, key, m.collection, m.record_id, forwarded, now);
    if (!sender.empty()) store->put_relay_sender(principal, key, sender, now);
  }
  return answer;
}

void Server::Impl::maybe_sweep() {
  int64_t now = clock.now_ms();
  if (now - last_sweep_ms < kSweepEveryMs) return;
  last_sweep_ms = now;
  store->sweep_answers(now - options.idempotency_retention_ms);
  store->sweep_relay(now - options.idempotency_retention_ms);
  collect_attachments(now);
}

Answer Server::Impl::single_mutation(const HttpRequest& r, const std::string& principal) {
  auto key = r.headers.get("Idempotency-Key");
  if (!key || key->empty()) {
    return error(400, "idempotency_key_missing", "POST /v1/mutations needs an Idempotency-Key header");
  }
  auto ulid = Ulid::parse(*key);
  if (!ulid) return error(400, "invalid_idempotency_key", "Idempotency-Key must be a ULID");
  // Crockford base32 is case-insensitive: the canonical text is the key (docs/protocol.md).
  std::string canonical = ulid->to_string();
  // Read as the batch endpoint reads its items, so that both answer a body alike.
  json_text::Document document(r.body);
  std::optional<json> body;
  if (document.valid()) body = json_text::to_json(document.root());
  KeyClaim claim(this, principal, canonical);
  if (!claim.held) {
    return in_progress();
  }
  std::unique_lock<std::mutex> lock(db_mu);
  Answer answer = guarded_answer([&] {
    maybe_sweep();
    // Claimed across processes too: one sharing the store may be running this key.
    ServerTransaction tx(*store, principal, {canonical});
    if (!tx.held_elsewhere().empty()) return in_progress();
    Answer a = process(principal, canonical, std::move(body), r.body, document.problem(), sender_of(r));
    tx.commit();
    return a;
  });
  lock.unlock();
  if (answer.status == 200 && !answer.replayed) changed(principal);
  return answer;
}

}  // namespace offsync
