-- offsync server store (SQLite), schema 4: a relay's hand-over to its upstream client
-- (engine/server/relay.cc). A row is written in the transaction that applies a local client's
-- mutation, and deleted once the upstream client's outbox holds the mutation: a crash in between
-- hands it over again, which the upstream outbox recognises by its key.
CREATE TABLE relay_outbox (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,  -- the order the relay applied them in
  principal  TEXT NOT NULL,
  key        TEXT NOT NULL,                      -- the local client's Idempotency-Key
  collection TEXT NOT NULL,
  record_id  TEXT NOT NULL,
  mutation   TEXT NOT NULL,                      -- the mutation as the local client sent it (JSON)
  created_at INTEGER NOT NULL                    -- Unix ms
);
-- Records with a mutation not handed over yet: upstream's view of them is not the relay's state.
CREATE INDEX relay_outbox_by_record ON relay_outbox (collection, record_id);
