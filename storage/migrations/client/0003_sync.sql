-- offsync client store, schema 3: what the sync worker needs.
-- Persistent format: do not renumber.

-- The key a mutation is sent with. NULL: its id. A conflict resolved with keep-mine re-sends the
-- change under a new key while the row keeps its place (id) in the record's order.
ALTER TABLE outbox ADD COLUMN idempotency_key TEXT;
-- The server's record that came with a 409 conflict (JSON), shown to the user for resolution.
ALTER TABLE outbox ADD COLUMN server_record TEXT;

-- A full refresh (after 410 on sync) pulls the server's whole state here first and swaps it into
-- base in one transaction, so a refresh that fails half-way leaves base as it was.
CREATE TABLE base_incoming (
  collection TEXT NOT NULL,
  record_id  TEXT NOT NULL,
  fields     TEXT NOT NULL,
  hlc        TEXT NOT NULL,
  field_hlc  TEXT NOT NULL DEFAULT '{}',
  deleted    INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (collection, record_id)
) WITHOUT ROWID;
