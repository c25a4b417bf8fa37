// Server::Impl: the state behind a Server and the roles that share it, each in its own file:
// router.cc (dispatch, gates, auth, the HTTP answer), mutation_request.cc (parse and apply),
// idempotency.cc (keys, stored answers, the single endpoint), batch.cc, change_feed.cc (sync pages
// and cursors), server.cc (the Server API and admin).
// Internal to the server half.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>

#include <nlohmann/json.hpp>
#include <atomic>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "engine/common/json_text.h"
#include "engine/server/answer.h"
#include "engine/server/long_poll.h"
#include "engine/server/attachment_blobs.h"
#include "engine/server/relay.h"
#include "engine/server/cursor.h"
#include "engine/server/merge.h"
#include "engine/server/metrics.h"
#include "offsync/server.h"
#include "storage/server_store.h"

namespace offsync {

constexpr const char* kMutationsPath = "/v1/mutations";
constexpr const char* kBatchPath = "/v1/mutations:batch";
constexpr const char* kSyncPath = "/v1/sync";
constexpr const char* kHealthPath = "/v1/health";
constexpr const char* kMetricsPath = "/metrics";
constexpr const char* kAuthorizePath = "/oauth/authorize";
constexpr const char* kTokenPath = "/oauth/token";
constexpr const char* kAttachmentsPath = "/v1/attachments";
constexpr const char* kAttachmentPath = "/v1/attachments/{id}";  // the route (metrics label) of one attachment
constexpr int64_t kSweepEveryMs = 3600 * 1000;
// The member a relay adds to a mutation it stores for the hand-over: what the sender had seen
// (sender_view). A sender's own member of that name is dropped.
constexpr const char* kRelaySenderMember = "offsync_relay_sender_view";
constexpr int64_t kMaxSyncWaitS = 60;  // GET /v1/sync?wait= at most

struct Server::Impl {
  ServerOptions options;
  const Clock& clock;
  RandomSource& random;
  std::unique_ptr<HlcClock> hlc;
  ServerMetrics metrics;

  std::mutex db_mu;
  std::unique_ptr<storage::ServerStore> store;  // GUARDED_BY(db_mu)
  std::unique_ptr<AttachmentBlobs> blobs;       // GUARDED_BY(db_mu)
  int64_t last_sweep_ms = 0;                    // GUARDED_BY(db_mu)
  // Relay: records whose upstream view was not absorbed while a local mutation of theirs waited
  // for the hand-over (relay.cc).
  // (principal, collection, record id)
  std::set<std::tuple<std::string, std::string, std::string>> relay_skipped;  // GUARDED_BY(db_mu)

  std::mutex keys_mu;
  std::set<std::pair<std::string, std::string>> in_flight;  // GUARDED_BY(keys_mu)

  std::mutex polls_mu;
  std::unique_ptr<LongPolls> polls;  // made by the first long poll (GUARDED_BY(polls_mu) until then)
  std::atomic<bool> has_polls{false};

  // Relay mode (relay.cc); declared last, so that its thread stops before anything it uses goes.
  std::unique_ptr<Relay> relay;

  Impl(ServerOptions o, std::unique_ptr<storage::ServerStore> s)
      : options(std::move(o)),
        clock(options.clock ? *options.clock : system_clock()),
        random(options.random ? *options.random : system_random()),
        store(std::move(s)) {}


  // Holds (principal, key) for one request; `held` is false when another request has it.
  struct KeyClaim {
    Impl* impl = nullptr;
    std::pair<std::string, std::string> key;
    bool held = false;
    KeyClaim(Impl* i, std::string principal, std::string k) : impl(i), key(std::move(principal), std::move(k)) {
      std::lock_guard<std::mutex> lock(impl->keys_mu);
      held = impl->in_flight.insert(key).second;
    }
    ~KeyClaim() {
      if (!held) return;
      std::lock_guard<std::mutex> lock(impl->keys_mu);
      impl->in_flight.erase(key);
    }
    KeyClaim(const KeyClaim&) = delete;
    KeyClaim& operator=(const KeyClaim&) = delete;
  };


  // ---- router.cc ----
  // Server::handle, which adds a last guard. *empty_page: a sync page with no change.
  HttpResponse handle(const HttpRequest& request, bool* empty_page = nullptr);
  // ---- long_poll.h: GET /v1/sync?wait= ----
  LongPolls& long_polls();
  // A change of the partition committed: held long polls answer again.
  void changed(const std::string& partition);
  int64_t long_polls_held();
  void log(LogLevel level, const std::string& message) const;
  std::optional<Answer> gate(const HttpRequest& r);
  std::optional<std::string> principal_of(const HttpRequest& r);
  Answer dispatch(const HttpRequest& r, const std::string& route);
  void count_outcome(const std::string& route, const Answer& a);

  // ---- mutation_request.cc ----
  // Inside the write transaction: apply one parsed mutation for the principal.
  // sender (a relay's): set to what the sender had seen of what the applied write changes
  // (sender_view), for the hand-over.
  Answer apply(const std::string& principal, const IncomingMutation& m, nlohmann::json* sender = nullptr);

  // ---- idempotency.cc ----
  // `sender`: the client's Offsync-Client-Id, which a relay keeps to tell upstream's outcome to it alone.
  Answer process(const std::string& principal, const std::string& key, std::optional<nlohmann::json> body,
                 const std::string& raw, const json_text::Problem& problem, const std::string& sender = "");
  void maybe_sweep();
  Answer single_mutation(const HttpRequest& r, const std::string& principal);

  // ---- batch.cc ----
  enum class Atomicity { kWholeBatch, kEachItem };
  Answer batch(const HttpRequest& r, const std::string& principal);
  // held_elsewhere: canonical keys another process sharing the store is running.
  Answer batch_item(const std::string& principal, const std::string& sender, nlohmann::json item,
                    const std::set<std::string>& held_elsewhere, std::vector<std::unique_ptr<KeyClaim>>& claims,
                    Atomicity atomicity);
  // A batch item's Idempotency-Key in its canonical text; nullopt when it has none or no ULID.
  static std::optional<std::string> item_key(const nlohmann::json& item);

  // ---- oauth.cc ----
  Answer oauth_authorize(const HttpRequest& r);
  Answer oauth_token(const HttpRequest& r);
  // The user of a valid, unexpired access token in Authorization: Bearer; nullopt otherwise.
  std::optional<std::string> token_principal(const HttpRequest& r);

  // ---- attachments.cc ----
  Answer attachments(const HttpRequest& r, const std::string& principal, const std::string& route);
  Answer create_attachment(const HttpRequest& r, const std::string& principal);
  Answer put_attachment_chunk(const HttpRequest& r, const std::string& principal, const std::string& id);
  Answer get_attachment(const HttpRequest& r, const std::string& principal, const std::string& id);
  // Under db_mu, in a transaction: removes expired upload sessions and unreferenced attachments.
  int64_t collect_attachments(int64_t now);

  // ---- relay_view.cc ----
  // Writes the principal's upstream client's view of these records into its partition of the
  // change log, when it differs.
  void absorb_upstream(const std::string& principal, Client& upstream,
                       const std::vector<std::pair<std::string, std::string>>& records);
  // Upstream refused (or conflicted on) a mutation the relay accepted: the local client reads it in
  // its next sync page (docs/protocol.md, "Relays").
  void pass_on_outcome(const std::string& principal, Client& upstream, const Mutation& m, bool conflict);
  // The relay's gauges in Prometheus text (from figures the relay thread keeps: never waits).
  std::string relay_metrics() const;

  // ---- change_feed.cc ----
  Answer sync(const HttpRequest& r, const std::string& principal);
  // Cursor keys are read per request: `offsync admin rotate-cursor` may run in another process.
  CursorCodec load_codec();
  void add_cursor_key(uint32_t version);

  // Runs fn (store work) with a store fault, or an exception of an app's validator, answered 503
  // (retried by the client); nothing fn did is committed unless it committed it.
  template <typename Fn>
  Answer guarded_answer(Fn&& fn) {
    try {
      return fn();
    } catch (const StorageFull& e) {
      Answer full = error(507, "storage_full", std::string("the server's disk is full: ") + e.what(), "transient");
      full.retry_after_s = 60;
      return full;
    } catch (const std::exception& e) {
      if (storage::is_store_full(e)) {
        Answer full = error(507, "storage_full", std::string("the server's store is full: ") + e.what(), "transient");
        full.retry_after_s = 60;
        return full;
      }
      if (storage::is_store_failure(e)) return unavailable(std::string("the store failed: ") + e.what());
      return unavailable(std::string("internal error: ") + e.what());
    }
  }

};

}  // namespace offsync
