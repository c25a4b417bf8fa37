-- offsync server store (SQLite), schema 6: a relay serves several local principals, each under its
-- own upstream identity (engine/server/relay.cc).
--
-- The credentials the relay's sign-in to upstream gave for each local principal. The relay hands
-- them to that principal's upstream client (which keeps and refreshes them in its own store) and
-- then blanks them here: `version` says a newer set arrived, `applied_version` which one the relay
-- took, `error` why it could not (another upstream user's unsent mutations in that store).
CREATE TABLE relay_identities (
  principal       TEXT PRIMARY KEY,
  upstream_user   TEXT NOT NULL,
  access_token    TEXT NOT NULL,
  refresh_token   TEXT NOT NULL,
  version         INTEGER NOT NULL,
  applied_version INTEGER NOT NULL DEFAULT 0,
  error           TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;

-- The hand-over is read per principal, in the order the relay applied the mutations.
CREATE INDEX relay_outbox_by_principal ON relay_outbox (principal, seq);

-- Senders and outcomes are per principal (keys are), and go when stored answers do.
CREATE TABLE relay_senders_v6 (
  principal  TEXT NOT NULL,
  key        TEXT NOT NULL,
  sender     TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (principal, key)
) WITHOUT ROWID;
-- Before schema 6 a relay served the shared partition "" only.
INSERT INTO relay_senders_v6 (principal, key, sender, created_at) SELECT '', key, sender, created_at FROM relay_senders;
DROP TABLE relay_senders;
ALTER TABLE relay_senders_v6 RENAME TO relay_senders;
CREATE INDEX relay_senders_by_age ON relay_senders (created_at);

ALTER TABLE relay_outcomes ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;  -- Unix ms (0: before schema 6)
-- Outcomes stored before schema 6 count from the upgrade.
UPDATE relay_outcomes SET created_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000;
CREATE INDEX relay_outcomes_by_age ON relay_outcomes (created_at);
