-- offsync server store (SQLite), schema 5: what upstream answered a relay about a mutation it had
-- accepted for a local client (a refusal or a conflict), for that client to read in its sync pages.
CREATE TABLE relay_outcomes (
  seq       INTEGER PRIMARY KEY,  -- a change-log position: outcomes and records share the sequence
  principal TEXT NOT NULL,
  mutation  TEXT NOT NULL,        -- the local client's mutation id (its Idempotency-Key)
  sender    TEXT NOT NULL,        -- that client's Offsync-Client-Id: only it reads the outcome
  outcome   TEXT NOT NULL         -- JSON, as sync pages carry it (docs/protocol.md, "Relays")
);
CREATE INDEX relay_outcomes_by_sender ON relay_outcomes (principal, sender, seq);

-- Which local client sent each mutation the relay forwards (kept as long as stored answers).
CREATE TABLE relay_senders (
  key        TEXT PRIMARY KEY,
  sender     TEXT NOT NULL,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;
