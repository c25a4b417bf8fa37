// Relay mode of the server half (docs/architecture.md, "The relay"). Each local principal has a
// lane: an upstream Client, under that principal's upstream identity, whose view is the relay's
// state of the principal's partition. Mutations the relay applies for its local clients are handed
// over from the relay_outbox table into the lane's outbox under their original keys; whatever
// changes the lane's view (a pull, an acknowledgement, a revert after a refusal) is written into
// the relay's change log, so local clients see upstream's state on their next pull.
//
// Two threads: one hands mutations over, one runs the lanes' sync rounds, so that a round's
// requests overlap with the next hand-over. Without auth there is one lane, for the shared
// partition "", under UpstreamOptions::sync.token; with auth, a principal gets a lane once
// Server::set_upstream_credentials() gave it an identity, and its mutations wait until then.
// Internal to the server half.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "offsync/client.h"
#include "offsync/server.h"

namespace offsync {

// Adds one upstream outbox's figures to a total (the oldest pending of both).
void add_outbox_summary(OutboxSummary& total, const OutboxSummary& one);

class Relay {
 public:
  // Opens the lanes known so far and starts the threads.
  static Result<std::unique_ptr<Relay>> start(Server::Impl& server);
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // A local mutation was applied (its hand-over row committed).
  void applied();
  // A local client asked for changes: pull upstream now, unless that was done very recently.
  void local_pull();
  // An upstream identity was stored: the rounds thread takes it.
  void identities_changed();
  // UpstreamOptions::manual: what both threads do, once, on the calling thread.
  void run_once();
  // Mutations not yet forwarded: handed over or in an upstream outbox (as of the last round).
  bool has_work() const { return work_.load(); }
  // As of the last round, for /metrics (never waits on a store).
  struct Figures {
    int64_t pending = 0;
    int64_t oldest_pending_created_at_ms = 0;  // 0: none pending
    int64_t last_contact_ms = 0;               // 0: never
    int64_t lanes = 0;
  };
  Figures figures() const { return {pending_.load(), oldest_.load(), last_contact_.load(), lanes_count_.load()}; }
  // The lanes' outboxes together.
  std::optional<OutboxSummary> upstream_summary();
  // An attachment a record pulled from upstream lists, which the relay does not hold: fetched
  // through the principal's lane (resumably) and kept in the relay's store. Blocks while it
  // downloads; kNotFound when neither the relay nor that lane knows it.
  Status fetch_attachment(const std::string& principal, const std::string& id);
  // The same for a local client's GET: the fetch runs on a thread of its own (one per attachment,
  // at most kMaxFetches at once) and this waits for it at most wait_ms. kDeadlineExceeded when it
  // is still running then (the client asks again, and finds it done or further along).
  Status fetch_attachment_within(const std::string& principal, const std::string& id, int64_t wait_ms);
  static constexpr size_t kMaxFetches = 2;

  // The store of the principal's upstream client: `<db>.upstream` for the shared partition,
  // `<db>.upstream-<hash of the principal>` for the others.
  static std::string client_path(const ServerOptions& options, const std::string& principal);
  // Where an `offsync admin stats` in another process finds the lanes' stores.
  static std::vector<std::string> client_paths(const ServerOptions& options, const std::vector<std::string>& principals);

 private:
  struct Lane {
    std::string principal;
    // Its way upstream (lane_transport()); cancelled when the relay stops.
    std::shared_ptr<Transport> transport;
    std::unique_ptr<Client> client;
    // The rounds thread's own.
    int64_t next_round_ms = 0;  // at once: the outbox may hold work from before a restart
    int failures = 0;
  };
  explicit Relay(Server::Impl& server) : server_(server) {}
  Result<std::shared_ptr<Lane>> open_lane(const std::string& principal, const std::string& token);
  // A lane's clients (its rounds, a file fetch) never send at once, but two lanes do: each lane
  // gets a connection of its own (Transport::open_another), or, when the configured transport
  // cannot open one, takes turns on it with the other lanes.
  std::shared_ptr<Transport> lane_transport();
  std::shared_ptr<std::mutex> shared_upstream_mu_ = std::make_shared<std::mutex>();
  // Opens lanes for new identities and hands new credentials to their clients.
  void refresh_lanes();
  std::vector<std::shared_ptr<Lane>> lanes() const;
  std::shared_ptr<Lane> lane_of(const std::string& principal) const;
  void hand_over_loop();
  void rounds_loop();
  // Runs the lane's round when due; returns when the next one is due.
  int64_t round(Lane& lane, bool wanted, bool pull);
  void update_figures();
  // Moves hand-over rows of the lane's principal into its outbox; false when none were left.
  bool hand_over_some(Lane& lane);
  // Copies an attachment a forwarded mutation lists into the lane's client, a MiB at a time
  // (relay_attachments.cc).
  Status pass_on_attachment(Lane& lane, const std::string& id);

  Server::Impl& server_;
  mutable std::mutex lanes_mu_;
  std::map<std::string, std::shared_ptr<Lane>> lanes_;  // GUARDED_BY(lanes_mu_)
  std::mutex mu_;
  std::condition_variable hand_cv_, rounds_cv_;
  bool stopping_ = false;                  // GUARDED_BY(mu_)
  bool hand_wake_ = true;                  // GUARDED_BY(mu_)
  std::set<std::string> rounds_wanted_;    // GUARDED_BY(mu_): principals whose outbox grew
  bool pull_wanted_ = false;               // GUARDED_BY(mu_)
  bool identities_dirty_ = true;           // GUARDED_BY(mu_)
  int64_t last_pull_ms_ = 0;               // GUARDED_BY(mu_)
  uint64_t work_generation_ = 0;           // GUARDED_BY(mu_): bumped by applied()
  std::atomic<bool> work_{true};
  std::atomic<int64_t> pending_{0}, oldest_{0}, last_contact_{0}, lanes_count_{0};
  std::thread hand_thread_, rounds_thread_;

  // Fetches of files for local clients (relay_attachments.cc): done ones wait here until a client
  // takes the result (or the relay stops).
  struct Fetch {
    bool done = false;  // GUARDED_BY(fetch_mu_)
    Status result;      // GUARDED_BY(fetch_mu_)
    std::thread thread;
  };
  std::mutex fetch_mu_;
  std::condition_variable fetch_cv_;
  std::map<std::string, std::shared_ptr<Fetch>> fetches_;  // GUARDED_BY(fetch_mu_): principal + '\n' + id
  bool fetches_stopped_ = false;                            // GUARDED_BY(fetch_mu_)
  void join_fetches();
};

}  // namespace offsync
