// PgServerStore (storage/pg_server_store.h): OAuth, attachments and the relay's tables, as in
// storage/server_oauth_store.cc, server_attachment_store.cc and server_relay_store.cc.

#include "storage/pg_session.h"

namespace offsync::storage {

namespace {
std::string text(const pqxx::field& f) { return f.is_null() ? std::string() : f.as<std::string>(); }
int64_t number(const pqxx::field& f) { return f.is_null() ? 0 : f.as<int64_t>(); }
}  // namespace

// ---- OAuth ----

void PgServerStore::put_oauth_client(const std::string& client_id, const std::vector<std::string>& redirect_uris) {
  session_->exec_params(
      "INSERT INTO oauth_clients (client_id, redirect_uris) VALUES ($1, $2) ON CONFLICT (client_id) DO UPDATE SET "
      "redirect_uris=excluded.redirect_uris",
      client_id, nlohmann::json(redirect_uris).dump());
}

std::optional<std::vector<std::string>> PgServerStore::oauth_client(const std::string& client_id) {
  auto r = session_->exec_params("SELECT redirect_uris FROM oauth_clients WHERE client_id=$1", client_id);
  if (r.empty()) return std::nullopt;
  return nlohmann::json::parse(text(r[0][0])).get<std::vector<std::string>>();
}

void PgServerStore::put_oauth_code(const std::string& code_hash, const OAuthCode& c) {
  session_->exec_params(
      "INSERT INTO oauth_codes (code_hash, client_id, redirect_uri, code_challenge, principal, expires_at, used) "
      "VALUES ($1, $2, $3, $4, $5, $6, 0)",
      code_hash, c.client_id, c.redirect_uri, c.code_challenge, c.principal, c.expires_at_ms);
}

std::optional<ServerStore::OAuthCode> PgServerStore::oauth_code(const std::string& code_hash) {
  auto r = session_->exec_params(
      "SELECT client_id, redirect_uri, code_challenge, principal, expires_at, used FROM oauth_codes WHERE code_hash=$1",
      code_hash);
  if (r.empty()) return std::nullopt;
  const auto& row = r[0];
  return OAuthCode{text(row[0]), text(row[1]), text(row[2]), text(row[3]), number(row[4]), number(row[5]) != 0};
}

void PgServerStore::use_oauth_code(const std::string& code_hash) {
  session_->exec_params("UPDATE oauth_codes SET used=1 WHERE code_hash=$1", code_hash);
}

void PgServerStore::put_oauth_token(const std::string& token_hash, const OAuthToken& t) {
  session_->exec_params(
      "INSERT INTO oauth_tokens (token_hash, kind, client_id, principal, family, expires_at, revoked) "
      "VALUES ($1, $2, $3, $4, $5, $6, 0)",
      token_hash, t.kind, t.client_id, t.principal, t.family, t.expires_at_ms);
}

std::optional<ServerStore::OAuthToken> PgServerStore::oauth_token(const std::string& token_hash) {
  auto r = session_->exec_params(
      "SELECT kind, client_id, principal, family, expires_at, revoked FROM oauth_tokens WHERE token_hash=$1",
      token_hash);
  if (r.empty()) return std::nullopt;
  const auto& row = r[0];
  return OAuthToken{static_cast<int>(number(row[0])), text(row[1]), text(row[2]), text(row[3]), number(row[4]),
                    number(row[5]) != 0};
}

void PgServerStore::revoke_oauth_token(const std::string& token_hash) {
  session_->exec_params("UPDATE oauth_tokens SET revoked=1 WHERE token_hash=$1", token_hash);
}

void PgServerStore::revoke_oauth_family(const std::string& family) {
  session_->exec_params("UPDATE oauth_tokens SET revoked=1 WHERE family=$1", family);
}

// ---- Attachments ----

std::optional<ServerStore::Attachment> PgServerStore::attachment(const std::string& principal, const std::string& id) {
  auto r = session_->exec_params(
      "SELECT size, sha256, content_type, received, complete, created_at, updated_at, referenced FROM attachments "
      "WHERE principal=$1 AND id=$2",
      principal, id);
  if (r.empty()) return std::nullopt;
  const auto& row = r[0];
  Attachment a;
  a.id = id;
  a.size = number(row[0]);
  a.sha256 = text(row[1]);
  a.content_type = text(row[2]);
  a.received = number(row[3]);
  a.complete = number(row[4]) != 0;
  a.created_at_ms = number(row[5]);
  a.updated_at_ms = number(row[6]);
  a.referenced = number(row[7]) != 0;
  return a;
}

void PgServerStore::put_attachment(const std::string& principal, const Attachment& a) {
  session_->exec_params(
      "INSERT INTO attachments (principal, id, size, sha256, content_type, received, complete, created_at, "
      "updated_at, referenced) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (principal, id) DO UPDATE "
      "SET size=excluded.size, sha256=excluded.sha256, content_type=excluded.content_type, "
      "received=excluded.received, complete=excluded.complete, created_at=excluded.created_at, "
      "updated_at=excluded.updated_at, referenced=excluded.referenced",
      principal, a.id, a.size, a.sha256, a.content_type, a.received, a.complete ? 1 : 0, a.created_at_ms,
      a.updated_at_ms, a.referenced ? 1 : 0);
}

void PgServerStore::delete_attachment(const std::string& principal, const std::string& id) {
  delete_chunks(principal, id);
  session_->exec_params("DELETE FROM attachments WHERE principal=$1 AND id=$2", principal, id);
}

int64_t PgServerStore::attachment_bytes() {
  return number(session_->exec("SELECT COALESCE(SUM(size), 0) FROM attachments")[0][0]);
}

void PgServerStore::mark_referenced(const std::string& principal, const std::string& id) {
  session_->exec_params("UPDATE attachments SET referenced=1 WHERE principal=$1 AND id=$2 AND referenced=0", principal, id);
}

std::vector<std::pair<std::string, std::string>> PgServerStore::collectable_attachments(int64_t stale_before_ms,
                                                                                        int64_t unreferenced_before_ms,
                                                                                        int limit) {
  auto rows = session_->exec_params(
      "(SELECT principal, id FROM attachments WHERE complete=0 AND updated_at<$1) UNION ALL "
      "(SELECT principal, id FROM attachments WHERE complete=1 AND referenced=0 AND updated_at<$2) LIMIT $3",
      stale_before_ms, unreferenced_before_ms, limit);
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& row : rows) out.emplace_back(text(row[0]), text(row[1]));
  return out;
}

void PgServerStore::put_chunk(const std::string& principal, const std::string& id, int64_t offset,
                              std::string_view bytes) {
  session_->exec_params(
      "INSERT INTO attachment_chunks (principal, id, \"offset\", data) VALUES ($1, $2, $3, $4) "
      "ON CONFLICT (principal, id, \"offset\") DO UPDATE SET data=excluded.data",
      principal, id, offset, pqxx::binarystring(bytes.data(), bytes.size()));
}

std::string PgServerStore::read_chunks(const std::string& principal, const std::string& id, int64_t offset,
                                       int64_t length) {
  if (length <= 0) return {};
  // The row holding `offset` starts at or before it; later rows start inside the range. Only the
  // wanted part of each row leaves the server (substring of bytea is 1-based).
  auto rows = session_->exec_params(
      "SELECT o, substring(data FROM (GREATEST($3, o) - o + 1)::int FOR GREATEST(LEAST($4, o + length(data)) - "
      "GREATEST($3, o), 0)::int) FROM (SELECT \"offset\" AS o, data FROM attachment_chunks WHERE principal=$1 AND "
      "id=$2 AND \"offset\" <= $3 ORDER BY \"offset\" DESC LIMIT 1) AS first UNION ALL SELECT \"offset\", "
      "substring(data FROM 1 FOR GREATEST(LEAST($4, \"offset\" + length(data)) - \"offset\", 0)::int) FROM attachment_chunks "
      "WHERE principal=$1 AND id=$2 AND \"offset\" > $3 AND \"offset\" < $4 ORDER BY 1",
      principal, id, offset, offset + length);
  std::string out;
  int64_t at = offset;
  for (const auto& row : rows) {
    int64_t start = std::max(number(row[0]), offset);
    if (start != at) break;  // a gap: the bytes stop
    pqxx::binarystring part(row[1]);
    if (part.size() == 0) break;
    out.append(part.str());
    at += static_cast<int64_t>(part.size());
  }
  return out;
}

void PgServerStore::delete_chunks(const std::string& principal, const std::string& id) {
  session_->exec_params("DELETE FROM attachment_chunks WHERE principal=$1 AND id=$2", principal, id);
}

// ---- The relay ----

void PgServerStore::put_forward(const std::string& principal, const std::string& key, const std::string& collection,
                                const std::string& record_id, const std::string& mutation, int64_t now_ms) {
  session_->exec_params(
      "INSERT INTO relay_outbox (principal, key, collection, record_id, mutation, created_at) VALUES ($1, $2, $3, $4, "
      "$5, $6)",
      principal, key, collection, record_id, mutation, now_ms);
}

bool PgServerStore::has_forward_for(const std::string& principal, const std::string& collection,
                                    const std::string& record_id) {
  return !session_
              ->exec_params("SELECT 1 FROM relay_outbox WHERE collection=$1 AND record_id=$2 AND principal=$3 LIMIT 1",
                            collection, record_id, principal)
              .empty();
}

bool PgServerStore::has_forwards() { return !session_->exec("SELECT 1 FROM relay_outbox LIMIT 1").empty(); }

std::vector<ServerStore::Forward> PgServerStore::forwards(const std::string& principal, int limit) {
  std::vector<Forward> out;
  for (const auto& row : session_->exec_params(
           "SELECT seq, principal, key, mutation, created_at FROM relay_outbox WHERE principal=$1 ORDER BY seq LIMIT $2",
           principal, limit)) {
    out.push_back({number(row[0]), text(row[1]), text(row[2]), text(row[3]), number(row[4])});
  }
  return out;
}

void PgServerStore::delete_forwards_through(const std::string& principal, int64_t seq) {
  session_->exec_params("DELETE FROM relay_outbox WHERE principal=$1 AND seq<=$2", principal, seq);
}

int64_t PgServerStore::forward_count() { return number(session_->exec("SELECT COUNT(*) FROM relay_outbox")[0][0]); }

void PgServerStore::put_relay_sender(const std::string& principal, const std::string& key, const std::string& sender,
                                     int64_t now_ms) {
  session_->exec_params(
      "INSERT INTO relay_senders (principal, key, sender, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (principal, "
      "key) DO UPDATE SET sender=excluded.sender, created_at=excluded.created_at",
      principal, key, sender, now_ms);
}

std::string PgServerStore::relay_sender(const std::string& principal, const std::string& key) {
  auto r = session_->exec_params("SELECT sender FROM relay_senders WHERE principal=$1 AND key=$2", principal, key);
  return r.empty() ? std::string() : text(r[0][0]);
}

void PgServerStore::put_relay_outcome(const std::string& principal, int64_t seq, const std::string& mutation,
                                      const std::string& sender, const std::string& outcome, int64_t now_ms) {
  session_->exec_params(
      "INSERT INTO relay_outcomes (seq, principal, mutation, sender, outcome, created_at) VALUES ($1, $2, $3, $4, $5, "
      "$6)",
      seq, principal, mutation, sender, outcome, now_ms);
}

bool PgServerStore::lists_attachment(const std::string& principal, const std::string& id) {
  return !session_
              ->exec_params(
                  "SELECT 1 FROM records WHERE partition=$1 AND deleted=0 AND attachments<>'[]' AND "
                  "attachments::jsonb ? $2 LIMIT 1",
                  principal, id)
              .empty();
}

int64_t PgServerStore::sweep_relay(int64_t created_before_ms) {
  int64_t removed = 0;
  for (const char* sql : {"DELETE FROM relay_senders WHERE created_at < $1", "DELETE FROM relay_outcomes WHERE created_at < $1"}) {
    removed += session_->exec_params(sql, created_before_ms).affected_rows();
  }
  return removed;
}

void PgServerStore::put_relay_identity(const std::string& principal, const std::string& upstream_user,
                                       const std::string& access_token, const std::string& refresh_token) {
  session_->exec_params(
      "INSERT INTO relay_identities (principal, upstream_user, access_token, refresh_token, version) "
      "VALUES ($1, $2, $3, $4, 1) ON CONFLICT (principal) DO UPDATE SET upstream_user=excluded.upstream_user, "
      "access_token=excluded.access_token, refresh_token=excluded.refresh_token, "
      "version=relay_identities.version+1, error=''",
      principal, upstream_user, access_token, refresh_token);
}

std::vector<ServerStore::RelayIdentity> PgServerStore::relay_identities() {
  std::vector<RelayIdentity> out;
  for (const auto& row : session_->exec(
           "SELECT principal, upstream_user, access_token, refresh_token, version, applied_version, error "
           "FROM relay_identities ORDER BY principal")) {
    out.push_back({text(row[0]), text(row[1]), text(row[2]), text(row[3]), number(row[4]), number(row[5]), text(row[6])});
  }
  return out;
}

void PgServerStore::relay_identity_applied(const std::string& principal, int64_t version, const std::string& error) {
  session_->exec_params(
      "UPDATE relay_identities SET applied_version=$1, error=$2, access_token='', refresh_token='' "
      "WHERE principal=$3 AND version=$4",
      version, error, principal, version);
}

std::vector<std::pair<int64_t, std::string>> PgServerStore::relay_outcomes(const std::string& principal,
                                                                           const std::string& sender, int64_t after,
                                                                           int64_t upto) {
  std::vector<std::pair<int64_t, std::string>> out;
  for (const auto& row : session_->exec_params(
           "SELECT seq, outcome FROM relay_outcomes WHERE principal=$1 AND sender=$2 AND seq>$3 AND seq<=$4 ORDER BY "
           "seq LIMIT 1000",
           principal, sender, after, upto)) {
    out.emplace_back(number(row[0]), text(row[1]));
  }
  return out;
}

}  // namespace offsync::storage
