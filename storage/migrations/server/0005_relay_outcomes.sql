-- offsync server store (SQLite), schema 5: what upstream answered a relay about a mutation it had
-- accepted for a local client (a refusal or a conflict), for that client to read in its sync pages.
CREATE TABLE relay_outcomes (
  seq       INTEGER PRIMARY KEY,  -- a change-log position: outcomes and records share the sequence
  principal TEXT NOT NULL,
  mutation  TEXT NOT NULL,        -- the local client's mutation id (its Idempotency-Key)
  outcome   TEXT NOT NULL         -- JSON, as sync pages carry it (docs/protocol.md, "Relays")
);
CREATE INDEX relay_outcomes_by_principal ON relay_outcomes (principal, seq);
