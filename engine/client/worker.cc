// The sync worker: one thread per Client that runs rounds when woken (a write, sync_now(), a
// connectivity change) or when a timer is due, and the public face of sync (status, observers).
#include <algorithm>
#include <chrono>
#include <optional>

#include "engine/client/round.h"

namespace offsync {

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
  std::optional<Round> round_state(std::in_place, *this, explicit_request);
  SyncReport report;
  Status failure;
  try {
    report = round_state->run();
    failure = round_state->store_failure();
    if (failure.is_ok() && round_state->unauthorized() && !options.sync.oauth_client_id.empty()) {
      // The token was refused: a refresh token, if there is one, gets a new one without the app.
      Status refreshed = refresh_tokens();
      if (refreshed) {
        log(LogLevel::kInfo, "auth", "the access token was refreshed after a 401");
        round_state.emplace(*this, explicit_request);
        report = round_state->run();
        failure = round_state->store_failure();
      } else {
        log(LogLevel::kWarning, "auth", refreshed.message());
        report.pause_reason = refreshed.message();
      }
    }
  } catch (const std::exception& e) {
    // Nothing below should throw; if something does, the round ends here like a store fault.
    failure = Status::internal(std::string("the sync round failed: ") + e.what());
    log(LogLevel::kError, "sync", failure.message());
  }
  int64_t now = clock.now_ms();
  if (failure.is_ok() && now - last_collect_ms >= 3600 * 1000) {
    last_collect_ms = now;
    if (auto collected = collect_attachments(); !collected) {
      log(LogLevel::kWarning, "attachments", "collecting unreferenced attachments failed: " + collected.status().to_string());
    }
  }
  Backoff backoff(options.sync.backoff_base_ms, options.sync.backoff_cap_ms, random);
  SyncStatus next;
  if (!failure.is_ok()) {
    // The store cannot be written (a full disk, a read-only file): waiting is all that helps.
    int failures;
    {
      std::lock_guard<std::mutex> lock(state_mu);
      failures = ++store_failures;
    }
    next = {SyncState::kBackingOff, now + std::max<int64_t>(1, backoff.ceiling_ms(failures)), failure.to_string()};
  } else if (report.paused) {
    next = {SyncState::kPaused, 0, report.pause_reason};
  } else if (round_state->unreachable()) {
    int failures;
    {
      std::lock_guard<std::mutex> lock(state_mu);
      failures = ++offline_failures;
    }
    next = {SyncState::kOffline, now + backoff.ceiling_ms(failures), round_state->unreachable_reason()};
  } else {
    {
      std::lock_guard<std::mutex> lock(state_mu);
      offline_failures = 0;
    }
    auto at = locked("next attempt", [&]() -> Result<std::optional<int64_t>> {
      return store->next_attempt_after(now);
    });
    // What the round left for later may have fallen due while it ran, past the store's "after now".
    std::optional<int64_t> due = round_state->next_due();
    if (at && *at) due = due ? std::min(*due, **at) : **at;
    if (due) {
      next = {SyncState::kBackingOff, std::max<int64_t>(*due, 1), "transient failures"};
    } else if (options.sync.pull_interval_ms > 0) {
      next = {SyncState::kIdle, now + options.sync.pull_interval_ms, ""};
    } else {
      next = {SyncState::kIdle, 0, ""};
    }
  }
  if (failure.is_ok()) {
    std::lock_guard<std::mutex> lock(state_mu);
    store_failures = 0;
  }
  set_status(next);
  if (!failure.is_ok()) return failure;
  return report;
}

void Client::Impl::set_status(SyncStatus s) {
  std::vector<std::shared_ptr<SyncObserver>> copy;
  {
    std::lock_guard<std::mutex> lock(state_mu);
    status = s;
    copy = observers;
  }
  for (const auto& o : copy) tell(o, [&](SyncObserver& x) { x.on_state(s); });
}

std::vector<std::shared_ptr<SyncObserver>> Client::Impl::observers_copy() const {
  std::lock_guard<std::mutex> lock(state_mu);
  return observers;
}

void Client::Impl::log(LogLevel level, std::string_view component, const std::string& message) const {
  if (!options.log) return;
  try {
    options.log(level, component, message);
  } catch (...) {
    // A sink that throws loses its message; the library goes on.
  }
}

void Client::Impl::start_worker() {
  worker = std::thread([this] { worker_loop(); });
  start_watch();
}

void Client::Impl::start_watch() {
  if (options.sync.watch_wait_s <= 0) return;
  watcher = options.sync.watch_transport;
  if (!watcher) watcher = options.sync.transport->open_another();
  if (watcher) poller = std::thread([this] { poller_loop(); });
}

void Client::Impl::stop_worker() {
  {
    std::lock_guard<std::mutex> lock(state_mu);
    stopping = true;
  }
  wake_cv.notify_all();
  if (watcher) watcher->cancel();  // its long poll ends now
  if (poller.joinable()) poller.join();
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
        if (due <= clock.now_ms()) break;
        clock.wait_until(wake_cv, lock, due);  // real time, or a test's virtual clock
      }
    }
    if (stopping) break;
    wake = false;
    if (connectivity == Connectivity::kOffline) {
      if (status.state != SyncState::kOffline || status.next_attempt_at_ms != 0) {
        lock.unlock();
        set_status({SyncState::kOffline, 0, "the app reported no network"});
        lock.lock();
      }
      continue;
    }
    if (paused) continue;
    lock.unlock();
    (void)round(false);  // what it could not do, it logged and put in the status
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
    impl_->wake = true;  // the worker tells observers (offline) or tries at once (online)
    if (connectivity != Connectivity::kOffline) impl_->offline_failures = 0;
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

ObserverHandle Client::add_observer(std::shared_ptr<SyncObserver> observer) {
  {
    std::lock_guard<std::mutex> lock(impl_->state_mu);
    impl_->observers.push_back(observer);
  }
  // The handle must not keep the Client alive, nor fail after it is gone: it holds the observer
  // and finds the Client through a weak link.
  std::weak_ptr<Impl::Alive> alive = impl_->alive;
  return ObserverHandle([alive, observer] {
    auto link = alive.lock();
    if (!link) return;
    std::lock_guard<std::mutex> gone(link->mu);
    if (!link->impl) return;
    std::lock_guard<std::mutex> lock(link->impl->state_mu);
    auto& list = link->impl->observers;
    list.erase(std::remove(list.begin(), list.end(), observer), list.end());
  });
}

Status Client::wait_until_synced(int64_t timeout_ms) {
  auto up_to = impl_->locked("wait until synced", [&]() -> Result<std::optional<std::string>> {
    return impl_->store->newest_mutation_id();
  });
  if (!up_to) return up_to.status();
  if (!*up_to) return Status::ok();
  bool worker = impl_->options.sync.transport && impl_->options.sync.background;
  if (worker) sync_now();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max<int64_t>(timeout_ms, 0));
  std::unique_lock<std::mutex> lock(impl_->mu);
  for (;;) {
    auto progress = guarded("wait until synced", [&]() -> Result<storage::ClientStore::OutboxProgress> {
      return impl_->store->outbox_progress(**up_to);
    });
    if (!progress) return progress.status();
    if (progress->stuck) {
      const Mutation& m = *progress->stuck;
      std::string what = "mutation " + m.id + " (" + m.collection + "/" + m.record_id + ") is " +
                         std::string(mutation_state_name(m.state)) + (m.last_error.empty() ? "" : ": " + m.last_error);
      return m.state == MutationState::kConflict ? Status::conflict(what) : Status::validation(what);
    }
    if (progress->waiting == 0) return Status::ok();
    if (!worker) {
      return Status::invalid_argument(std::to_string(progress->waiting) +
                                      " mutation(s) wait and this client has no sync worker to send them");
    }
    // Woken after every use of the store; checked at least every second in any case.
    if (impl_->store_cv.wait_until(lock, std::min(deadline, std::chrono::steady_clock::now() + std::chrono::seconds(1))) ==
            std::cv_status::timeout &&
        std::chrono::steady_clock::now() >= deadline) {
      return Status::deadline_exceeded(std::to_string(progress->waiting) + " mutation(s) not acknowledged after " +
                                       std::to_string(timeout_ms) + " ms");
    }
  }
}

bool Client::Impl::registered(const std::shared_ptr<SyncObserver>& observer) const {
  std::lock_guard<std::mutex> lock(state_mu);
  return std::find(observers.begin(), observers.end(), observer) != observers.end();
}

Result<std::optional<std::pair<std::string, int64_t>>> Client::cursor() {
  return impl_->locked("cursor", [&]() -> Result<std::optional<std::pair<std::string, int64_t>>> {
    auto c = impl_->store->meta("cursor");
    if (!c) return std::optional<std::pair<std::string, int64_t>>();
    int64_t at = std::stoll(impl_->store->meta("cursor_at").value_or("0"));
    return std::optional<std::pair<std::string, int64_t>>(std::make_pair(*c, at));
  });
}

}  // namespace offsync
