#include "engine/client/round.h"

namespace offsync {

std::string_view sync_state_name(SyncState state) {
  switch (state) {
    case SyncState::kIdle: return "idle";
    case SyncState::kPushing: return "pushing";
    case SyncState::kPulling: return "pulling";
    case SyncState::kOffline: return "offline";
    case SyncState::kBackingOff: return "backing_off";
    case SyncState::kPaused: return "paused";
  }
  return "unknown";
}

Round::Round(Client::Impl& impl, bool explicit_request)
    : c_(impl),
      explicit_(explicit_request),
      backoff_(impl.options.sync.backoff_base_ms, impl.options.sync.backoff_cap_ms, impl.random) {}

SyncReport Round::run() {
  push();
  if (!stopped()) pull();
  finish();
  return report_;
}

HttpRequest Round::request(const std::string& method, const std::string& target) const {
  return c_.make_request(method, target);
}

HttpRequest Client::Impl::make_request(const std::string& method, const std::string& target) const {
  HttpRequest r{.method = method, .target = target};
  const SyncOptions& o = options.sync;
  std::string bearer;
  {
    std::lock_guard<std::mutex> lock(state_mu);
    bearer = token;
  }
  if (!bearer.empty()) r.headers.add("Authorization", "Bearer " + bearer);
  if (!o.app_version.empty()) r.headers.add("Offsync-App-Version", o.app_version);
  if (!o.os_version.empty()) r.headers.add("Offsync-OS-Version", o.os_version);
  if (!o.device.empty()) r.headers.add("Offsync-Device", o.device);
  // A relay passes upstream's refusals of this client's mutations back to it alone.
  if (!client_id.empty()) r.headers.add("Offsync-Client-Id", client_id);
  if (method == "POST") r.headers.add("Content-Type", "application/json");
  return r;
}

std::optional<HttpResponse> Round::send(const HttpRequest& r) {
  auto answer = c_.send(r);
  if (!answer) {
    unreachable_ = true;
    unreachable_reason_ = answer.status().message();
    return std::nullopt;
  }
  report_.reached = true;
  return std::move(*answer);
}

void Round::pause(const std::string& reason, bool unauthorized) {
  unauthorized_ = unauthorized_ || unauthorized;
  report_.paused = true;
  report_.pause_reason = reason;
  log(LogLevel::kWarning, "sync paused: " + reason);
  std::lock_guard<std::mutex> lock(c_.state_mu);
  c_.paused = true;
}

bool Round::stored(const Status& s, std::string_view what) {
  if (s) return true;
  if (store_failure_.is_ok()) {
    store_failure_ = s;
    log(LogLevel::kError, "the round stops: " + std::string(what) + " failed: " + s.to_string());
  }
  return false;
}

void Round::log(LogLevel level, const std::string& message) const { c_.log(level, "sync", message); }

void Round::finish() {
  auto left = c_.locked("count transient", [&]() -> Result<int64_t> {
    int64_t n = 0;
    c_.store->for_each_head([&](const storage::ClientStore::Head& h) {
      if (h.state == MutationState::kPending && attempted_.contains(h.id)) ++n;
      return true;
    });
    return n;
  });
  if (stored(left.status(), "count transient")) report_.transient_left = *left + uploads_failed_;
  tell_observers();
}

void Round::tell_observers() {
  auto observers = c_.observers_copy();
  for (const auto& o : observers) {
    c_.tell(o, [&](SyncObserver& x) {
      if (!changed_.empty()) x.on_view_changed(changed_);
      for (const auto& m : rejected_) x.on_rejected(m);
      for (const auto& m : conflicts_) x.on_conflict(m);
      if (progress_) x.on_progress(*progress_);
    });
  }
  progress_.reset();
  changed_.clear();
  rejected_.clear();
  conflicts_.clear();
}

}  // namespace offsync
