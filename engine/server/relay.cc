// Relay mode (engine/server/relay.h): the lanes, the hand-over thread and the rounds thread. What
// a lane's view tells the relay is written into its change log by relay_view.cc.
#include "engine/server/relay.h"

#include <algorithm>
#include <chrono>

#include "engine/common/crypto.h"
#include "engine/common/json_text.h"
#include "engine/server/server_impl.h"
#include "offsync/transport.h"

namespace offsync {

using nlohmann::json;
using storage::ServerTransaction;

namespace {

constexpr int64_t kDefaultPullIntervalMs = 30'000;  // the relay's own schedule, besides local pulls
constexpr int64_t kMaxOfflineWaitMs = 60'000;       // an unreachable upstream is tried at least this often
constexpr int64_t kHandOverRetryMs = 1'000;         // rows left behind (a fault, no identity yet)
constexpr int kHandOverBatch = 1000;

// Writes what changed in a lane's view into the relay's change log, in the lane's partition.
class ViewMirror final : public SyncObserver {
 public:
  ViewMirror(Server::Impl& server, std::string principal, Client& client)
      : server_(server), principal_(std::move(principal)), client_(client) {}
  void on_view_changed(const std::vector<std::pair<std::string, std::string>>& records) override {
    server_.absorb_upstream(principal_, client_, records);
  }
  void on_rejected(const Mutation& m) override { server_.pass_on_outcome(principal_, client_, m, false); }
  void on_conflict(const Mutation& m) override { server_.pass_on_outcome(principal_, client_, m, true); }

 private:
  Server::Impl& server_;
  const std::string principal_;
  Client& client_;
};

// A stored mutation (the relay's own dump of what the client sent, so valid and canonical) as
// the upstream client takes it: its fields pass on as text, never parsed into a tree and written
// again. nullopt when it does not read back.
std::optional<Client::Forwarded> forwarded_of(const storage::ServerStore::Forward& row) {
  auto body = json_text::parse(row.mutation);
  if (!body || !body->is_object()) return std::nullopt;
  auto text_of = [&](std::string_view name) -> std::optional<std::string> {
    auto v = json_text::member(*body, name);
    if (!v || !v->is_string()) return std::nullopt;
    return json_text::string_of(*v);
  };
  auto collection = text_of("collection"), record = text_of("record"), op = text_of("op");
  if (!collection || !record || !op) return std::nullopt;
  Client::Forwarded f{row.key, *collection, *record, MutationOp::kUpsert, json(), {}};
  if (*op == "patch") {
    f.op = MutationOp::kPatch;
  } else if (*op == "delete") {
    f.op = MutationOp::kDelete;
  } else if (*op != "upsert") {
    return std::nullopt;
  }
  if (f.op != MutationOp::kDelete) {
    auto fields = json_text::member(*body, "fields");
    if (!fields || !fields->is_object()) return std::nullopt;
    f.payload_text = std::string(fields->text);
  }
  // What the sender had seen (Client::Forwarded); rows stored before the relay noted it have none.
  auto base = json_text::member(*body, "base");
  f.sender_had_base = base && base->is_string();
  if (auto view = json_text::member(*body, kRelaySenderMember); view && view->is_object()) {
    f.sender_view = json_text::to_json(*view);
  }
  if (auto listed = json_text::member(*body, "attachments"); listed && listed->is_array()) {
    bool ok = true;
    json_text::for_each_element(*listed, [&](const json_text::Value& id) {
      ok = id.is_string();
      if (ok) f.attachments.push_back(json_text::string_of(id));
      return ok;
    });
    if (!ok) return std::nullopt;
  }
  return f;
}

// The lanes of a transport that cannot open another connection take turns on it. Cancelling one
// ends its later requests; one in progress ends by itself (the transport is not the relay's).
class TakingTurns final : public Transport {
 public:
  TakingTurns(std::shared_ptr<Transport> shared, std::shared_ptr<std::mutex> turn)
      : shared_(std::move(shared)), turn_(std::move(turn)) {}
  Result<HttpResponse> send(const HttpRequest& request) override {
    std::lock_guard<std::mutex> lock(*turn_);
    if (cancelled_) return Status::transient("the relay is stopping");
    return shared_->send(request);
  }
  std::unique_ptr<Transport> open_another() override { return shared_->open_another(); }
  void cancel() override { cancelled_ = true; }

 private:
  std::shared_ptr<Transport> shared_;
  std::shared_ptr<std::mutex> turn_;
  std::atomic<bool> cancelled_{false};
};

bool authenticated(const ServerOptions& o) { return o.require_auth || static_cast<bool>(o.authenticate); }

}  // namespace

Result<std::unique_ptr<Relay>> Relay::start(Server::Impl& server) {
  std::unique_ptr<Relay> relay(new Relay(server));
  if (!authenticated(server.options)) {
    // One shared partition: its lane exists from the start, under the configured token.
    auto lane = relay->open_lane("", server.options.upstream.sync.token);
    if (!lane) return lane.status();
    relay->lanes_[""] = std::move(*lane);
  } else if (!server.options.upstream.sync.token.empty()) {
    return Status::invalid_argument(
        "a relay with auth has one upstream identity per user (Server::set_upstream_credentials, `offsync auth "
        "upstream`): a token for all of them would send one user's data under another's identity");
  }
  if (!server.options.upstream.manual) {
    relay->hand_thread_ = std::thread([r = relay.get()] { r->hand_over_loop(); });
    relay->rounds_thread_ = std::thread([r = relay.get()] { r->rounds_loop(); });
  }
  return relay;
}

std::shared_ptr<Transport> Relay::lane_transport() {
  const std::shared_ptr<Transport>& configured = server_.options.upstream.transport;
  if (std::shared_ptr<Transport> own = configured->open_another()) return own;
  return std::make_shared<TakingTurns>(configured, shared_upstream_mu_);
}

Result<std::shared_ptr<Relay::Lane>> Relay::open_lane(const std::string& principal, const std::string& token) {
  const ServerOptions& o = server_.options;
  ClientOptions c;
  c.path = client_path(o, principal);
  c.durability = o.durability;
  c.coalesce = false;  // each forwarded mutation keeps its own key
  c.clock = o.clock;
  c.random = o.random;
  c.log = o.log;
  c.sync = o.upstream.sync;
  c.sync.token = token;
  std::shared_ptr<Transport> transport = lane_transport();
  c.sync.transport = transport;
  c.sync.background = false;  // the rounds thread runs them
  if (!o.upstream.manual) {
    // Upstream's push: the lane's watch tells the rounds thread to pull (and so the relay's own
    // devices waiting on it hear of another device's change without polling).
    c.sync.on_server_changes = [this] {
      {
        std::lock_guard<std::mutex> lock(mu_);
        pull_wanted_ = true;
      }
      rounds_cv_.notify_all();
    };
  }
  auto client = Client::open(std::move(c));
  if (!client) {
    return Status(client.status().code(),
                  "the relay's upstream client" + (principal.empty() ? "" : " for " + principal) + ": " +
                      client.status().message());
  }
  auto lane = std::make_shared<Lane>();
  lane->principal = principal;
  lane->transport = std::move(transport);
  lane->client = std::move(*client);
  lane->client->add_observer(std::make_shared<ViewMirror>(server_, principal, *lane->client));
  return lane;
}

std::string Relay::client_path(const ServerOptions& o, const std::string& principal) {
  std::string base = !o.upstream.client_path.empty() ? o.upstream.client_path
                     : !o.db_path.empty()            ? o.db_path + ".upstream"
                                                     : std::string();  // PostgreSQL: none unless configured
  if (base.empty() || principal.empty()) return base;
  return base + "-" + hex(sha256(principal)).substr(0, 16);
}

std::vector<std::string> Relay::client_paths(const ServerOptions& o, const std::vector<std::string>& principals) {
  std::vector<std::string> out;
  if (client_path(o, "").empty()) return out;
  out.push_back(client_path(o, ""));
  for (const auto& p : principals) {
    if (!p.empty()) out.push_back(client_path(o, p));
  }
  return out;
}

Relay::~Relay() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  // A round or a file download in progress upstream ends now rather than when the network says.
  for (const auto& lane : lanes()) lane->transport->cancel();
  hand_cv_.notify_all();
  rounds_cv_.notify_all();
  if (hand_thread_.joinable()) hand_thread_.join();
  if (rounds_thread_.joinable()) rounds_thread_.join();
  join_fetches();
}

void Relay::applied() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    work_ = true;
    ++work_generation_;
    hand_wake_ = true;
  }
  hand_cv_.notify_all();
}

void Relay::local_pull() {
  int64_t now = server_.clock.now_ms();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (now - last_pull_ms_ < server_.options.upstream.pull_min_interval_ms) return;
    last_pull_ms_ = now;
    pull_wanted_ = true;
    identities_dirty_ = true;  // `offsync auth upstream` may have given a new identity from another process
  }
  rounds_cv_.notify_all();
}

void Relay::identities_changed() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    identities_dirty_ = true;
    hand_wake_ = true;  // rows that waited for an identity may go now
  }
  rounds_cv_.notify_all();
}

std::vector<std::shared_ptr<Relay::Lane>> Relay::lanes() const {
  std::lock_guard<std::mutex> lock(lanes_mu_);
  std::vector<std::shared_ptr<Lane>> out;
  for (const auto& [principal, lane] : lanes_) out.push_back(lane);
  return out;
}

void Relay::refresh_lanes() {
  std::vector<storage::ServerStore::RelayIdentity> identities;
  {
    std::lock_guard<std::mutex> lock(server_.db_mu);
    Status s = storage::guarded("read the relay's upstream identities", [&]() -> Status {
      identities = server_.store->relay_identities();
      return Status::ok();
    });
    if (!s) {
      server_.log(LogLevel::kError, "relay: " + s.message());
      return;
    }
  }
  bool opened = false;
  for (const auto& id : identities) {
    std::shared_ptr<Lane> lane;
    {
      std::lock_guard<std::mutex> lock(lanes_mu_);
      if (auto it = lanes_.find(id.principal); it != lanes_.end()) lane = it->second;
    }
    if (!lane) {
      auto opened_lane = open_lane(id.principal, "");
      if (!opened_lane) {
        server_.log(LogLevel::kError, "relay: " + opened_lane.status().message());
        continue;
      }
      lane = std::move(*opened_lane);
      std::lock_guard<std::mutex> lock(lanes_mu_);
      lanes_[id.principal] = lane;
      opened = true;
    }
    if (id.version <= id.applied_version) continue;
    // The lane's client keeps (and refreshes) the tokens from now on.
    Status signed_in = lane->client->sign_in({id.upstream_user, id.access_token, id.refresh_token});
    if (!signed_in) {
      server_.log(LogLevel::kError, "relay: the upstream identity of " + id.principal + ": " + signed_in.message());
    }
    lane->failures = 0;
    lane->next_round_ms = 0;
    std::lock_guard<std::mutex> lock(server_.db_mu);
    (void)storage::guarded("note an upstream identity taken", [&]() -> Status {
      server_.store->relay_identity_applied(id.principal, id.version, signed_in ? "" : signed_in.message());
      return Status::ok();
    });
  }
  lanes_count_ = static_cast<int64_t>(lanes().size());
  if (opened) {
    std::lock_guard<std::mutex> lock(mu_);
    hand_wake_ = true;
    hand_cv_.notify_all();
  }
}

// ---- The hand-over thread ----

void Relay::hand_over_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    hand_wake_ = false;
    lock.unlock();
    bool left_behind = false;
    for (const auto& lane : lanes()) {
      while (hand_over_some(*lane)) {
        // Each batch starts a round at once: its requests overlap with the next batch's hand-over.
        std::lock_guard<std::mutex> wanted(mu_);
        rounds_wanted_.insert(lane->principal);
        rounds_cv_.notify_all();
      }
    }
    {
      // Rows of a principal without a lane, or rows a fault kept: tried again shortly.
      std::lock_guard<std::mutex> db(server_.db_mu);
      auto any = storage::guarded("relay hand-over left", [&]() -> Result<bool> { return server_.store->has_forwards(); });
      left_behind = !any || *any;
    }
    lock.lock();
    if (left_behind) {
      // Perhaps rows of a principal whose identity another process just stored.
      identities_dirty_ = true;
      rounds_cv_.notify_all();
    }
    if (stopping_ || hand_wake_) continue;
    if (left_behind) {
      server_.clock.wait_until(hand_cv_, lock, server_.clock.now_ms() + kHandOverRetryMs);
    } else {
      hand_cv_.wait(lock, [&] { return stopping_ || hand_wake_; });
    }
  }
}

bool Relay::hand_over_some(Lane& lane) {
  std::vector<storage::ServerStore::Forward> rows;
  {
    std::lock_guard<std::mutex> lock(server_.db_mu);
    Status s = storage::guarded("read the relay's hand-over", [&]() -> Status {
      rows = server_.store->forwards(lane.principal, kHandOverBatch);
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
    auto read = forwarded_of(row);
    if (!read) {
      server_.log(LogLevel::kError, "relay: a stored mutation under key " + row.key + " does not read back; dropped");
      continue;
    }
    Client::Forwarded f = std::move(*read);
    // The files go first: the upstream client uploads them before it sends the mutation.
    for (const auto& id : f.attachments) {
      if (Status copied = pass_on_attachment(lane, id); !copied) {
        server_.log(LogLevel::kError, "relay: attachment " + id + ": " + copied.message());
        return false;  // the rows stay; tried again shortly
      }
    }
    batch.push_back(std::move(f));
  }
  // One transaction on each side: the rows go once the upstream outbox holds them (a crash in
  // between hands them over again, and the keys already there are skipped).
  if (auto queued = lane.client->forward(batch); !queued) {
    server_.log(LogLevel::kError, "relay: the upstream outbox refused a hand-over: " + queued.status().message());
    return false;  // the rows stay; tried again shortly
  }
  Status s;
  {
    std::lock_guard<std::mutex> lock(server_.db_mu);
    s = storage::guarded("finish a hand-over", [&]() -> Status {
      ServerTransaction tx(*server_.store);
      // The rows are the principal's first ones, in seq order; later ones have higher seqs.
      server_.store->delete_forwards_through(lane.principal, rows.back().seq);
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
    for (auto it = server_.relay_skipped.begin(); it != server_.relay_skipped.end();) {
      if (std::get<0>(*it) != lane.principal) {
        ++it;
        continue;
      }
      skipped.emplace_back(std::get<1>(*it), std::get<2>(*it));
      it = server_.relay_skipped.erase(it);
    }
  }
  if (!skipped.empty()) server_.absorb_upstream(lane.principal, *lane.client, skipped);
  return true;
}

// ---- The rounds thread ----

int64_t Relay::round(Lane& lane, bool wanted, bool pull) {
  const int64_t interval = server_.options.upstream.sync.pull_interval_ms > 0
                               ? server_.options.upstream.sync.pull_interval_ms
                               : kDefaultPullIntervalMs;
  int64_t now = server_.clock.now_ms();
  // New work or a local pull starts a round at once, unless upstream is unreachable and backing
  // off (a local pull still tries: the device may just have come back online).
  if (!((wanted && lane.failures == 0) || pull || now >= lane.next_round_ms)) return lane.next_round_ms;
  auto report = lane.client->sync_once();
  now = server_.clock.now_ms();
  if (report && report->reached) {
    lane.failures = 0;
    last_contact_ = now;
    std::lock_guard<std::mutex> db(server_.db_mu);
    (void)storage::guarded("note the upstream contact", [&]() -> Status {
      server_.store->set_meta("relay.last_contact", std::to_string(now));
      return Status::ok();
    });
    lane.next_round_ms = now + (report->transient_left > 0 ? std::min<int64_t>(interval, 5'000) : interval);
  } else {
    ++lane.failures;
    lane.next_round_ms = now + std::min<int64_t>(kMaxOfflineWaitMs, 500LL << std::min(lane.failures, 7));
  }
  return lane.next_round_ms;
}

void Relay::rounds_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    bool refresh = identities_dirty_;
    bool pull = pull_wanted_;
    std::set<std::string> wanted;
    wanted.swap(rounds_wanted_);
    identities_dirty_ = pull_wanted_ = false;
    lock.unlock();
    if (refresh) refresh_lanes();
    int64_t next_due = server_.clock.now_ms() + kMaxOfflineWaitMs;
    for (const auto& lane : lanes()) {
      next_due = std::min(next_due, round(*lane, wanted.count(lane->principal) > 0, pull));
    }
    update_figures();
    lock.lock();
    if (stopping_ || pull_wanted_ || identities_dirty_ || !rounds_wanted_.empty()) continue;
    server_.clock.wait_until(rounds_cv_, lock, std::max(next_due, server_.clock.now_ms() + 1));
  }
}

void Relay::run_once() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    identities_dirty_ = pull_wanted_ = hand_wake_ = false;
    rounds_wanted_.clear();
  }
  refresh_lanes();
  for (const auto& lane : lanes()) {
    while (hand_over_some(*lane)) {
    }
  }
  for (const auto& lane : lanes()) (void)round(*lane, true, true);
  update_figures();
}

void Relay::update_figures() {
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(mu_);
    generation = work_generation_;
  }
  // The hand-over first, then the outboxes: a row moved in between is counted in its outbox.
  bool handed;
  {
    std::lock_guard<std::mutex> db(server_.db_mu);
    auto any = storage::guarded("relay work", [&]() -> Result<bool> { return server_.store->has_forwards(); });
    handed = !any || *any;
  }
  auto summary = upstream_summary();
  if (summary) {
    pending_ = summary->pending;
    oldest_ = summary->oldest_pending_created_at_ms.value_or(0);
  }
  bool work = handed || !summary || summary->pending > 0;
  std::lock_guard<std::mutex> lock(mu_);
  // A mutation applied since the check began is work this check may not have seen.
  if (work || generation == work_generation_) work_ = work;
}

std::optional<OutboxSummary> Relay::upstream_summary() {
  OutboxSummary total;
  for (const auto& lane : lanes()) {
    auto s = lane->client->summary();
    if (!s) return std::nullopt;
    add_outbox_summary(total, *s);
  }
  return total;
}

void add_outbox_summary(OutboxSummary& total, const OutboxSummary& one) {
  total.pending += one.pending;
  total.rejected += one.rejected;
  total.conflicts += one.conflicts;
  if (one.oldest_pending_created_at_ms &&
      (!total.oldest_pending_created_at_ms || *one.oldest_pending_created_at_ms < *total.oldest_pending_created_at_ms)) {
    total.oldest_pending_created_at_ms = one.oldest_pending_created_at_ms;
  }
}

}  // namespace offsync
