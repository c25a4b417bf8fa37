// Relay mode of the server half (docs/architecture.md, "The relay"): an upstream Client whose view
// is the relay's state. Mutations the relay applies for its local clients are handed over from the
// relay_outbox table into that client's outbox under their original keys; whatever changes the
// client's view (a pull, an acknowledgement, a revert after a refusal) is written into the relay's
// change log, so local clients see upstream's state on their next pull.
// Internal to the server half.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "offsync/client.h"
#include "offsync/server.h"

namespace offsync {

class Relay {
 public:
  // Opens the upstream client and starts the hand-over thread.
  static Result<std::unique_ptr<Relay>> start(Server::Impl& server);
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // A local mutation was applied (its hand-over row committed).
  void applied();
  // A local client asked for changes: pull upstream now, unless that was done very recently.
  void local_pull();
  Client& upstream() { return *client_; }
  // Mutations not yet forwarded: handed over or in the upstream outbox (as of the last round).
  bool has_work() const { return work_.load(); }
  // As of the last round, for /metrics (never waits on a store).
  struct Figures {
    int64_t pending = 0;
    int64_t oldest_pending_created_at_ms = 0;  // 0: none pending
    int64_t last_contact_ms = 0;               // 0: never
  };
  Figures figures() const { return {pending_.load(), oldest_.load(), last_contact_.load()}; }
  // The upstream store's path.
  static std::string client_path(const ServerOptions& options);

 private:
  explicit Relay(Server::Impl& server) : server_(server) {}
  void hand_over_loop();
  // Moves hand-over rows into the upstream outbox; false when nothing was left.
  bool hand_over_some();
  // Copies an attachment a forwarded mutation lists into the upstream client, a MiB at a time.
  Status pass_on_attachment(const std::string& principal, const std::string& id);

  Server::Impl& server_;
  std::unique_ptr<Client> client_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool wake_ = true, stopping_ = false;  // GUARDED_BY(mu_)
  bool pull_wanted_ = false;             // GUARDED_BY(mu_)
  int64_t last_pull_ms_ = 0;             // GUARDED_BY(mu_)
  std::atomic<bool> work_{true};
  std::atomic<int64_t> pending_{0}, oldest_{0}, last_contact_{0};
  std::thread thread_;
};

}  // namespace offsync
