-- offsync client store, schema 2: generic offline REST requests.
-- Persistent format: do not renumber.

-- A queued REST request names the app module and action whose handler receives its outcome.
ALTER TABLE outbox ADD COLUMN module TEXT;
ALTER TABLE outbox ADD COLUMN action TEXT;

-- Outcomes of REST requests not yet delivered to their handler; kept across restarts.
CREATE TABLE request_outcomes (
  mutation_id  TEXT PRIMARY KEY,
  module       TEXT NOT NULL,
  action       TEXT NOT NULL,
  request      TEXT NOT NULL,   -- JSON: the request as queued
  status       INTEGER NOT NULL, -- HTTP status; 0 when no HTTP answer was ever had
  headers      TEXT NOT NULL,   -- JSON array of [name, value]
  body         TEXT NOT NULL,
  error        TEXT NOT NULL,   -- why, when status is 0 or the answer was an error
  completed_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX request_outcomes_by_handler ON request_outcomes (module, action, mutation_id);
