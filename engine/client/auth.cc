// The client's side of auth: the user a store is bound to, its tokens (kept in the store's meta
// table), the refresh after a 401, and sign-out.
#include "engine/client/client_impl.h"
#include "engine/client/wire.h"

namespace offsync {

namespace {

constexpr const char* kUser = "auth.user";
constexpr const char* kAccessToken = "auth.access_token";
constexpr const char* kRefreshToken = "auth.refresh_token";

}  // namespace

Status Client::sign_in(const Credentials& credentials) {
  if (credentials.user.empty()) return Status::invalid_argument("credentials name no user");
  if (credentials.access_token.empty()) return Status::invalid_argument("credentials hold no access token");
  // No round may run while another user's data may go: it would write it back.
  std::unique_lock<std::mutex> no_round(impl_->round_mu);
  bool wiped = false;
  Status s = impl_->write("sign in", [&]() -> Status {
    auto& store = *impl_->store;
    auto bound = store.meta(kUser);
    if (bound && *bound != credentials.user) {
      if (int64_t unsent = store.unsent_count(); unsent > 0) {
        return Status::conflict("this store holds " + std::to_string(unsent) + " unsent mutation(s) of " + *bound +
                                ": they are never sent as " + credentials.user + "; sign out first");
      }
      store.wipe_user_data();  // the previous user's synced data is not the new user's to see
      wiped = true;
    }
    store.set_meta(kUser, credentials.user);
    store.set_meta(kAccessToken, credentials.access_token);
    store.set_meta(kRefreshToken, credentials.refresh_token);
    return Status::ok();
  });
  if (!s) return s;
  if (wiped) {
    Status compacted = impl_->locked("compact after sign-in", [&]() -> Status {
      impl_->store->compact_files();
      return Status::ok();
    });
    if (!compacted) impl_->log(LogLevel::kWarning, "auth", "the wiped store could not be compacted: " + compacted.message());
  }
  no_round.unlock();
  set_token(credentials.access_token);
  return Status::ok();
}

Result<int64_t> Client::sign_out() {
  // No round may run while the data goes: it would write the old user's answers back.
  std::lock_guard<std::mutex> no_round(impl_->round_mu);
  auto unsent = impl_->write("sign out", [&]() -> Result<int64_t> {
    int64_t n = impl_->store->unsent_count();
    impl_->store->wipe_user_data();
    return n;
  });
  if (!unsent) return unsent;
  Status compacted = impl_->locked("compact after sign-out", [&]() -> Status {
    impl_->store->compact_files();
    return Status::ok();
  });
  if (!compacted) return compacted;
  {
    std::lock_guard<std::mutex> lock(impl_->state_mu);
    impl_->token.clear();
    impl_->paused = true;  // nothing to send for nobody; sign_in() or set_token() resumes
  }
  return unsent;
}

Result<std::optional<std::string>> Client::signed_in_user() {
  return impl_->locked("signed-in user", [&]() -> Result<std::optional<std::string>> {
    return impl_->store->meta(kUser);
  });
}

void Client::Impl::load_stored_token() {
  auto stored = locked("read token", [&]() -> Result<std::optional<std::string>> { return store->meta(kAccessToken); });
  if (stored && *stored && !(*stored)->empty() && options.sync.token.empty()) {
    std::lock_guard<std::mutex> lock(state_mu);
    token = **stored;
  }
}

Status Client::Impl::refresh_tokens() {
  if (options.sync.oauth_client_id.empty()) return Status(StatusCode::kUnauthenticated, "no OAuth client id to refresh with");
  auto refresh = locked("read refresh token", [&]() -> Result<std::optional<std::string>> {
    return store->meta(kRefreshToken);
  });
  if (!refresh) return refresh.status();
  if (!*refresh || (*refresh)->empty()) return Status(StatusCode::kUnauthenticated, "no refresh token");
  HttpRequest r{.method = "POST", .target = "/oauth/token"};
  r.headers.add("Content-Type", "application/x-www-form-urlencoded");
  r.body = "grant_type=refresh_token&refresh_token=" + percent_encode(**refresh) +
           "&client_id=" + percent_encode(options.sync.oauth_client_id);
  auto answer = send(r);
  if (!answer) return answer.status();
  // Read defensively: a token answer from a broken server must not become a token.
  auto body = json_text::parse(answer->body);
  auto access = body ? json_text::member(*body, "access_token") : std::nullopt;
  auto next_refresh = body ? json_text::member(*body, "refresh_token") : std::nullopt;
  if (answer->status != 200 || !access || !access->is_string()) {
    auto error = body ? json_text::member(*body, "error") : std::nullopt;
    std::string why = error && error->is_string() ? json_text::string_of(*error) : "HTTP " + std::to_string(answer->status);
    return Status(StatusCode::kUnauthenticated, "the refresh was refused (" + why + "): sign in again");
  }
  std::string access_token = json_text::string_of(*access);
  Status stored = write("store refreshed tokens", [&]() -> Status {
    store->set_meta(kAccessToken, access_token);
    if (next_refresh && next_refresh->is_string()) store->set_meta(kRefreshToken, json_text::string_of(*next_refresh));
    return Status::ok();
  });
  if (!stored) return stored;
  std::lock_guard<std::mutex> lock(state_mu);
  token = access_token;
  paused = false;
  return Status::ok();
}

}  // namespace offsync
