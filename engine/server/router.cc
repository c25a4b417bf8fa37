// Dispatch: routes, methods, limits, the version gate, authentication, and the HTTP answer with the
// protocol's headers and the request's metrics.
#include <charconv>
#include <chrono>

#include "engine/server/mutation_request.h"
#include <future>

#include "engine/server/server_impl.h"

namespace offsync {

using nlohmann::json;
using storage::ServerTransaction;

namespace {

// Offsync-Outbox: "pending=3, oldest_age_s=540, rejected=1" (unknown keys and bad numbers ignored).
ServerMetrics::Telemetry telemetry_of(const HttpRequest& r) {
  ServerMetrics::Telemetry t;
  t.app_version = r.headers.get("Offsync-App-Version").value_or("");
  t.os_version = r.headers.get("Offsync-OS-Version").value_or("");
  std::string outbox = r.headers.get("Offsync-Outbox").value_or("");
  size_t pos = 0;
  while (pos < outbox.size()) {
    size_t comma = outbox.find(',', pos);
    std::string part = outbox.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? outbox.size() : comma + 1;
    size_t eq = part.find('=');
    if (eq == std::string::npos) continue;
    std::string key = part.substr(0, eq);
    key.erase(0, key.find_first_not_of(' '));
    int64_t value = 0;
    std::string text = part.substr(eq + 1);
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < 0) continue;
    if (key == "pending") t.pending = value;
    if (key == "oldest_age_s") t.oldest_age_s = value;
    if (key == "rejected") t.rejected = value;
  }
  return t;
}

std::string route_of(const std::string& path) {
  for (const char* route : {kMutationsPath, kBatchPath, kSyncPath, kHealthPath, kMetricsPath, kAuthorizePath, kTokenPath,
                            kAttachmentsPath}) {
    if (path == route) return route;
  }
  if (path.starts_with(std::string(kAttachmentsPath) + "/")) return kAttachmentPath;
  return "other";
}

}  // namespace

std::optional<Answer> Server::Impl::gate(const HttpRequest& r) {
  std::optional<std::string> min = options.min_app_version ? options.min_app_version : options.schema.min_app_version();
  auto version = r.headers.get("Offsync-App-Version");
  if (!min || !version) return std::nullopt;  // a missing version is admitted
  auto cmp = compare_versions(*version, *min);
  if (!cmp) return error(400, "invalid_app_version", "Offsync-App-Version must be a dotted version like 1.4.2");
  if (*cmp < 0) {
    return error(426, "upgrade_required", "app version " + *version + " is below the minimum " + *min, "upgrade");
  }
  return std::nullopt;
}

std::optional<std::string> Server::Impl::principal_of(const HttpRequest& r) {
  if (options.authenticate) return options.authenticate(r);
  if (options.require_auth) return token_principal(r);
  return std::string();
}

void Server::Impl::count_outcome(const std::string& route, const Answer& a) {
  if (a.replayed) {
    metrics.count_replay(route);
  } else if (a.status == 200) {
    metrics.count_applied(route);
  } else if (!a.failure.empty()) {
    metrics.count_failure(route, a.failure);
  }
}

Answer Server::Impl::dispatch(const HttpRequest& r, const std::string& route) {
  if (route == kHealthPath) {
    if (r.method != "GET") return error(405, "method_not_allowed", "use GET");
    return Answer{200, json{{"status", "ok"}, {"protocol", 1}, {"batch", true}, {"node", hlc->node()}}.dump()};
  }
  if (route == "other") return error(404, "not_found", "no endpoint " + r.method + " " + r.path(), "not_found");
  if (route == kAuthorizePath) return oauth_authorize(r);
  if (route == kTokenPath) {
    if (r.body.size() > 64 * 1024) return error(413, "body_too_large", "a token request is a small form");
    return oauth_token(r);
  }
  bool mutating = route == kMutationsPath || route == kBatchPath;
  if (mutating && r.method != "POST") return error(405, "method_not_allowed", "use POST");
  if (route == kSyncPath && r.method != "GET") return error(405, "method_not_allowed", "use GET");
  if (r.body.size() > options.max_body_bytes) {
    return error(413, "body_too_large", "the body is over " + std::to_string(options.max_body_bytes) + " bytes");
  }
  if ((mutating || route == kAttachmentsPath) && !is_json_content(r)) {
    return error(415, "unsupported_media_type", "send the body as Content-Type: application/json");
  }
  if (auto refused = gate(r)) return *refused;
  auto principal = principal_of(r);
  if (!principal) return error(401, "unauthenticated", "sign in: no valid bearer token", "auth");
  if (route == kMutationsPath) return single_mutation(r, *principal);
  if (route == kBatchPath) return batch(r, *principal);
  if (route == kAttachmentsPath || route == kAttachmentPath) return attachments(r, *principal, route);
  return sync(r, *principal);
}

namespace {

// The wait of GET /v1/sync?wait=S (docs/protocol.md, "Waiting for changes"), in ms; 0: none.
int64_t wait_of(const HttpRequest& r) {
  if (r.method != "GET" || r.path() != kSyncPath) return 0;
  auto text = r.query("wait");
  if (!text || text->empty() || text->size() > 2) return 0;
  int64_t s = 0;
  for (char c : *text) {
    if (c < '0' || c > '9') return 0;  // answered 400 by the page itself
    s = s * 10 + (c - '0');
  }
  return s >= 1 && s <= kMaxSyncWaitS ? s * 1000 : 0;
}

}  // namespace

LongPolls& Server::Impl::long_polls() {
  std::lock_guard<std::mutex> lock(polls_mu);
  if (!polls) {
    polls = std::make_unique<LongPolls>([this](const HttpRequest& r, bool* empty) { return handle(r, empty); });
    has_polls = true;
  }
  return *polls;
}

int64_t Server::Impl::long_polls_held() {
  if (!has_polls) return 0;
  std::lock_guard<std::mutex> lock(polls_mu);
  return polls ? static_cast<int64_t>(polls->held()) : 0;
}

void Server::Impl::changed(const std::string& partition) {
  if (!has_polls) return;
  std::lock_guard<std::mutex> lock(polls_mu);  // never held while waiting: see ~Server
  if (polls) polls->changed(partition);
}

void Server::handle_async(const HttpRequest& request, std::function<void(HttpResponse)> done,
                          std::shared_ptr<const std::atomic<bool>> gone) {
  int64_t wait_ms = wait_of(request);
  std::optional<std::string> principal;
  if (wait_ms > 0) {
    try {
      principal = impl_->principal_of(request);
    } catch (...) {
      // Answered below, without waiting.
    }
  }
  if (!principal) return done(handle(request));
  impl_->long_polls().handle(request, *principal, std::chrono::milliseconds(wait_ms), std::move(done), std::move(gone));
}

void Server::release_waiting() {
  if (impl_->has_polls) impl_->polls->release_all();
}

HttpResponse Server::handle(const HttpRequest& request) {
  if (wait_of(request) > 0) {
    // Held like any long poll; this thread waits for the answer.
    auto answer = std::make_shared<std::promise<HttpResponse>>();
    auto ready = answer->get_future();
    handle_async(request, [answer](HttpResponse r) { answer->set_value(std::move(r)); });
    return ready.get();
  }
  try {
    return impl_->handle(request);
  } catch (...) {
    // Out of memory while answering, most likely: the smallest answer that says so.
    HttpResponse r;
    r.status = 500;
    r.body = R"({"error":{"code":"internal","message":"the server could not answer"}})";
    return r;
  }
}

void Server::Impl::log(LogLevel level, const std::string& message) const {
  if (!options.log) return;
  try {
    options.log(level, "server", message);
  } catch (...) {
    // A sink that throws loses its message.
  }
}

HttpResponse Server::Impl::handle(const HttpRequest& request, bool* empty_page) {
  auto start = std::chrono::steady_clock::now();
  std::string route = route_of(request.path());
  HttpResponse response;
  if (route == kMetricsPath && request.method == "GET" && !principal_of(request)) {
    Answer refused = error(401, "unauthenticated", "sign in: no valid bearer token", "auth");
    response.status = refused.status;
    response.body = std::move(refused.body);
    response.headers.set("Content-Type", "application/json");
  } else if (route == kMetricsPath && request.method == "GET") {
    response.body = metrics.render();
    response.body += "# HELP offsync_long_polls_held GET /v1/sync?wait= requests held now, waiting for a change\n"
                     "# TYPE offsync_long_polls_held gauge\noffsync_long_polls_held " +
                     std::to_string(long_polls_held()) + "\n";
    if (relay) response.body += relay_metrics();
    response.headers.set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  } else {
    Answer a;
    try {
      a = dispatch(request, route);
    } catch (const std::exception& e) {
      // Never crash on a request: whatever slipped through is a 500, and nothing was committed.
      a = error(500, "internal", std::string("internal error: ") + e.what(), "transient");
    }
    if (empty_page) *empty_page = a.empty_page;
    response.status = a.status;
    response.body = std::move(a.body);
    response.headers.set("Content-Type", a.content_type);
    for (const auto& [name, value] : a.headers) response.headers.set(name, value);
    if (a.replayed) response.headers.set("Idempotent-Replayed", "true");
    if (a.deprecated) {
      response.headers.set("Deprecation", "@1767225600");  // 2026-01-01: when the v0 shape was deprecated
      response.headers.set("Sunset", options.sunset);
    }
    if (a.retry_after_s) response.headers.set("Retry-After", std::to_string(*a.retry_after_s));
    if (route == kMutationsPath || (route == kBatchPath && a.status != 200)) count_outcome(route, a);
    if (a.status >= 500) log(LogLevel::kError, route + " answered " + std::to_string(a.status) + ": " + response.body);
  }
  if (route == kSyncPath) metrics.observe_sync(telemetry_of(request), response.status == 200);
  if ((route == kMutationsPath || route == kBatchPath) && request.headers.get("Offsync-Outbox")) {
    metrics.observe_push(telemetry_of(request));
  }
  if (relay && (route == kMutationsPath || route == kBatchPath)) relay->applied();
  if (relay && route == kSyncPath) relay->local_pull();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  metrics.observe_request(route, response.status, seconds);
  return response;
}

}  // namespace offsync
