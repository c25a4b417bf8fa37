// ClientStore: what the app learns of the outbox's progress (a rejection's code and status, what
// still waits for the server).
#include "storage/client_store.h"

namespace offsync::storage {

void ClientStore::set_rejection(const std::string& id, const std::string& error_code, int http_status) {
  SQLite::Statement& s = cached("UPDATE outbox SET error_code=?, http_status=? WHERE id=?");
  ResetOnExit done(s);
  s.bind(1, error_code);
  s.bind(2, http_status);
  s.bind(3, id);
  s.exec();
}

ClientStore::OutboxProgress ClientStore::outbox_progress(const std::string& up_to_id) {
  OutboxProgress out;
  {
    SQLite::Statement& s = cached("SELECT COUNT(*) FROM outbox WHERE id <= ? AND state IN (0, 1)");
    ResetOnExit done(s);
    s.bind(1, up_to_id);
    s.executeStep();
    out.waiting = s.getColumn(0).getInt64();
  }
  SQLite::Statement& s = cached("SELECT id FROM outbox WHERE id <= ? AND state IN (2, 3) ORDER BY id LIMIT 1");
  ResetOnExit done(s);
  s.bind(1, up_to_id);
  if (s.executeStep()) out.stuck = mutation(s.getColumn(0).getString());
  return out;
}

}  // namespace offsync::storage
