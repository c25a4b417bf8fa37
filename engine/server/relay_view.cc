// Relay mode, the server's side (engine/server/relay.h): what a lane's view says enters the relay's
// change log in the lane's partition, upstream's refusals reach the local client that sent the
// mutation, and the relay's gauges.
#include <sstream>

#include "engine/server/relay.h"
#include "engine/server/server_impl.h"

namespace offsync {

using nlohmann::json;
using storage::ServerTransaction;

void Server::Impl::absorb_upstream(const std::string& principal, Client& upstream,
                                   const std::vector<std::pair<std::string, std::string>>& records) {
  // The views first (the upstream client's lock only), then one transaction of the relay's store
  // for a page's worth of records.
  struct Seen {
    const std::pair<std::string, std::string>* key;
    std::optional<Record> view;
    std::vector<std::string> attachments;
  };
  std::vector<Seen> seen;
  seen.reserve(records.size());
  for (const auto& key : records) {
    auto view = upstream.get(key.first, key.second);
    if (!view && view.status().code() != StatusCode::kNotFound) {
      log(LogLevel::kError, "relay: reading " + key.first + "/" + key.second + " upstream: " + view.status().message());
      continue;
    }
    Seen s{&key, std::nullopt, {}};
    if (view) {
      s.view = std::move(*view);
      if (auto listed = upstream.attachments_of(key.first, key.second)) s.attachments = std::move(*listed);
    }
    seen.push_back(std::move(s));
  }
  if (seen.empty()) return;
  std::lock_guard<std::mutex> lock(db_mu);
  Status s = storage::guarded("absorb upstream changes", [&]() -> Status {
    ServerTransaction tx(*store);
    for (const Seen& one : seen) {
      const auto& [collection, record_id] = *one.key;
      auto current = store->record(principal, collection, record_id);
      bool live = current && !current->deleted;
      // A local mutation of it not handed over yet: the relay's record is newer than upstream's
      // view, which is absorbed again once the hand-over made the view include it.
      if (store->has_forward_for(principal, collection, record_id)) {
        relay_skipped.emplace(principal, collection, record_id);
        continue;
      }
      if (one.view ? (live && current->fields == one.view->fields && current->attachments == json(one.attachments))
                   : !live) {
        continue;  // the relay already shows it (the echo of its own forwarded write)
      }
      std::string stamp = hlc->now().to_string();
      storage::StoredRecord r;
      r.collection = collection;
      r.record_id = record_id;
      r.hlc = stamp;
      r.changed_at_ms = clock.now_ms();
      if (one.view) {
        r.fields = one.view->fields;
        for (const auto& [field, value] : r.fields.items()) {
          bool same = live && current->fields.contains(field) && current->fields[field] == value &&
                      current->field_hlc.contains(field);
          r.field_hlc[field] = same ? current->field_hlc[field] : json(stamp);
        }
        r.attachments = one.attachments;
      } else {
        r.deleted = true;
      }
      r.seq = store->next_seq();
      std::string attachments_text = r.attachments.empty() ? "[]" : r.attachments.dump();
      store->put_record(principal, r, r.fields.dump(), r.field_hlc.dump(), attachments_text);
    }
    tx.commit();
    return Status::ok();
  });
  if (!s) log(LogLevel::kError, "relay: " + s.message());
  changed(principal);  // its devices waiting on the relay look again
}

std::string Server::Impl::relay_metrics() const {
  Relay::Figures f = relay->figures();
  int64_t now = clock.now_ms();
  std::string out;
  auto gauge = [&](const char* name, const char* help, double value) {
    std::ostringstream number;
    number << value;  // 100, not 100.000000
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n" + name + " " + number.str() + "\n";
  };
  gauge("offsync_relay_upstream_pending", "Mutations in the relay's upstream outbox, not yet acknowledged upstream.",
        static_cast<double>(f.pending));
  gauge("offsync_relay_upstream_oldest_pending_age_seconds", "Age of the oldest mutation waiting to go upstream.",
        f.oldest_pending_created_at_ms ? static_cast<double>(now - f.oldest_pending_created_at_ms) / 1000 : 0.0);
  gauge("offsync_relay_last_upstream_contact_timestamp_seconds",
        "When a round last reached upstream (Unix time; 0: never since start).",
        static_cast<double>(f.last_contact_ms) / 1000);
  gauge("offsync_relay_upstream_identities", "Local principals with an upstream identity (a lane) on this relay.",
        static_cast<double>(f.lanes));
  return out;
}

void Server::Impl::pass_on_outcome(const std::string& principal, Client& upstream, const Mutation& m, bool conflict) {
  // The local client decides from here (resolve or discard): upstream's outbox lets go of it, and
  // the relay's record becomes upstream's state.
  if (Status dropped = upstream.discard(m.id); !dropped) {
    log(LogLevel::kError, "relay: dropping " + m.id + " upstream: " + dropped.message());
  }
  absorb_upstream(principal, upstream, {{m.collection, m.record_id}});
  std::lock_guard<std::mutex> lock(db_mu);
  Status s = storage::guarded("pass an upstream outcome on", [&]() -> Status {
    ServerTransaction tx(*store);
    auto record = store->record(principal, m.collection, m.record_id);
    json request = {{"collection", m.collection}, {"record", m.record_id}, {"op", mutation_op_name(m.op)}};
    if (m.op != MutationOp::kDelete) request["fields"] = m.payload;
    if (!m.attachments.empty()) request["attachments"] = m.attachments;
    json outcome = {{"mutation", m.idempotency_key},
                    {"state", conflict ? "conflict" : "rejected"},
                    {"status", conflict ? 409 : 422},
                    {"error", {{"code", conflict ? "conflict" : "rejected_upstream"}, {"message", m.last_error}}},
                    {"server", conflict && record ? record_json(*record) : json()},
                    {"request", request}};
    std::string sender = store->relay_sender(principal, m.idempotency_key);
    if (sender.empty()) return Status::ok();  // a client that does not say who it is: it sees upstream's state only
    store->put_relay_outcome(principal, store->next_seq(), m.idempotency_key, sender, outcome.dump(), clock.now_ms());
    tx.commit();
    return Status::ok();
  });
  if (!s) log(LogLevel::kError, "relay: " + s.message());
}

}  // namespace offsync
