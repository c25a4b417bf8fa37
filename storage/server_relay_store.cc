// The relay's hand-over table (storage/migrations/server/0004_relay.sql).
#include "storage/server_store.h"

namespace offsync::storage {

void ServerStore::put_forward(const std::string& principal, const std::string& key, const std::string& collection,
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

bool ServerStore::has_forward_for(const std::string& collection, const std::string& record_id) {
  SQLite::Statement& s = cached("SELECT 1 FROM relay_outbox WHERE collection=? AND record_id=? LIMIT 1");
  ResetOnExit done(s);
  s.bind(1, collection);
  s.bind(2, record_id);
  return s.executeStep();
}

std::vector<ServerStore::Forward> ServerStore::forwards(int limit) {
  SQLite::Statement& s = cached("SELECT seq, principal, key, mutation, created_at FROM relay_outbox ORDER BY seq LIMIT ?");
  ResetOnExit done(s);
  s.bind(1, limit);
  std::vector<Forward> out;
  while (s.executeStep()) {
    out.push_back({s.getColumn(0).getInt64(), s.getColumn(1).getString(), s.getColumn(2).getString(),
                   s.getColumn(3).getString(), s.getColumn(4).getInt64()});
  }
  return out;
}

void ServerStore::delete_forward(int64_t seq) {
  SQLite::Statement& s = cached("DELETE FROM relay_outbox WHERE seq=?");
  ResetOnExit done(s);
  s.bind(1, seq);
  s.exec();
}

int64_t ServerStore::forward_count() {
  SQLite::Statement& s = cached("SELECT COUNT(*) FROM relay_outbox");
  ResetOnExit done(s);
  s.executeStep();
  return s.getColumn(0).getInt64();
}

void ServerStore::put_relay_sender(const std::string& key, const std::string& sender, int64_t now_ms) {
  SQLite::Statement& s = cached("INSERT OR REPLACE INTO relay_senders (key, sender, created_at) VALUES (?, ?, ?)");
  ResetOnExit done(s);
  s.bind(1, key);
  s.bind(2, sender);
  s.bind(3, now_ms);
  s.exec();
}

std::string ServerStore::relay_sender(const std::string& key) {
  SQLite::Statement& s = cached("SELECT sender FROM relay_senders WHERE key=?");
  ResetOnExit done(s);
  s.bind(1, key);
  return s.executeStep() ? s.getColumn(0).getString() : std::string();
}

void ServerStore::put_relay_outcome(const std::string& principal, int64_t seq, const std::string& mutation,
                                    const std::string& sender, const std::string& outcome) {
  SQLite::Statement& s =
      cached("INSERT INTO relay_outcomes (seq, principal, mutation, sender, outcome) VALUES (?, ?, ?, ?, ?)");
  ResetOnExit done(s);
  s.bind(1, seq);
  s.bind(2, principal);
  s.bind(3, mutation);
  s.bind(4, sender);
  s.bind(5, outcome);
  s.exec();
}

std::vector<std::pair<int64_t, std::string>> ServerStore::relay_outcomes(const std::string& principal,
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

}  // namespace offsync::storage
