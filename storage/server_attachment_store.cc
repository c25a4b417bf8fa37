// The server store's attachment tables (storage/migrations/server/0003_attachments.sql).
#include "storage/sqlite_server_store.h"

namespace offsync::storage {

std::optional<ServerStore::Attachment> SqliteServerStore::attachment(const std::string& principal, const std::string& id) {
  SQLite::Statement& s = cached(
      "SELECT size, sha256, content_type, received, complete, created_at, updated_at, referenced FROM attachments "
      "WHERE principal=? AND id=?");
  ResetOnExit done(s);
  s.bind(1, principal);
  s.bind(2, id);
  if (!s.executeStep()) return std::nullopt;
  return Attachment{id,
                    s.getColumn(0).getInt64(),
                    s.getColumn(1).getString(),
                    s.getColumn(2).getString(),
                    s.getColumn(3).getInt64(),
                    s.getColumn(4).getInt() != 0,
                    s.getColumn(5).getInt64(),
                    s.getColumn(6).getInt64(),
                    s.getColumn(7).getInt() != 0};
}

void SqliteServerStore::put_attachment(const std::string& principal, const Attachment& a) {
  SQLite::Statement& s = cached(
      "INSERT OR REPLACE INTO attachments (principal, id, size, sha256, content_type, received, complete, created_at, "
      "updated_at, referenced) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  ResetOnExit done(s);
  s.bind(1, principal);
  s.bind(2, a.id);
  s.bind(3, a.size);
  s.bind(4, a.sha256);
  s.bind(5, a.content_type);
  s.bind(6, a.received);
  s.bind(7, a.complete ? 1 : 0);
  s.bind(8, a.created_at_ms);
  s.bind(9, a.updated_at_ms);
  s.bind(10, a.referenced ? 1 : 0);
  s.exec();
}

void SqliteServerStore::delete_attachment(const std::string& principal, const std::string& id) {
  delete_chunks(principal, id);
  SQLite::Statement& s = cached("DELETE FROM attachments WHERE principal=? AND id=?");
  ResetOnExit done(s);
  s.bind(1, principal);
  s.bind(2, id);
  s.exec();
}

int64_t SqliteServerStore::attachment_bytes() {
  SQLite::Statement& s = cached("SELECT COALESCE(SUM(size), 0) FROM attachments");
  ResetOnExit done(s);
  s.executeStep();
  return s.getColumn(0).getInt64();
}

void SqliteServerStore::mark_referenced(const std::string& principal, const std::string& id) {
  SQLite::Statement& s = cached("UPDATE attachments SET referenced=1 WHERE principal=? AND id=? AND referenced=0");
  ResetOnExit done(s);
  s.bind(1, principal);
  s.bind(2, id);
  s.exec();
}

std::vector<std::pair<std::string, std::string>> SqliteServerStore::collectable_attachments(int64_t stale_before_ms,
                                                                                      int64_t unreferenced_before_ms,
                                                                                      int limit) {
  SQLite::Statement& s = cached(
      "SELECT principal, id FROM attachments WHERE complete=0 AND updated_at<?1 "
      "UNION ALL SELECT principal, id FROM attachments WHERE complete=1 AND referenced=0 AND updated_at<?2 LIMIT ?3");
  ResetOnExit done(s);
  s.bind(1, stale_before_ms);
  s.bind(2, unreferenced_before_ms);
  s.bind(3, limit);
  std::vector<std::pair<std::string, std::string>> out;
  while (s.executeStep()) out.emplace_back(s.getColumn(0).getString(), s.getColumn(1).getString());
  return out;
}

void SqliteServerStore::put_chunk(const std::string& principal, const std::string& id, int64_t offset,
                            std::string_view bytes) {
  SQLite::Statement& s = cached("INSERT OR REPLACE INTO attachment_chunks (principal, id, offset, data) VALUES (?, ?, ?, ?)");
  ResetOnExit done(s);
  s.bind(1, principal);
  s.bind(2, id);
  s.bind(3, offset);
  s.bindNoCopy(4, static_cast<const void*>(bytes.data()), static_cast<int>(bytes.size()));
  s.exec();
}

std::string SqliteServerStore::read_chunks(const std::string& principal, const std::string& id, int64_t offset,
                                     int64_t length) {
  if (length <= 0) return {};
  // The row holding `offset` starts at or before it; later rows start inside the range.
  SQLite::Statement& s = cached(
      "SELECT * FROM (SELECT rowid, offset, length(data) FROM attachment_chunks WHERE principal=?1 AND id=?2 AND "
      "offset<=?3 ORDER BY offset DESC LIMIT 1) UNION ALL SELECT rowid, offset, length(data) FROM attachment_chunks "
      "WHERE principal=?1 AND id=?2 AND offset>?3 AND offset<?4 ORDER BY 2");
  ResetOnExit done(s);
  s.bind(1, principal);
  s.bind(2, id);
  s.bind(3, offset);
  s.bind(4, offset + length);
  return read_chunk_rows(s, "attachment_chunks", offset, length);
}

void SqliteServerStore::delete_chunks(const std::string& principal, const std::string& id) {
  SQLite::Statement& s = cached("DELETE FROM attachment_chunks WHERE principal=? AND id=?");
  ResetOnExit done(s);
  s.bind(1, principal);
  s.bind(2, id);
  s.exec();
}

}  // namespace offsync::storage
