// Relay mode (engine/server/relay.h). One thread hands local mutations over to the upstream client
// and runs its sync rounds; the client's view changes come back into the relay's change log.
#include "engine/server/relay.h"

#include <chrono>
#include <sstream>

#include "engine/server/mutation_request.h"
#include "engine/server/server_impl.h"
#include "offsync/transport.h"

namespace offsync {

using nlohmann::json;
using storage::ServerTransaction;

namespace {

constexpr int64_t kDefaultPullIntervalMs = 30'000;  // the relay's own schedule, besides local pulls
constexpr int64_t kMaxOfflineWaitMs = 60'000;       // an unreachable upstream is tried at least this often

// Writes what changed in the upstream client's view into the relay's change log.
class ViewMirror final : public SyncObserver {
 public:
  ViewMirror(Server::Impl& server, Client& client) : server_(server), client_(client) {}
  void on_view_changed(const std::vector<std::pair<std::string, std::string>>& records) override {
    server_.absorb_upstream(client_, records);
  }
  void on_rejected(const Mutation& m) override { server_.pass_on_outcome(client_, m, false); }
  void on_conflict(const Mutation& m) override { server_.pass_on_outcome(client_, m, true); }

 private:
  Server::Impl& server_;
  Client& client_;
};

MutationOp client_op(ServerOp op) {
  switch (op) {
    case ServerOp::kUpsert: return MutationOp::kUpsert;
    case ServerOp::kPatch: return MutationOp::kPatch;
    case ServerOp::kDelete: return MutationOp::kDelete;
  }
  return MutationOp::kUpsert;
}

}  // namespace

Result<std::unique_ptr<Relay>> Relay::start(Server::Impl& server) {
  const ServerOptions& o = server.options;
  if (o.require_auth || o.authenticate) {
    return Status::invalid_argument(
        "a relay serves one partition for now: --upstream cannot be combined with --require-auth or an authenticator");
  }
  ClientOptions c;
  c.path = client_path(o);
  c.durability = o.durability;
  c.coalesce = false;  // each forwarded mutation keeps its own key
  c.clock = o.clock;
  c.random = o.random;
  c.log = o.log;
  c.sync = o.upstream.sync;
  c.sync.transport = o.upstream.transport;
  c.sync.background = false;  // the relay's thread runs the rounds
  auto client = Client::open(std::move(c));
  if (!client) return Status(client.status().code(), "the relay's upstream client: " + client.status().message());
  std::unique_ptr<Relay> relay(new Relay(server));
  relay->client_ = std::move(*client);
  relay->client_->add_observer(std::make_shared<ViewMirror>(server, *relay->client_));
  relay->thread_ = std::thread([r = relay.get()] { r->hand_over_loop(); });
  return relay;
}

std::string Relay::client_path(const ServerOptions& o) {
  return o.upstream.client_path.empty() ? o.db_path + ".upstream" : o.upstream.client_path;
}

Relay::~Relay() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Relay::applied() {
  work_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

void Relay::local_pull() {
  int64_t now = server_.clock.now_ms();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (now - last_pull_ms_ < server_.options.upstream.pull_min_interval_ms) return;
    last_pull_ms_ = now;
    wake_ = true;
    pull_wanted_ = true;
  }
  cv_.notify_all();
}

bool Relay::hand_over_some() {
  constexpr int kBatch = 500;
  std::vector<storage::ServerStore::Forward> rows;
  {
    std::lock_guard<std::mutex> lock(server_.db_mu);
    Status s = storage::guarded("read the relay's hand-over", [&]() -> Status {
      rows = server_.store->forwards(kBatch);
      return Status::ok();
    });
    if (!s) {
      server_.log(LogLevel::kError, "relay: " + s.message());
      return false;
    }
  }
  if (rows.empty()) return false;
  std::vector<Client::Forwarded> batch;
  for (const auto& row : rows) {
    json body = json::parse(row.mutation, nullptr, false);
    IncomingMutation m;
    if (body.is_discarded() || parse_mutation(body, &m)) {
      server_.log(LogLevel::kError, "relay: a stored mutation under key " + row.key + " does not read back; dropped");
      continue;
    }
    Client::Forwarded f{row.key, m.collection, m.record_id, client_op(m.op), std::move(m.fields), {}};
    if (m.attachments) f.attachments = m.attachments->get<std::vector<std::string>>();
    // The files go first: the upstream client uploads them before it sends the mutation.
    for (const auto& id : f.attachments) {
      if (Status copied = pass_on_attachment(row.principal, id); !copied) {
        server_.log(LogLevel::kError, "relay: attachment " + id + ": " + copied.message());
        return false;  // the rows stay; tried again on the next wake-up
      }
    }
    batch.push_back(std::move(f));
  }
  // One transaction on each side: the rows go once the upstream outbox holds them (a crash in
  // between hands them over again, and the keys already there are skipped).
  if (auto queued = client_->forward(batch); !queued) {
    server_.log(LogLevel::kError, "relay: the upstream outbox refused a hand-over: " + queued.status().message());
    return false;  // the rows stay; tried again on the next wake-up
  }
  Status s;
  {
    std::lock_guard<std::mutex> lock(server_.db_mu);
    s = storage::guarded("finish a hand-over", [&]() -> Status {
      ServerTransaction tx(*server_.store);
      for (const auto& row : rows) server_.store->delete_forward(row.seq);
      tx.commit();
      return Status::ok();
    });
  }
  if (!s) {
    server_.log(LogLevel::kError, "relay: " + s.message());
    return false;
  }
  // A round pulled upstream changes of some records while their local mutations waited here (and
  // skipped them): now that the upstream view has both, they are absorbed.
  std::vector<std::pair<std::string, std::string>> skipped;
  {
    std::lock_guard<std::mutex> lock(server_.db_mu);
    skipped.assign(server_.relay_skipped.begin(), server_.relay_skipped.end());
    server_.relay_skipped.clear();
  }
  if (!skipped.empty()) server_.absorb_upstream(*client_, skipped);
  return static_cast<int>(rows.size()) == kBatch;
}

Status Relay::pass_on_attachment(const std::string& principal, const std::string& id) {
  if (client_->attachment(id)) return Status::ok();  // passed on before (or the app's own)
  std::optional<storage::ServerStore::Attachment> meta;
  {
    std::lock_guard<std::mutex> lock(server_.db_mu);
    Status s = storage::guarded("read an attachment", [&]() -> Status {
      meta = server_.store->attachment(principal, id);
      return Status::ok();
    });
    if (!s) return s;
  }
  // Upstream may hold it already (listed from a pulled record): nothing to pass on then.
  if (!meta || !meta->complete) return Status::ok();
  int64_t at = 0;
  auto copied = client_->add_attachment_as(id, meta->content_type, [&]() -> Result<std::string> {
    if (at >= meta->size) return std::string();
    std::lock_guard<std::mutex> lock(server_.db_mu);
    return storage::guarded("read attachment bytes", [&]() -> Result<std::string> {
      std::string piece = server_.blobs->read(principal, id, at, std::min<int64_t>(1 << 20, meta->size - at));
      if (piece.empty()) return Status::corrupt("the relay's copy of attachment " + id + " ends early");
      at += static_cast<int64_t>(piece.size());
      return piece;
    });
  });
  return copied.status();
}

void Relay::hand_over_loop() {
  const int64_t interval =
      client_ && server_.options.upstream.sync.pull_interval_ms > 0 ? server_.options.upstream.sync.pull_interval_ms
                                                                    : kDefaultPullIntervalMs;
  int64_t next_round_ms = 0;  // at once: the outbox may hold work from before a restart
  int failures = 0;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    bool woken = wake_;
    bool pull = pull_wanted_;
    wake_ = pull_wanted_ = false;
    lock.unlock();
    while (hand_over_some()) {
    }
    int64_t now = server_.clock.now_ms();
    // A local write or pull starts a round at once, unless upstream is unreachable and backing off.
    if ((woken && (failures == 0 || pull)) || now >= next_round_ms) {
      auto report = client_->sync_once();
      now = server_.clock.now_ms();
      if (report && report->reached) {
        failures = 0;
        last_contact_ = now;
        std::lock_guard<std::mutex> db(server_.db_mu);
        (void)storage::guarded("note the upstream contact", [&]() -> Status {
          server_.store->set_meta("relay.last_contact", std::to_string(now));
          return Status::ok();
        });
        next_round_ms = now + (report->transient_left > 0 ? std::min<int64_t>(interval, 5'000) : interval);
      } else {
        ++failures;
        next_round_ms = now + std::min<int64_t>(kMaxOfflineWaitMs, 500LL << std::min(failures, 7));
      }
    }
    if (auto summary = client_->summary()) {
      pending_ = summary->pending;
      oldest_ = summary->oldest_pending_created_at_ms.value_or(0);
      std::lock_guard<std::mutex> db(server_.db_mu);
      auto handed_over = storage::guarded("relay work", [&]() -> Result<bool> { return !server_.store->forwards(1).empty(); });
      bool handed = !handed_over || *handed_over;
      work_ = handed || summary->pending > 0;
    }
    lock.lock();
    if (stopping_ || wake_) continue;
    cv_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(1, next_round_ms - server_.clock.now_ms())));
  }
}

// ---- Server::Impl's side of the relay ----

void Server::Impl::absorb_upstream(Client& upstream, const std::vector<std::pair<std::string, std::string>>& records) {
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
      auto current = store->record("", collection, record_id);
      bool live = current && !current->deleted;
      // A local mutation of it not handed over yet: the relay's record is newer than upstream's
      // view, which is absorbed again once the hand-over made the view include it.
      if (store->has_forward_for(collection, record_id)) {
        relay_skipped.emplace(collection, record_id);
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
      store->put_record("", r, r.fields.dump(), r.field_hlc.dump(), attachments_text);
    }
    tx.commit();
    return Status::ok();
  });
  if (!s) log(LogLevel::kError, "relay: " + s.message());
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
  return out;
}

void Server::Impl::pass_on_outcome(Client& upstream, const Mutation& m, bool conflict) {
  // The local client decides from here (resolve or discard): upstream's outbox lets go of it, and
  // the relay's record becomes upstream's state.
  if (Status dropped = upstream.discard(m.id); !dropped) {
    log(LogLevel::kError, "relay: dropping " + m.id + " upstream: " + dropped.message());
  }
  absorb_upstream(upstream, {{m.collection, m.record_id}});
  std::lock_guard<std::mutex> lock(db_mu);
  Status s = storage::guarded("pass an upstream outcome on", [&]() -> Status {
    ServerTransaction tx(*store);
    auto record = store->record("", m.collection, m.record_id);
    json request = {{"collection", m.collection}, {"record", m.record_id}, {"op", mutation_op_name(m.op)}};
    if (m.op != MutationOp::kDelete) request["fields"] = m.payload;
    if (!m.attachments.empty()) request["attachments"] = m.attachments;
    json outcome = {{"mutation", m.idempotency_key},
                    {"state", conflict ? "conflict" : "rejected"},
                    {"status", conflict ? 409 : 422},
                    {"error", {{"code", conflict ? "conflict" : "rejected_upstream"}, {"message", m.last_error}}},
                    {"server", conflict && record ? record_json(*record) : json()},
                    {"request", request}};
    std::string sender = store->relay_sender(m.idempotency_key);
    if (sender.empty()) return Status::ok();  // a client that does not say who it is: it sees upstream's state only
    store->put_relay_outcome("", store->next_seq(), m.idempotency_key, sender, outcome.dump());
    tx.commit();
    return Status::ok();
  });
  if (!s) log(LogLevel::kError, "relay: " + s.message());
}

}  // namespace offsync
