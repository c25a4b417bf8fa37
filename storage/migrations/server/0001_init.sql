-- offsync server store (SQLite), schema 1.
-- Persistent format: column meanings and integer codes must never be renumbered.

CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
-- seq: the last change-log position handed out; compacted_seq: cursors below it are expired.
INSERT INTO meta (key, value) VALUES ('seq', '0'), ('compacted_seq', '0');

CREATE TABLE counters (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO counters (name, value) VALUES ('mutations_applied', 0), ('replays', 0);

-- The current merged state of every record, tombstones included. `seq` is the record's position in
-- the change log: every change moves the record to a fresh, higher seq, so the change log is this
-- table ordered by seq and a record appears in it once, with its newest state.
CREATE TABLE records (
  partition   TEXT NOT NULL,               -- the principal; '' without auth
  collection  TEXT NOT NULL,
  record_id   TEXT NOT NULL,
  fields      TEXT NOT NULL,               -- JSON object, unknown fields included
  field_hlc   TEXT NOT NULL,               -- JSON object: field -> HLC of its last change
  hlc         TEXT NOT NULL,               -- HLC of the record's last change
  deleted     INTEGER NOT NULL DEFAULT 0,  -- 1: tombstone
  attachments TEXT NOT NULL DEFAULT '[]',
  seq         INTEGER NOT NULL,
  changed_at  INTEGER NOT NULL,            -- server wall time (ms) of the last change
  PRIMARY KEY (partition, collection, record_id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX records_by_seq ON records (partition, seq);
CREATE INDEX tombstones_by_age ON records (changed_at) WHERE deleted = 1;

-- Stored answers of mutating requests, for replay (Idempotency-Key).
CREATE TABLE idempotency (
  principal   TEXT NOT NULL,
  key         TEXT NOT NULL,
  fingerprint TEXT NOT NULL,     -- hex SHA-256 of method, path and canonical JSON body
  status      INTEGER NOT NULL,
  body        TEXT NOT NULL,     -- the exact bytes answered
  created_at  INTEGER NOT NULL,  -- ms
  PRIMARY KEY (principal, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_by_age ON idempotency (created_at);

-- HMAC keys of the cursor encodings; a retired version's cursors answer 410.
CREATE TABLE cursor_keys (
  version INTEGER PRIMARY KEY,
  secret  BLOB NOT NULL,
  retired INTEGER NOT NULL DEFAULT 0
);
