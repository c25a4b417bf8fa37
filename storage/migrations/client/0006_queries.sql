-- Indexes over the view that ClientOptions::indexes declared (storage/client_query.h): each one's
-- name and the statements that drop it (with its FTS5 table, id map and triggers), so that an
-- index no longer declared is dropped when the store opens.
CREATE TABLE declared_indexes (
  name     TEXT PRIMARY KEY,
  drop_sql TEXT NOT NULL
) WITHOUT ROWID;

-- A rejected mutation keeps what the server said: its error code and HTTP status, with the
-- message (last_error).
ALTER TABLE outbox ADD COLUMN error_code TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN http_status INTEGER NOT NULL DEFAULT 0;
