// The client store's table of REST request outcomes not yet delivered to their handler
// (storage/migrations/client/0002_rest_requests.sql).
#include "storage/client_store.h"

namespace offsync::storage {
namespace {

nlohmann::json headers_to_json(const std::vector<std::pair<std::string, std::string>>& headers) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [name, value] : headers) out.push_back({name, value});
  return out;
}

}  // namespace

void ClientStore::insert_outcome(const RestOutcome& o, int64_t completed_at_ms) {
  SQLite::Statement& s = cached("INSERT OR REPLACE INTO request_outcomes (mutation_id, module, action, request, status, "
                      "headers, body, error, completed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  ResetOnExit done(s);
  s.bind(1, o.mutation_id);
  s.bind(2, o.module);
  s.bind(3, o.action);
  s.bind(4, o.request.dump());
  s.bind(5, o.status);
  s.bind(6, headers_to_json(o.headers).dump());
  s.bind(7, o.body);
  s.bind(8, o.error);
  s.bind(9, completed_at_ms);
  s.exec();
}

void ClientStore::delete_outcome(const std::string& mutation_id) {
  SQLite::Statement& s = cached("DELETE FROM request_outcomes WHERE mutation_id=?");
  ResetOnExit done(s);
  s.bind(1, mutation_id);
  s.exec();
}

std::vector<RestOutcome> ClientStore::outcomes_for(const std::string& module, const std::string& action) {
  SQLite::Statement& s = cached("SELECT mutation_id, request, status, headers, body, error FROM request_outcomes "
                      "WHERE module=? AND action=? ORDER BY mutation_id");
  ResetOnExit done(s);
  s.bind(1, module);
  s.bind(2, action);
  std::vector<RestOutcome> out;
  while (s.executeStep()) {
    RestOutcome o;
    o.mutation_id = s.getColumn(0).getString();
    o.module = module;
    o.action = action;
    o.request = nlohmann::json::parse(s.getColumn(1).getString());
    o.status = s.getColumn(2).getInt();
    for (const auto& h : nlohmann::json::parse(s.getColumn(3).getString())) {
      o.headers.emplace_back(h.at(0).get<std::string>(), h.at(1).get<std::string>());
    }
    o.body = s.getColumn(4).getString();
    o.error = s.getColumn(5).getString();
    out.push_back(std::move(o));
  }
  return out;
}

std::optional<std::string> ClientStore::newest_mutation_id() {
  // The outbox's newest id or key (a resolution renews the key with a new id), or a newer one that
  // left it (acknowledged, discarded, folded, wiped). The file is outside input: only values
  // shaped as ULIDs count, so a damaged one cannot hide the real newest (kUlidGlob).
  SQLite::Statement& s = cached(
      "SELECT max(x) FROM (SELECT max(id) AS x FROM outbox WHERE id GLOB ?1 "
      "UNION ALL SELECT max(idempotency_key) FROM outbox WHERE idempotency_key GLOB ?1 "
      "UNION ALL SELECT value FROM meta WHERE key='ids.high_water' AND value GLOB ?1)");
  ResetOnExit done(s);
  s.bind(1, std::string(kUlidGlob));
  if (!s.executeStep() || s.getColumn(0).isNull()) return std::nullopt;
  return s.getColumn(0).getString();
}

}  // namespace offsync::storage
