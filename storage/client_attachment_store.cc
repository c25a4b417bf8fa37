// The client store's attachment tables (storage/migrations/client/0004_attachments.sql).
#include "storage/client_store.h"

namespace offsync::storage {

std::optional<ClientStore::AttachmentRow> ClientStore::attachment(const std::string& id) {
  SQLite::Statement& s = cached(
      "SELECT size, sha256, content_type, state, local_bytes, sent_bytes, failures, next_attempt_at, last_error, "
      "created_at FROM attachments WHERE id=?");
  ResetOnExit done(s);
  s.bind(1, id);
  if (!s.executeStep()) return std::nullopt;
  AttachmentRow r;
  r.id = id;
  r.size = s.getColumn(0).getInt64();
  r.sha256 = s.getColumn(1).getString();
  r.content_type = s.getColumn(2).getString();
  r.state = static_cast<AttachmentState>(s.getColumn(3).getInt());
  r.local_bytes = s.getColumn(4).getInt64();
  r.sent_bytes = s.getColumn(5).getInt64();
  r.failures = s.getColumn(6).getInt();
  r.next_attempt_at_ms = s.getColumn(7).getInt64();
  r.last_error = s.getColumn(8).getString();
  r.created_at_ms = s.getColumn(9).getInt64();
  return r;
}

void ClientStore::put_attachment(const AttachmentRow& r) {
  SQLite::Statement& s = cached(
      "INSERT OR REPLACE INTO attachments (id, size, sha256, content_type, state, local_bytes, sent_bytes, failures, "
      "next_attempt_at, last_error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  ResetOnExit done(s);
  s.bind(1, r.id);
  s.bind(2, r.size);
  s.bind(3, r.sha256);
  s.bind(4, r.content_type);
  s.bind(5, static_cast<int>(r.state));
  s.bind(6, r.local_bytes);
  s.bind(7, r.sent_bytes);
  s.bind(8, r.failures);
  s.bind(9, r.next_attempt_at_ms);
  s.bind(10, r.last_error);
  s.bind(11, r.created_at_ms);
  s.exec();
}

void ClientStore::delete_attachment(const std::string& id) {
  delete_attachment_chunks(id);
  SQLite::Statement& s = cached("DELETE FROM attachments WHERE id=?");
  ResetOnExit done(s);
  s.bind(1, id);
  s.exec();
}

void ClientStore::put_attachment_chunk(const std::string& id, int64_t offset, std::string_view bytes) {
  SQLite::Statement& s = cached("INSERT OR REPLACE INTO attachment_chunks (id, offset, data) VALUES (?, ?, ?)");
  ResetOnExit done(s);
  s.bind(1, id);
  s.bind(2, offset);
  s.bindNoCopy(3, static_cast<const void*>(bytes.data()), static_cast<int>(bytes.size()));
  s.exec();
}

std::string ClientStore::read_attachment_chunks(const std::string& id, int64_t offset, int64_t length) {
  if (length <= 0) return {};
  SQLite::Statement& s = cached(
      "SELECT * FROM (SELECT rowid, offset, length(data) FROM attachment_chunks WHERE id=?1 AND offset<=?2 "
      "ORDER BY offset DESC LIMIT 1) UNION ALL SELECT rowid, offset, length(data) FROM attachment_chunks WHERE id=?1 "
      "AND offset>?2 AND offset<?3 ORDER BY 2");
  ResetOnExit done(s);
  s.bind(1, id);
  s.bind(2, offset);
  s.bind(3, offset + length);
  return read_chunk_rows(s, "attachment_chunks", offset, length);
}

void ClientStore::delete_attachment_chunks(const std::string& id) {
  SQLite::Statement& s = cached("DELETE FROM attachment_chunks WHERE id=?");
  ResetOnExit done(s);
  s.bind(1, id);
  s.exec();
}

int64_t ClientStore::attachment_bytes() {
  SQLite::Statement& s = cached("SELECT COALESCE(SUM(local_bytes), 0) FROM attachments");
  ResetOnExit done(s);
  s.executeStep();
  return s.getColumn(0).getInt64();
}

std::vector<ClientStore::Upload> ClientStore::attachments_to_upload(int limit) {
  SQLite::Statement& s = cached(
      "SELECT a.id, MAX(o.urgent), MIN(o.id) AS first FROM outbox o, json_each(o.attachments) j "
      "JOIN attachments a ON a.id = j.value WHERE o.attachments != '[]' AND o.state IN (0, 1) AND a.state = 0 "
      "GROUP BY a.id ORDER BY first LIMIT ?");
  ResetOnExit done(s);
  s.bind(1, limit);
  std::vector<Upload> out;
  while (s.executeStep()) out.push_back({s.getColumn(0).getString(), s.getColumn(1).getInt() != 0});
  return out;
}

int64_t ClientStore::count_attachments_to_upload() {
  SQLite::Statement& s = cached(
      "SELECT COUNT(DISTINCT a.id) FROM outbox o, json_each(o.attachments) j JOIN attachments a ON a.id = j.value "
      "WHERE o.attachments != '[]' AND o.state IN (0, 1) AND a.state = 0");
  ResetOnExit done(s);
  s.executeStep();
  return s.getColumn(0).getInt64();
}

std::vector<std::string> ClientStore::mutations_listing(const std::string& attachment_id) {
  SQLite::Statement& s = cached(
      "SELECT o.id FROM outbox o, json_each(o.attachments) j WHERE o.attachments != '[]' AND j.value = ? "
      "AND o.state IN (0, 1) ORDER BY o.id");
  ResetOnExit done(s);
  s.bind(1, attachment_id);
  std::vector<std::string> out;
  while (s.executeStep()) out.push_back(s.getColumn(0).getString());
  return out;
}

std::vector<std::string> ClientStore::unreferenced_attachments(int64_t created_before_ms, int limit) {
  SQLite::Statement& s = cached(
      "SELECT a.id FROM attachments a WHERE a.created_at < ?1 "
      "AND NOT EXISTS (SELECT 1 FROM outbox o, json_each(o.attachments) j WHERE o.attachments != '[]' AND j.value = a.id) "
      "AND NOT EXISTS (SELECT 1 FROM base b, json_each(b.attachments) j WHERE b.attachments != '[]' AND j.value = a.id) "
      "LIMIT ?2");
  ResetOnExit done(s);
  s.bind(1, created_before_ms);
  s.bind(2, limit);
  std::vector<std::string> out;
  while (s.executeStep()) out.push_back(s.getColumn(0).getString());
  return out;
}

std::string ClientStore::base_attachments(const std::string& collection, const std::string& record_id) {
  SQLite::Statement& s = cached("SELECT attachments FROM base WHERE collection=? AND record_id=? AND deleted=0");
  ResetOnExit done(s);
  s.bind(1, collection);
  s.bind(2, record_id);
  if (!s.executeStep()) return "[]";
  return s.getColumn(0).getString();
}

}  // namespace offsync::storage
