-- offsync client store, schema 1.
-- Persistent format: column meanings and the integer codes below must never be renumbered.

-- Small key/value facts about this store: client_id, sync cursor.
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

-- The last server-confirmed state of each record.
CREATE TABLE base (
  collection TEXT NOT NULL,
  record_id  TEXT NOT NULL,
  fields     TEXT NOT NULL,               -- JSON object, fields unknown to this client included
  hlc        TEXT NOT NULL,               -- the record's server HLC
  field_hlc  TEXT NOT NULL DEFAULT '{}',  -- JSON object: field -> HLC
  deleted    INTEGER NOT NULL DEFAULT 0,  -- 1: the server holds a tombstone
  PRIMARY KEY (collection, record_id)
) WITHOUT ROWID;

-- What the app reads: base with the pending outbox applied in ULID order. A record that does not
-- exist (never created, or deleted) has no row.
CREATE TABLE view (
  collection TEXT NOT NULL,
  record_id  TEXT NOT NULL,
  fields     TEXT NOT NULL,
  PRIMARY KEY (collection, record_id)
) WITHOUT ROWID;

-- Mutations not yet acknowledged by the server, keyed by ULID (their Idempotency-Key).
CREATE TABLE outbox (
  id              TEXT PRIMARY KEY,            -- ULID
  collection      TEXT NOT NULL,
  record_id       TEXT NOT NULL,
  op              INTEGER NOT NULL,            -- 0 upsert, 1 patch, 2 delete, 3 REST request
  payload         TEXT NOT NULL,               -- JSON
  base_hlc        TEXT,                        -- NULL for a create
  attempts        INTEGER NOT NULL DEFAULT 0,  -- sends begun; > 0 freezes the mutation
  state           INTEGER NOT NULL DEFAULT 0,  -- 0 pending, 1 in flight, 2 rejected, 3 conflict
  next_attempt_at INTEGER NOT NULL DEFAULT 0,  -- Unix ms
  last_error      TEXT,
  attachments     TEXT NOT NULL DEFAULT '[]',  -- JSON array of attachment ids
  created_at      INTEGER NOT NULL             -- Unix ms, local clock, for display and ages
) WITHOUT ROWID;
CREATE INDEX outbox_by_record ON outbox (collection, record_id, id);

-- Local deletes the server has not acknowledged yet.
CREATE TABLE tombstones (
  mutation_id TEXT PRIMARY KEY,
  collection  TEXT NOT NULL,
  record_id   TEXT NOT NULL,
  deleted_at  INTEGER NOT NULL  -- Unix ms
) WITHOUT ROWID;
CREATE INDEX tombstones_by_record ON tombstones (collection, record_id);
