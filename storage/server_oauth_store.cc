// The server store's OAuth tables (storage/migrations/server/0002_oauth.sql).
#include <nlohmann/json.hpp>

#include "storage/sqlite_server_store.h"

namespace offsync::storage {

void SqliteServerStore::put_oauth_client(const std::string& client_id, const std::vector<std::string>& redirect_uris) {
  SQLite::Statement& s = cached("INSERT OR REPLACE INTO oauth_clients (client_id, redirect_uris) VALUES (?, ?)");
  ResetOnExit done(s);
  s.bind(1, client_id);
  s.bind(2, nlohmann::json(redirect_uris).dump());
  s.exec();
}

std::optional<std::vector<std::string>> SqliteServerStore::oauth_client(const std::string& client_id) {
  SQLite::Statement& s = cached("SELECT redirect_uris FROM oauth_clients WHERE client_id=?");
  ResetOnExit done(s);
  s.bind(1, client_id);
  if (!s.executeStep()) return std::nullopt;
  return nlohmann::json::parse(s.getColumn(0).getString()).get<std::vector<std::string>>();
}

void SqliteServerStore::put_oauth_code(const std::string& code_hash, const OAuthCode& code) {
  SQLite::Statement& s = cached(
      "INSERT INTO oauth_codes (code_hash, client_id, redirect_uri, code_challenge, principal, expires_at, used) "
      "VALUES (?, ?, ?, ?, ?, ?, 0)");
  ResetOnExit done(s);
  s.bind(1, code_hash);
  s.bind(2, code.client_id);
  s.bind(3, code.redirect_uri);
  s.bind(4, code.code_challenge);
  s.bind(5, code.principal);
  s.bind(6, code.expires_at_ms);
  s.exec();
}

std::optional<ServerStore::OAuthCode> SqliteServerStore::oauth_code(const std::string& code_hash) {
  SQLite::Statement& s = cached(
      "SELECT client_id, redirect_uri, code_challenge, principal, expires_at, used FROM oauth_codes WHERE code_hash=?");
  ResetOnExit done(s);
  s.bind(1, code_hash);
  if (!s.executeStep()) return std::nullopt;
  return OAuthCode{s.getColumn(0).getString(), s.getColumn(1).getString(), s.getColumn(2).getString(),
                   s.getColumn(3).getString(), s.getColumn(4).getInt64(), s.getColumn(5).getInt() != 0};
}

void SqliteServerStore::use_oauth_code(const std::string& code_hash) {
  SQLite::Statement& s = cached("UPDATE oauth_codes SET used=1 WHERE code_hash=?");
  ResetOnExit done(s);
  s.bind(1, code_hash);
  s.exec();
}

void SqliteServerStore::put_oauth_token(const std::string& token_hash, const OAuthToken& token) {
  SQLite::Statement& s = cached(
      "INSERT INTO oauth_tokens (token_hash, kind, client_id, principal, family, expires_at, revoked) "
      "VALUES (?, ?, ?, ?, ?, ?, 0)");
  ResetOnExit done(s);
  s.bind(1, token_hash);
  s.bind(2, token.kind);
  s.bind(3, token.client_id);
  s.bind(4, token.principal);
  s.bind(5, token.family);
  s.bind(6, token.expires_at_ms);
  s.exec();
}

std::optional<ServerStore::OAuthToken> SqliteServerStore::oauth_token(const std::string& token_hash) {
  SQLite::Statement& s =
      cached("SELECT kind, client_id, principal, family, expires_at, revoked FROM oauth_tokens WHERE token_hash=?");
  ResetOnExit done(s);
  s.bind(1, token_hash);
  if (!s.executeStep()) return std::nullopt;
  return OAuthToken{s.getColumn(0).getInt(), s.getColumn(1).getString(), s.getColumn(2).getString(),
                    s.getColumn(3).getString(), s.getColumn(4).getInt64(), s.getColumn(5).getInt() != 0};
}

void SqliteServerStore::revoke_oauth_token(const std::string& token_hash) {
  SQLite::Statement& s = cached("UPDATE oauth_tokens SET revoked=1 WHERE token_hash=?");
  ResetOnExit done(s);
  s.bind(1, token_hash);
  s.exec();
}

void SqliteServerStore::revoke_oauth_family(const std::string& family) {
  SQLite::Statement& s = cached("UPDATE oauth_tokens SET revoked=1 WHERE family=?");
  ResetOnExit done(s);
  s.bind(1, family);
  s.exec();
}

}  // namespace offsync::storage
