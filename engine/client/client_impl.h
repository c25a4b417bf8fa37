// Client::Impl: the state behind a Client, shared by engine/client/client.cc (local writes and
// the outbox) and the sync worker (worker.cc, round.h). Internal; not part of the API.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "engine/client/live_queries.h"
#include "engine/client/view.h"
#include "offsync/client.h"
#include "offsync/transport.h"
#include "offsync/ulid.h"
#include "storage/client_store.h"

namespace offsync {

// The greatest HLC text below `text` that matters: the same instant with the smallest node id ("0"
// sorts before every node of that instant), else the instant before (rebase.cc).
std::optional<std::string> hlc_just_before(const std::string& text);
// The oldest HLC that field_hlc (a record's per-field HLCs) holds for one of `names`, among those
// `counts` accepts (rebase.cc).
std::optional<std::string> oldest_field_hlc(const nlohmann::json& field_hlc, const std::vector<std::string>& names,
                                            const std::function<bool(const std::string&)>& counts);

namespace wire {
struct RelayedOutcome;
}

using storage::guarded;

// Never sent: the only mutations coalescing may rewrite or drop.
inline bool unsent(const Mutation& m) { return m.attempts == 0 && m.state == MutationState::kPending; }

struct Client::Impl {
  Impl(ClientOptions o, std::unique_ptr<storage::ClientStore> s)
      : options(std::move(o)),
        clock(options.clock ? *options.clock : system_clock()),
        random(options.random ? *options.random : system_random()),
        ulids(clock, random),
        store(std::move(s)) {
    alive->impl = this;
  }

  ~Impl() {
    {
      std::lock_guard<std::mutex> lock(alive->mu);
      alive->impl = nullptr;
    }
    live.reset();  // its runs use the store: they end first
  }

  // How an ObserverHandle finds the Client, or finds it gone.
  struct Alive {
    std::mutex mu;
    Impl* impl = nullptr;
  };
  std::shared_ptr<Alive> alive = std::make_shared<Alive>();

  ClientOptions options;
  std::vector<IndexSpec> indexes;  // what the query compiler may use: declared, or found in the store at open
  const Clock& clock;
  RandomSource& random;
  UlidGenerator ulids;
  std::string client_id;

  std::mutex mu;  // serialises every use of the store
  std::unique_ptr<storage::ClientStore> store;  // GUARDED_BY(mu)

  // Held while outcomes are handed to handlers, never together with `mu` while a handler runs,
  // so that a handler may call back into the Client.
  std::mutex delivery_mu;
  std::map<std::pair<std::string, std::string>, RestHandler> handlers;  // GUARDED_BY(delivery_mu)

  bool coalesces(const std::string& collection) const {
    return options.coalesce && !options.no_coalesce.contains(collection);
  }

  std::string next_id() {
    auto id = ulids.generate();
    if (!id) throw std::runtime_error(id.status().to_string());
    return id->to_string();
  }

  Mutation new_mutation(const std::string& collection, const std::string& record_id, MutationOp op,
                        nlohmann::json payload) {
    Mutation m;
    m.id = next_id();
    m.collection = collection;
    m.record_id = record_id;
    m.op = op;
    m.payload = std::move(payload);
    if (op != MutationOp::kRequest) {
      if (auto base = store->base(collection, record_id)) m.base_hlc = base->hlc;
    }
    m.created_at_ms = clock.now_ms();
    return m;
  }

  void recompute_view(const std::string& collection, const std::string& record_id) {
    std::optional<nlohmann::json> base_fields;
    if (auto base = store->base(collection, record_id); base && !base->deleted) base_fields = base->fields;
    recompute_view_from(collection, record_id, std::move(base_fields));
  }
  // The same, when the caller already holds the base's fields (nullopt: no live base record).
  void recompute_view_from(const std::string& collection, const std::string& record_id,
                           std::optional<nlohmann::json> base_fields) {
    store->set_view(collection, record_id, compute_view(std::move(base_fields), store->mutations_of(collection, record_id)));
  }

  // Hands every stored outcome of (module, action) to its handler, if it has one.
  Status deliver(const std::string& module, const std::string& action) {
    std::lock_guard<std::mutex> delivering(delivery_mu);
    auto it = handlers.find({module, action});
    if (it == handlers.end()) return Status::ok();
    auto outcomes = locked("read request outcomes", [&]() -> Result<std::vector<RestOutcome>> {
      return store->outcomes_for(module, action);
    });
    if (!outcomes) return outcomes.status();
    for (const RestOutcome& outcome : *outcomes) {
      try {
        it->second(outcome);
      } catch (const std::exception& e) {
        return Status::internal("the handler of " + module + "/" + action + " threw: " + e.what() +
                                "; the outcome stays stored");
      }
      Status forgotten = locked("forget a delivered outcome", [&]() -> Status {
        store->delete_outcome(outcome.mutation_id);
        return Status::ok();
      });
      if (!forgotten) return forgotten;
    }
    return Status::ok();
  }

  // Runs fn under the store lock with SQLite and JSON errors turned into a Status.
  template <typename Fn>
  auto locked(std::string_view what, Fn&& fn) -> decltype(fn()) {
    std::lock_guard<std::mutex> lock(mu);
    auto result = guarded(what, std::forward<Fn>(fn));
    view_touched();
    store_cv.notify_all();
    return result;
  }

  // Runs fn in one write transaction under the store lock.
  template <typename Fn>
  auto write(std::string_view what, Fn&& fn) -> decltype(fn()) {
    return locked(what, [&]() -> decltype(fn()) {
      storage::WriteTransaction tx(store->db());
      auto result = fn();
      if (result) tx.commit();
      return result;
    });
  }

  // ---- Under `mu`, inside a write transaction (shared by the public calls and the worker). ----
  // The server applied m; base is its answer's record, nullptr when the server had no such record
  // (a delete of a missing record). Returns whether what the app sees of the record changed (its
  // fields or its attachments): usually not, when the server applied what the view already showed.
  // `replayed`: the answer is the server's stored answer to an earlier try, so its record may be
  // older than a base pulled since; the newer of the two is kept.
  // The base held for the record when its HLC is later than `hlc` (or `hlc` is empty): an answer
  // replayed from before a pull must not take the record back in time.
  std::optional<storage::BaseText> newer_base_than(const std::string& collection, const std::string& record_id,
                                                   const std::string& hlc) {
    auto held = store->base_hlc(collection, record_id);
    if (!held || held->empty() || (!hlc.empty() && hlc >= *held)) return std::nullopt;
    return store->base_text(collection, record_id);
  }
  // Later unsent edits of the record start from the acknowledged record `base` (acked_hlc: the
  // acknowledged mutation's HLC), or, when a field one touches was changed after its base by
  // another device, just before that change (rebase.cc). Pinned bases stay.
  void rebase_later_edits_locked(const std::string& collection, const std::string& record_id,
                                 const std::string& acked_hlc, const storage::BaseText& base);
  // The caller raises the id high-water mark (ClientStore::raise_id_high_water) for m.
  bool acknowledge_locked(const Mutation& m, const storage::BaseText* base, bool replayed = false);
  // Stores a record the server holds (a pulled change or a 200's record) as base and recomputes
  // the record's view. A record whose HLC the base already has (the echo of this client's own
  // acknowledged write) changes nothing and costs one lookup. Returns whether what the app sees
  // of the record (its fields or attachments) changed.
  bool put_server_record_locked(const std::string& collection, const std::string& record_id,
                                const storage::BaseText& base);
  // Refused for good: state rejected with the message, view recomputed without it.
  void reject_locked(const Mutation& m, const std::string& message, const std::string& error_code = "",
                     int http_status = 0);
  // ---- writes.cc: under `mu`, inside a write transaction (text: the payload as checked) ----
  Result<std::string> put_locked(const std::string& collection, const std::string& record_id,
                                 const nlohmann::json& fields, const std::string& text, const WriteOptions& write);
  Result<std::string> patch_locked(const std::string& collection, const std::string& record_id,
                                   const nlohmann::json& merge_patch, const std::string& text,
                                   const WriteOptions& write);
  Result<std::string> remove_locked(const std::string& collection, const std::string& record_id);
  // A new mutation of a write, its payload already checked as `text`; returns its id.
  std::string insert_write(const std::string& collection, const std::string& record_id, MutationOp op,
                           const nlohmann::json& payload, const std::string& text, const WriteOptions& write);
  // Notified after every use of the store (wait_until_synced() watches the outbox with it).
  std::condition_variable store_cv;
  // Stores base and recomputes the view; when nothing is pending the view is the base's text.
  // Returns whether mutations of the record are still in the outbox; `view_changed`, when given,
  // says whether the view's row changed.
  bool store_base_and_view_locked(const std::string& collection, const std::string& record_id,
                                  const storage::BaseText& base, bool* view_changed = nullptr);
  // A relay says upstream refused, or conflicted on, a mutation it had accepted from this client:
  // the mutation is rejected or in conflict here as if upstream had answered it directly (put back
  // into the outbox when the relay's 200 had removed it). Returns it as stored, for the observers.
  std::optional<Mutation> reinstate_locked(const wire::RelayedOutcome& outcome);
  // Records a REST request's outcome and hands it to its handler.
  Status complete(const std::string& mutation_id, const RestOutcome& outcome);
  // Wakes the sync worker after a local write.
  void notify_write();

  // ---- Sync (engine/client/worker.cc, round.h) ----
  std::mutex round_mu;  // one push/pull round at a time
  mutable std::mutex state_mu;
  std::condition_variable wake_cv;
  bool wake = false;                                     // GUARDED_BY(state_mu)
  bool stopping = false;                                 // GUARDED_BY(state_mu)
  Connectivity connectivity = Connectivity::kOnline;     // GUARDED_BY(state_mu)
  SyncStatus status;                                     // GUARDED_BY(state_mu)
  std::string token;                                     // GUARDED_BY(state_mu)
  bool paused = false;                                   // GUARDED_BY(state_mu)
  int offline_failures = 0;                              // GUARDED_BY(state_mu); probes back off too
  int store_failures = 0;                                // GUARDED_BY(state_mu); rounds the store stopped
  std::vector<std::shared_ptr<SyncObserver>> observers;  // GUARDED_BY(state_mu)
  std::optional<bool> server_has_batch;                  // only touched under round_mu
  size_t batch_limit = 0;  // under round_mu; 0: options.sync.batch_size, else halved after a 413
  std::thread worker;

  // Every request of this client goes through here: Transport::send calls never overlap, whichever
  // thread (the worker, its batch helper, an app thread downloading) makes them.
  std::mutex transport_mu;
  Result<HttpResponse> send(const HttpRequest& r) {
    std::lock_guard<std::mutex> lock(transport_mu);
    return options.sync.transport->send(r);
  }
  // A request with this client's headers: token, app and OS version, device.
  HttpRequest make_request(const std::string& method, const std::string& target) const;

  // ---- attachments.cc ----
  std::mutex download_mu;  // one download at a time
  // Under `mu`: the attachments of m that the server lost and whose bytes are here become local
  // (to upload) again; returns whether there was any.
  bool requeue_attachments_locked(const Mutation& m);
  // Tells the observers.
  void tell_progress(const AttachmentProgress& progress);
  Result<int64_t> collect_attachments();
  int64_t last_collect_ms = 0;  // under round_mu: the worker collects at most hourly

  void start_worker();
  void stop_worker();
  void worker_loop();
  // ---- watch.cc: the long poll that wakes the worker when the server has changes ----
  std::shared_ptr<Transport> watcher;  // null: no push
  std::thread poller;
  void poller_loop();
  void start_watch();
  Result<SyncReport> round(bool explicit_request);
  void set_status(SyncStatus s);
  // ---- auth.cc ----
  // The access token kept by sign_in(), unless SyncOptions::token overrides it.
  void load_stored_token();
  // After a 401: redeems the stored refresh token at POST /oauth/token; on success the new tokens are
  // stored and used, and the queue resumes.
  Status refresh_tokens();
  // To options.log, if set; a sink that throws loses its message.
  void log(LogLevel level, std::string_view component, const std::string& message) const;
  // Calls an observer unless it was removed meanwhile; one that throws is logged, and the worker
  // and the other observers go on.
  template <typename Fn>
  void tell(const std::shared_ptr<SyncObserver>& observer, Fn&& fn) const {
    if (!registered(observer)) return;
    try {
      fn(*observer);
    } catch (const std::exception& e) {
      log(LogLevel::kError, "sync", std::string("a sync observer threw: ") + e.what());
    } catch (...) {
      log(LogLevel::kError, "sync", "a sync observer threw");
    }
  }
  std::vector<std::shared_ptr<SyncObserver>> observers_copy() const;
  bool registered(const std::shared_ptr<SyncObserver>& observer) const;

  // ---- queries.cc, live_queries.h ----
  Result<storage::QuerySql> compile(const Query& query);
  // Under `mu`: tells the watched queries of the collections whose view changed since last time.
  void view_touched();
  std::unique_ptr<LiveQueries> live;  // made under `mu` by the first watch(), then kept
};


}  // namespace offsync
