// The relay's tables (storage/migrations/server/0004_relay.sql to 0006_relay_identities.sql): the
// hand-over, the senders and outcomes of forwarded mutations, the upstream identities.
#include "storage/sqlite_server_store.h"

namespace offsync::storage {

void SqliteServerStore::put_forward(const std::string& principal, const std::string& key, const std::string& collection,
                              const std::string& record_id, const std::string& mutation, int64_t now_ms) {
  SQLite::Statement& s = cached(
      "INSERT INTO relay_outbox (principal, key, collection, record_id, mutation, created_at) VALUES (?, ?, ?, ?, ?, ?)");
  ResetOnExit done(s);
  s.bind(1, principal);
  s.bind(2, key);
  s.bind(3, collection);
  s.bind(4, record_id);
  s.bind(5, mutation);
  s.bind(6, now_ms);
  s.exec();
}

bool SqliteServerStore::has_forward_for(const std::string& principal, const std::string& collection,
                                  const std::string& record_id) {
  SQLite::Statement& s =
      cached("SELECT 1 FROM relay_outbox WHERE collection=? AND record_id=? AND principal=? LIMIT 1");
  ResetOnExit done(s);
  s.bind(1, collection);
  s.bind(2, record_id);
  s.bind(3, principal);
  return s.executeStep();
}

bool SqliteServerStore::has_forwards() {
  SQLite::Statement& s = cached("SELECT 1 FROM relay_outbox LIMIT 1");
  ResetOnExit done(s);
  return s.executeStep();
}

std::vector<ServerStore::Forward> SqliteServerStore::forwards(const std::string& principal, int limit) {
  SQLite::Statement& s = cached(
      "SELECT seq, principal, key, mutation, created_at FROM relay_outbox WHERE principal=? ORDER BY seq LIMIT ?");
  ResetOnExit done(s);
  s.bind(1, principal);
  s.bind(2, limit);
  std::vector<Forward> out;
  while (s.executeStep()) {
    out.push_back({s.getColumn(0).getInt64(), s.getColumn(1).getString(), s.getColumn(2).getString(),
                   s.getColumn(3).getString(), s.getColumn(4).getInt64()});
  }
  return out;
}

void SqliteServerStore::delete_forwards_through(const std::string& principal, int64_t seq) {
  SQLite::Statement& s = cached("DELETE FROM relay_outbox WHERE principal=? AND seq<=?");
  ResetOnExit done(s);
  s.bind(1, principal);
  s.bind(2, seq);
  s.exec();
}

int64_t SqliteServerStore::forward_count() {
  SQLite::Statement& s = cached("SELECT COUNT(*) FROM relay_outbox");
  ResetOnExit done(s);
  s.executeStep();
  return s.getColumn(0).getInt64();
}

void SqliteServerStore::put_relay_sender(const std::string& principal, const std::string& key, const std::string& sender,
                                   int64_t now_ms) {
  SQLite::Statement& s =
      cached("INSERT OR REPLACE INTO relay_senders (principal, key, sender, created_at) VALUES (?, ?, ?, ?)");
  ResetOnExit done(s);
  s.bind(1, principal);
  s.bind(2, key);
  s.bind(3, sender);
  s.bind(4, now_ms);
  s.exec();
}

std::string SqliteServerStore::relay_sender(const std::string& principal, const std::string& key) {
  SQLite::Statement& s = cached("SELECT sender FROM relay_senders WHERE principal=? AND key=?");
  ResetOnExit done(s);
  s.bind(1, principal);
  s.bind(2, key);
  return s.executeStep() ? s.getColumn(0).getString() : std::string();
}

void SqliteServerStore::put_relay_outcome(const std::string& principal, int64_t seq, const std::string& mutation,
                                    const std::string& sender, const std::string& outcome, int64_t now_ms) {
  SQLite::Statement& s = cached(
      "INSERT INTO relay_outcomes (seq, principal, mutation, sender, outcome, created_at) VALUES (?, ?, ?, ?, ?, ?)");
  ResetOnExit done(s);
  s.bind(1, seq);
  s.bind(2, principal);
  s.bind(3, mutation);
  s.bind(4, sender);
  s.bind(5, outcome);
  s.bind(6, now_ms);
  s.exec();
}

int64_t SqliteServerStore::sweep_relay(int64_t created_before_ms) {
  int64_t removed = 0;
  for (const char* sql : {"DELETE FROM relay_senders WHERE created_at < ?", "DELETE FROM relay_outcomes WHERE created_at < ?"}) {
    SQLite::Statement& s = cached(sql);
    ResetOnExit done(s);
    s.bind(1, created_before_ms);
    removed += s.exec();
  }
  return removed;
}

void SqliteServerStore::put_relay_identity(const std::string& principal, const std::string& upstream_user,
                                     const std::string& access_token, const std::string& refresh_token) {
  SQLite::Statement& s = cached(
      "INSERT INTO relay_identities (principal, upstream_user, access_token, refresh_token, version) "
      "VALUES (?, ?, ?, ?, 1) ON CONFLICT (principal) DO UPDATE SET upstream_user=excluded.upstream_user, "
      "access_token=excluded.access_token, refresh_token=excluded.refresh_token, version=version+1, error=''");
  ResetOnExit done(s);
  s.bind(1, principal);
  s.bind(2, upstream_user);
  s.bind(3, access_token);
  s.bind(4, refresh_token);
  s.exec();
}

std::vector<ServerStore::RelayIdentity> SqliteServerStore::relay_identities() {
  SQLite::Statement& s = cached(
      "SELECT principal, upstream_user, access_token, refresh_token, version, applied_version, error "
      "FROM relay_identities ORDER BY principal");
  ResetOnExit done(s);
  std::vector<RelayIdentity> out;
  while (s.executeStep()) {
    out.push_back({s.getColumn(0).getString(), s.getColumn(1).getString(), s.getColumn(2).getString(),
                   s.getColumn(3).getString(), s.getColumn(4).getInt64(), s.getColumn(5).getInt64(),
                   s.getColumn(6).getString()});
  }
  return out;
}

void SqliteServerStore::relay_identity_applied(const std::string& principal, int64_t version, const std::string& error) {
  // The upstream client keeps the tokens now: they are not kept twice.
  SQLite::Statement& s = cached(
      "UPDATE relay_identities SET applied_version=?, error=?, access_token='', refresh_token='' "
      "WHERE principal=? AND version=?");
  ResetOnExit done(s);
  s.bind(1, version);
  s.bind(2, error);
  s.bind(3, principal);
  s.bind(4, version);
  s.exec();
}

std::vector<std::pair<int64_t, std::string>> SqliteServerStore::relay_outcomes(const std::string& principal,
                                                                         const std::string& sender, int64_t after,
                                                                         int64_t upto) {
  SQLite::Statement& s = cached(
      "SELECT seq, outcome FROM relay_outcomes WHERE principal=? AND sender=? AND seq>? AND seq<=? ORDER BY seq "
      "LIMIT 1000");
  ResetOnExit done(s);
  s.bind(1, principal);
  s.bind(2, sender);
  s.bind(3, after);
  s.bind(4, upto);
  std::vector<std::pair<int64_t, std::string>> out;
  while (s.executeStep()) out.emplace_back(s.getColumn(0).getInt64(), s.getColumn(1).getString());
  return out;
}

bool SqliteServerStore::lists_attachment(const std::string& principal, const std::string& id) {
  // A scan of the principal's live records that list any attachment: only a relay's first
  // download of a file asks, once per file.
  SQLite::Statement& s = cached(
      "SELECT 1 FROM records, json_each(records.attachments) WHERE records.partition=? AND records.deleted=0 "
      "AND records.attachments<>'[]' AND json_each.value=? LIMIT 1");
  ResetOnExit done(s);
  s.bind(1, principal);
  s.bind(2, id);
  return s.executeStep();
}

}  // namespace offsync::storage
