// OAuth 2.0 for native apps (RFC 8252): the authorization code flow (RFC 6749 §4.1) with PKCE S256
// only (RFC 7636), refresh tokens rotated on each use, bearer tokens with expiry. Codes and tokens
// are stored as their SHA-256; errors of the token endpoint are RFC 6749 §5.2's.
#include <nlohmann/json.hpp>

#include "engine/common/crypto.h"
#include "engine/server/server_impl.h"

namespace offsync {

using nlohmann::json;
using storage::ServerTransaction;

namespace {

constexpr size_t kChallengeLength = 43;  // BASE64URL of 32 bytes, unpadded

bool is_base64url(std::string_view s) {
  for (char c : s) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

// RFC 7636 §4.1: 43 to 128 of A-Z a-z 0-9 - . _ ~
bool valid_verifier(std::string_view v) {
  if (v.size() < 43 || v.size() > 128) return false;
  for (char c : v) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
              c == '_' || c == '~';
    if (!ok) return false;
  }
  return true;
}

std::string secret_hash(std::string_view secret) { return hex(sha256(secret)); }

// RFC 6749 §5.2: {"error", "error_description"}, 400 (401 for invalid_client), never cached.
Answer token_error(const std::string& code, const std::string& description) {
  Answer a;
  a.status = code == "invalid_client" ? 401 : 400;
  a.body = json{{"error", code}, {"error_description", description}}.dump(-1, ' ', false, json::error_handler_t::replace);
  a.failure = "validation";
  a.headers = {{"Cache-Control", "no-store"}, {"Pragma", "no-cache"}};
  return a;
}

std::string with_query(const std::string& uri, const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out = uri + (uri.find('?') == std::string::npos ? "?" : "&");
  bool first = true;
  for (const auto& [name, value] : params) {
    if (!first) out += '&';
    first = false;
    out += name + "=" + percent_encode(value);
  }
  return out;
}

}  // namespace

Answer Server::Impl::oauth_authorize(const HttpRequest& r) {
  if (r.method != "GET") return error(405, "method_not_allowed", "use GET");
  std::string client_id = r.query("client_id").value_or("");
  std::string redirect_uri = r.query("redirect_uri").value_or("");
  std::optional<std::vector<std::string>> registered;
  {
    std::lock_guard<std::mutex> lock(db_mu);
    Answer failed = guarded_answer([&] {
      registered = store->oauth_client(client_id);
      return Answer{};
    });
    if (failed.status >= 500) return failed;
  }
  // RFC 6749 §4.1.2.1: an unknown client or redirect URI is told to the user, never redirected to.
  if (!registered) return error(400, "invalid_client", "client_id '" + client_id + "' is not registered");
  if (std::find(registered->begin(), registered->end(), redirect_uri) == registered->end()) {
    return error(400, "invalid_redirect_uri", "redirect_uri is not one registered for " + client_id);
  }
  std::string state = r.query("state").value_or("");
  auto redirect_error = [&](const std::string& code, const std::string& description) {
    std::vector<std::pair<std::string, std::string>> params = {{"error", code}, {"error_description", description}};
    if (!state.empty()) params.emplace_back("state", state);
    Answer a{302, ""};
    a.headers = {{"Location", with_query(redirect_uri, params)}};
    a.failure = "validation";
    return a;
  };
  if (r.query("response_type").value_or("") != "code") {
    return redirect_error("unsupported_response_type", "only response_type=code is supported");
  }
  if (r.query("code_challenge_method").value_or("") != "S256") {
    return redirect_error("invalid_request", "PKCE with code_challenge_method=S256 is required (plain is refused)");
  }
  std::string challenge = r.query("code_challenge").value_or("");
  if (challenge.size() != kChallengeLength || !is_base64url(challenge)) {
    return redirect_error("invalid_request", "code_challenge must be BASE64URL(SHA-256(code_verifier))");
  }
  // Valid: what the consent screen shows, and what it passes to approve_authorization().
  return Answer{200, json{{"client_id", client_id},
                          {"redirect_uri", redirect_uri},
                          {"code_challenge", challenge},
                          {"state", state},
                          {"approve", "Server::approve_authorization or offsync auth approve"}}
                         .dump()};
}

Result<std::string> Server::approve_authorization(const AuthorizationApproval& a) {
  if (a.user.empty()) return Status::invalid_argument("the approval names no user");
  if (a.code_challenge.size() != kChallengeLength || !is_base64url(a.code_challenge)) {
    return Status::invalid_argument("code_challenge must be BASE64URL(SHA-256(code_verifier)), 43 characters");
  }
  std::string code(32, '\0');
  impl_->random.fill(std::span<uint8_t>(reinterpret_cast<uint8_t*>(code.data()), code.size()));
  code = base64url_encode(code);
  std::lock_guard<std::mutex> lock(impl_->db_mu);
  Status stored = storage::guarded("approve", [&]() -> Status {
    auto registered = impl_->store->oauth_client(a.client_id);
    if (!registered) return Status::invalid_argument("client_id '" + a.client_id + "' is not registered");
    if (std::find(registered->begin(), registered->end(), a.redirect_uri) == registered->end()) {
      return Status::invalid_argument("redirect_uri is not one registered for " + a.client_id);
    }
    ServerTransaction tx(*impl_->store);
    impl_->store->put_oauth_code(secret_hash(code), {a.client_id, a.redirect_uri, a.code_challenge, a.user,
                                                     impl_->clock.now_ms() + impl_->options.authorization_code_ttl_ms});
    tx.commit();
    return Status::ok();
  });
  if (!stored) return stored;
  std::vector<std::pair<std::string, std::string>> params = {{"code", code}};
  if (!a.state.empty()) params.emplace_back("state", a.state);
  if (!a.ipc_service.empty()) params.emplace_back("ipc-service", a.ipc_service);
  return with_query(a.redirect_uri, params);
}

Status Server::register_oauth_client(const OAuthClient& client) {
  if (client.client_id.empty()) return Status::invalid_argument("client_id is empty");
  if (client.redirect_uris.empty()) return Status::invalid_argument("a client needs at least one redirect URI");
  for (const auto& uri : client.redirect_uris) {
    if (uri.find(':') == std::string::npos || uri.find('#') != std::string::npos) {
      return Status::invalid_argument("redirect URI '" + uri + "' must be absolute, without a fragment (RFC 6749 §3.1.2)");
    }
  }
  std::lock_guard<std::mutex> lock(impl_->db_mu);
  return storage::guarded("register client", [&]() -> Status {
    ServerTransaction tx(*impl_->store);
    impl_->store->put_oauth_client(client.client_id, client.redirect_uris);
    tx.commit();
    return Status::ok();
  });
}

Answer Server::Impl::oauth_token(const HttpRequest& r) {
  if (r.method != "POST") return error(405, "method_not_allowed", "use POST");
  auto type = r.headers.get("Content-Type").value_or("");
  if (type.substr(0, type.find(';')) != "application/x-www-form-urlencoded") {
    return token_error("invalid_request", "send the token request as application/x-www-form-urlencoded");
  }
  auto param = [&](const char* name) { return form_value(r.body, name).value_or(""); };
  std::string grant = param("grant_type");
  std::string client_id = param("client_id");
  if (grant != "authorization_code" && grant != "refresh_token") {
    return token_error("unsupported_grant_type", "grant_type must be authorization_code or refresh_token");
  }
  std::lock_guard<std::mutex> lock(db_mu);
  return guarded_answer([&]() -> Answer {
    if (!store->oauth_client(client_id)) return token_error("invalid_client", "client_id is not registered");
    int64_t now = clock.now_ms();
    ServerTransaction tx(*store);
    std::string principal, family;
    if (grant == "authorization_code") {
      std::string code = param("code"), verifier = param("code_verifier"), redirect = param("redirect_uri");
      if (code.empty() || verifier.empty() || redirect.empty()) {
        return token_error("invalid_request", "code, redirect_uri and code_verifier are required");
      }
      std::string code_hash = secret_hash(code);
      auto stored = store->oauth_code(code_hash);
      if (!stored) return token_error("invalid_grant", "unknown authorization code");
      if (stored->used) {
        // RFC 6749 §4.1.2: a code used twice revokes what the first use issued.
        store->revoke_oauth_family(code_hash);
        tx.commit();
        return token_error("invalid_grant", "the authorization code was already used");
      }
      if (stored->expires_at_ms <= now) return token_error("invalid_grant", "the authorization code expired");
      if (stored->client_id != client_id || stored->redirect_uri != redirect) {
        return token_error("invalid_grant", "client_id or redirect_uri differ from the authorization request");
      }
      if (!valid_verifier(verifier) || !constant_time_equal(base64url_encode(sha256(verifier)), stored->code_challenge)) {
        return token_error("invalid_grant", "code_verifier does not match the code_challenge");
      }
      store->use_oauth_code(code_hash);
      principal = stored->principal;
      family = code_hash;
    } else {
      std::string refresh = param("refresh_token");
      if (refresh.empty()) return token_error("invalid_request", "refresh_token is required");
      std::string refresh_hash = secret_hash(refresh);
      auto stored = store->oauth_token(refresh_hash);
      if (!stored || stored->kind != 1) return token_error("invalid_grant", "unknown refresh token");
      if (stored->revoked) {
        // A rotated refresh token used again: someone holds a copy. Everything of its family goes.
        store->revoke_oauth_family(stored->family);
        tx.commit();
        return token_error("invalid_grant", "the refresh token was already used; its tokens are revoked");
      }
      if (stored->expires_at_ms <= now) return token_error("invalid_grant", "the refresh token expired");
      if (stored->client_id != client_id) return token_error("invalid_grant", "the refresh token is another client's");
      store->revoke_oauth_token(refresh_hash);
      principal = stored->principal;
      family = stored->family;
    }
    auto fresh_token = [&] {
      std::string bytes(32, '\0');
      random.fill(std::span<uint8_t>(reinterpret_cast<uint8_t*>(bytes.data()), bytes.size()));
      return base64url_encode(bytes);
    };
    std::string access = fresh_token(), refresh = fresh_token();
    store->put_oauth_token(secret_hash(access), {0, client_id, principal, family, now + options.access_token_ttl_ms});
    store->put_oauth_token(secret_hash(refresh), {1, client_id, principal, family, now + options.refresh_token_ttl_ms});
    tx.commit();
    Answer a{200, json{{"access_token", access},
                       {"token_type", "Bearer"},
                       {"expires_in", options.access_token_ttl_ms / 1000},
                       {"refresh_token", refresh}}
                      .dump()};
    a.headers = {{"Cache-Control", "no-store"}, {"Pragma", "no-cache"}};
    return a;
  });
}

std::optional<std::string> Server::Impl::token_principal(const HttpRequest& r) {
  auto auth = r.headers.get("Authorization");
  if (!auth || auth->size() < 8 || !iequals(auth->substr(0, 7), "Bearer ")) return std::nullopt;
  std::string hash = secret_hash(auth->substr(7));
  std::lock_guard<std::mutex> lock(db_mu);
  auto token = storage::guarded("token", [&]() -> Result<std::optional<storage::ServerStore::OAuthToken>> {
    return store->oauth_token(hash);
  });
  if (!token || !*token) return std::nullopt;
  const auto& t = **token;
  if (t.kind != 0 || t.revoked || t.expires_at_ms <= clock.now_ms()) return std::nullopt;
  return t.principal;
}

}  // namespace offsync
