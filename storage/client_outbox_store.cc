// ClientStore: the outbox (mutations, their states and sends, idempotency keys, summaries).
#include "storage/client_outbox_sql.h"
#include "storage/client_store.h"

namespace offsync::storage {

const char* const kMutationColumns =
    "id, collection, record_id, op, payload, base_hlc, attempts, state, next_attempt_at, "
    "last_error, attachments, created_at, module, action, urgent";

std::string select_mutations(const std::string& tail) {
  return std::string("SELECT ") + kMutationColumns +
         ", COALESCE(idempotency_key, id), server_record, error_code, http_status FROM outbox " + tail;
}

void bind_optional(SQLite::Statement& s, int index, const std::optional<std::string>& v) {
  if (v) {
    s.bind(index, *v);
  } else {
    s.bind(index);  // NULL
  }
}

void bind_text_or_null(SQLite::Statement& s, int index, const std::string& v) {
  if (v.empty()) {
    s.bind(index);
  } else {
    s.bind(index, v);
  }
}

void ClientStore::insert_mutation(const Mutation& m, const std::string* payload_text) {
  auto& s = fresh(insert_mutation_);
  s.bind(1, m.id);
  s.bind(2, m.collection);
  s.bind(3, m.record_id);
  s.bind(4, static_cast<int>(m.op));
  s.bind(5, payload_text ? *payload_text : m.payload.dump());
  bind_optional(s, 6, m.base_hlc);
  s.bind(7, m.attempts);
  s.bind(8, static_cast<int>(m.state));
  s.bind(9, m.next_attempt_at_ms);
  bind_text_or_null(s, 10, m.last_error);
  s.bind(11, m.attachments.empty() ? std::string("[]") : nlohmann::json(m.attachments).dump());
  s.bind(12, m.created_at_ms);
  bind_text_or_null(s, 13, m.module);
  bind_text_or_null(s, 14, m.action);
  s.bind(15, m.urgent ? 1 : 0);
  // NULL: sent under its own id (a key equal to the id is the same thing).
  if (m.idempotency_key.empty() || m.idempotency_key == m.id) {
    s.bind(16);
  } else {
    s.bind(16, m.idempotency_key);
  }
  s.exec();
}

void ClientStore::update_mutation_payload(const std::string& id, MutationOp op, const std::string& payload_text) {
  SQLite::Statement& s = cached("UPDATE outbox SET op=?, payload=? WHERE id=? AND attempts=0");
  ResetOnExit done(s);
  s.bind(1, static_cast<int>(op));
  s.bind(2, payload_text);
  s.bind(3, id);
  s.exec();
}

void ClientStore::update_mutation_state(const std::string& id, MutationState state, int attempts,
                                        int64_t next_attempt_at_ms, const std::string& last_error) {
  SQLite::Statement& s =
      cached("UPDATE outbox SET state=?, attempts=?, next_attempt_at=?, last_error=?, error_code='', http_status=0 WHERE id=?");
  ResetOnExit done(s);
  s.bind(1, static_cast<int>(state));
  s.bind(2, attempts);
  s.bind(3, next_attempt_at_ms);
  bind_text_or_null(s, 4, last_error);
  s.bind(5, id);
  s.exec();
}

void ClientStore::rebase_unsent_mutation(const std::string& id, const std::string& hlc) {
  SQLite::Statement& s = cached("UPDATE outbox SET base_hlc=? WHERE id=? AND attempts=0 AND base_pinned=0");
  ResetOnExit done(s);
  s.bind(1, hlc);
  s.bind(2, id);
  s.exec();
}

void ClientStore::pin_base(const std::string& id) {
  SQLite::Statement& s = cached("UPDATE outbox SET base_pinned=1 WHERE id=?");
  ResetOnExit done(s);
  s.bind(1, id);
  s.exec();
}

void ClientStore::raise_id_high_water(const std::string& id) {
  // A stored value that is not a ULID (a damaged file) is replaced, never kept for sorting high.
  SQLite::Statement& s = cached(
      "INSERT INTO meta (key, value) VALUES ('ids.high_water', ?1) "
      "ON CONFLICT (key) DO UPDATE SET value=excluded.value WHERE excluded.value > meta.value OR meta.value NOT GLOB ?2");
  ResetOnExit done(s);
  s.bind(1, id);
  s.bind(2, std::string(kUlidGlob));
  s.exec();
}

void ClientStore::delete_mutation(const std::string& id, bool keep_high_water) {
  // Its id and key stay the high-water mark: a store reopened after its clock stepped back must
  // not issue them again (the server would take the new mutation for a retry of this one).
  if (keep_high_water) {
    SQLite::Statement& keep = cached(
        "INSERT INTO meta (key, value) SELECT 'ids.high_water', max(id, coalesce(idempotency_key, '')) FROM outbox "
        "WHERE id=? ON CONFLICT (key) DO UPDATE SET value=excluded.value WHERE excluded.value > meta.value");
    ResetOnExit kept(keep);
    keep.bind(1, id);
    keep.exec();
  }
  SQLite::Statement& s = cached("DELETE FROM outbox WHERE id=?");
  ResetOnExit done(s);
  s.bind(1, id);
  s.exec();
}

Mutation ClientStore::read_mutation(SQLite::Statement& s, std::string* payload_text) {
  Mutation m;
  m.id = s.getColumn(0).getString();
  m.collection = s.getColumn(1).getString();
  m.record_id = s.getColumn(2).getString();
  m.op = static_cast<MutationOp>(s.getColumn(3).getInt());
  if (payload_text) {
    *payload_text = s.getColumn(4).getString();
  } else {
    m.payload = nlohmann::json::parse(s.getColumn(4).getString());
  }
  if (!s.getColumn(5).isNull()) m.base_hlc = s.getColumn(5).getString();
  m.attempts = s.getColumn(6).getInt();
  m.state = static_cast<MutationState>(s.getColumn(7).getInt());
  m.next_attempt_at_ms = s.getColumn(8).getInt64();
  m.last_error = s.getColumn(9).getString();  // "" for NULL
  if (std::string attachments = s.getColumn(10).getString(); attachments != "[]") {
    m.attachments = nlohmann::json::parse(attachments).get<std::vector<std::string>>();
  }
  m.created_at_ms = s.getColumn(11).getInt64();
  m.module = s.getColumn(12).getString();
  m.action = s.getColumn(13).getString();
  m.urgent = s.getColumn(14).getInt() != 0;
  m.idempotency_key = s.getColumn(15).getString();
  if (!s.getColumn(16).isNull()) m.server_record = nlohmann::json::parse(s.getColumn(16).getString());
  m.error_code = s.getColumn(17).getString();
  m.http_status = s.getColumn(18).getInt();
  return m;
}

std::optional<Mutation> ClientStore::mutation(const std::string& id) {
  SQLite::Statement& s = cached(select_mutations("WHERE id=?"));
  ResetOnExit done(s);
  s.bind(1, id);
  if (!s.executeStep()) return std::nullopt;
  return read_mutation(s);
}

std::vector<Mutation> ClientStore::mutations_of(const std::string& collection, const std::string& record_id) {
  SQLite::Statement& s = cached(select_mutations("WHERE collection=? AND record_id=? ORDER BY id"));
  ResetOnExit done(s);
  s.bind(1, collection);
  s.bind(2, record_id);
  std::vector<Mutation> out;
  while (s.executeStep()) out.push_back(read_mutation(s));
  return out;
}

std::optional<Mutation> ClientStore::last_mutation_of(const std::string& collection, const std::string& record_id) {
  auto& s = fresh(last_mutation_of_);
  ResetOnExit done(s);
  s.bind(1, collection);
  s.bind(2, record_id);
  if (!s.executeStep()) return std::nullopt;
  return read_mutation(s);
}

std::vector<Mutation> ClientStore::all_mutations() {
  SQLite::Statement& s = cached(select_mutations("ORDER BY id"));
  ResetOnExit done(s);
  std::vector<Mutation> out;
  while (s.executeStep()) out.push_back(read_mutation(s));
  return out;
}

void ClientStore::for_each_head(const std::function<bool(const Head&)>& visit) {
  // A mutation waits while an attachment it lists has not been uploaded (attachment state 0).
  SQLite::Statement& s = cached(
      "SELECT id, collection, record_id, op, state, next_attempt_at, attachments != '[]' AND EXISTS (SELECT 1 FROM "
      "json_each(outbox.attachments) j JOIN attachments a ON a.id = j.value WHERE a.state = 0) FROM outbox ORDER BY id");
  ResetOnExit done(s);
  Head h;
  while (s.executeStep()) {
    h.id = s.getColumn(0).getString();
    h.collection = s.getColumn(1).getString();
    h.record_id = s.getColumn(2).getString();
    h.op = static_cast<MutationOp>(s.getColumn(3).getInt());
    h.state = static_cast<MutationState>(s.getColumn(4).getInt());
    h.next_attempt_at_ms = s.getColumn(5).getInt64();
    h.waiting_for_attachments = s.getColumn(6).getInt() != 0;
    if (!visit(h)) return;
  }
}

std::optional<int64_t> ClientStore::next_attempt_after(int64_t now_ms) {
  SQLite::Statement& s = cached(
      "SELECT MIN(t) FROM (SELECT MIN(next_attempt_at) AS t FROM outbox WHERE state=0 AND next_attempt_at > ?1 "
      "UNION ALL SELECT MIN(next_attempt_at) FROM attachments WHERE state=0 AND next_attempt_at > ?1)");
  ResetOnExit done(s);
  s.bind(1, now_ms);
  if (!s.executeStep() || s.getColumn(0).isNull()) return std::nullopt;
  return s.getColumn(0).getInt64();
}

const char* const kOutboxSummarySql =
    "SELECT COALESCE(SUM(state IN (0, 1)), 0), COALESCE(SUM(state = 2), 0), COALESCE(SUM(state = 3), 0), "
    "MIN(CASE WHEN state IN (0, 1) THEN created_at END) FROM outbox";

OutboxSummary read_outbox_summary(SQLite::Statement& s) {
  s.executeStep();
  OutboxSummary out;
  out.pending = s.getColumn(0).getInt64();
  out.rejected = s.getColumn(1).getInt64();
  out.conflicts = s.getColumn(2).getInt64();
  if (!s.getColumn(3).isNull()) out.oldest_pending_created_at_ms = s.getColumn(3).getInt64();
  return out;
}

OutboxSummary ClientStore::summary() {
  SQLite::Statement& s = cached(kOutboxSummarySql);
  ResetOnExit done(s);
  return read_outbox_summary(s);
}

void ClientStore::mark_sending(const std::string& id) {
  auto& s = fresh(mark_sending_);
  s.bind(1, id);
  s.exec();
}

std::vector<std::pair<Mutation, std::string>> ClientStore::begin_sending(const std::vector<std::string>& ids) {
  // One statement each for the whole chunk: per-row statements cost more than the rows. (An
  // UPDATE ... RETURNING measured slower than the two.)
  std::string list = nlohmann::json(ids).dump();
  auto& mark = fresh(mark_many_sending_);
  ResetOnExit marked(mark);
  mark.bindNoCopy(1, list);
  mark.exec();
  auto& read = fresh(read_many_);
  ResetOnExit done(read);
  read.bindNoCopy(1, list);
  std::vector<std::pair<Mutation, std::string>> out;
  out.reserve(ids.size());
  while (read.executeStep()) {
    auto& [m, payload] = out.emplace_back();
    m = read_mutation(read, &payload);
  }
  return out;
}

void ClientStore::unmark_sending(const std::string& id) {
  SQLite::Statement& s = cached("UPDATE outbox SET attempts=attempts-1, state=0 WHERE id=? AND state=1 AND attempts>0");
  ResetOnExit done(s);
  s.bind(1, id);
  s.exec();
}

void ClientStore::set_conflict(const std::string& id, const std::string& message, const nlohmann::json& server_record) {
  SQLite::Statement& s = cached("UPDATE outbox SET state=3, last_error=?, server_record=? WHERE id=?");
  ResetOnExit done(s);
  s.bind(1, message);
  s.bind(2, server_record.dump());
  s.bind(3, id);
  s.exec();
}

void ClientStore::renew(const std::string& id, const std::string& new_key, const std::optional<std::string>& base_hlc,
                        MutationOp op, const nlohmann::json& payload) {
  SQLite::Statement& s = cached("UPDATE outbox SET idempotency_key=?, base_hlc=?, base_pinned=0, op=?, payload=?, state=0, "
                      "attempts=0, next_attempt_at=0, last_error=NULL, server_record=NULL WHERE id=?");
  ResetOnExit done(s);
  s.bind(1, new_key);
  bind_optional(s, 2, base_hlc);
  s.bind(3, static_cast<int>(op));
  s.bind(4, payload.dump());
  s.bind(5, id);
  s.exec();
}

bool ClientStore::has_idempotency_key(const std::string& key) {
  // A mutation is sent under its key, or under its id when it has none: a relay's upstream client
  // holds only keys of other stores, which its own ids must never be taken for.
  SQLite::Statement& s = cached(
      "SELECT 1 FROM outbox WHERE idempotency_key=?1 UNION ALL "
      "SELECT 1 FROM outbox WHERE id=?1 AND (idempotency_key IS NULL OR idempotency_key='')");
  ResetOnExit done(s);
  s.bind(1, key);
  return s.executeStep();
}

void ClientStore::set_idempotency_key(const std::string& id, const std::string& key) {
  SQLite::Statement& s = cached("UPDATE outbox SET idempotency_key=? WHERE id=?");
  ResetOnExit done(s);
  s.bind(1, key);
  s.bind(2, id);
  s.exec();
}

}  // namespace offsync::storage
