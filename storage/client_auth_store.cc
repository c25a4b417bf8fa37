// What binding a client store to one user needs of the store: counting what is unsent, and wiping
// the user's data so that none of it can be read from the files afterwards.
#include "storage/client_store.h"

namespace offsync::storage {

int64_t ClientStore::unsent_count() {
  SQLite::Statement& s = cached("SELECT COUNT(*) FROM outbox");
  ResetOnExit done(s);
  s.executeStep();
  return s.getColumn(0).getInt64();
}

void ClientStore::wipe_user_data() {
  touched_all_ = true;
  if (auto newest = newest_mutation_id()) raise_id_high_water(*newest);  // ids stay unique after a sign-out
  for (const char* table : {"base", "view", "outbox", "tombstones", "request_outcomes", "base_incoming", "attachments", "attachment_chunks"}) {
    db_->exec(std::string("DELETE FROM ") + table);
  }
  db_->exec("DELETE FROM meta WHERE key IN ('cursor', 'cursor_at') OR key LIKE 'auth.%'");
}

void ClientStore::compact_files() {
  db_->exec("VACUUM");
  db_->exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

std::optional<OutboxSummary> peek_outbox(const std::string& path) {
  try {
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    db.setBusyTimeout(2000);
    SQLite::Statement s(db, kOutboxSummarySql);
    return read_outbox_summary(s);
  } catch (const SQLite::Exception&) {
    return std::nullopt;
  }
}

}  // namespace offsync::storage
