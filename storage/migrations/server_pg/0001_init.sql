-- offsync server store (PostgreSQL), schema 1: the tables of the SQLite store's schemas 1 to 6
-- (storage/migrations/server/), in PostgreSQL's types. Persistent format: column meanings and
-- integer codes must never be renumbered.
--
-- Several server processes share these tables. A write transaction first locks the row
-- meta('seq') (storage/pg_server_store.cc): writers take turns, as on SQLite, so that the
-- change-log positions a transaction hands out are above every committed one and commit in
-- their order (gap-free cursors), and a record is read and merged by one writer at a time.

CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('seq', '0'), ('compacted_seq', '0');

CREATE TABLE counters (
  name  TEXT PRIMARY KEY,
  value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('mutations_applied', 0), ('replays', 0);

CREATE TABLE records (
  partition   TEXT NOT NULL,
  collection  TEXT NOT NULL,
  record_id   TEXT NOT NULL,
  fields      TEXT NOT NULL,
  field_hlc   TEXT NOT NULL,
  hlc         TEXT NOT NULL,
  deleted     SMALLINT NOT NULL DEFAULT 0,
  attachments TEXT NOT NULL DEFAULT '[]',
  seq         BIGINT NOT NULL,
  changed_at  BIGINT NOT NULL,
  PRIMARY KEY (partition, collection, record_id)
);
CREATE UNIQUE INDEX records_by_seq ON records (partition, seq);
CREATE INDEX tombstones_by_age ON records (changed_at) WHERE deleted = 1;
CREATE INDEX records_by_hlc ON records (hlc);

CREATE TABLE idempotency (
  principal   TEXT NOT NULL,
  key         TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  status      INTEGER NOT NULL,
  body        TEXT NOT NULL,
  created_at  BIGINT NOT NULL,
  PRIMARY KEY (principal, key)
);
CREATE INDEX idempotency_by_age ON idempotency (created_at);

CREATE TABLE cursor_keys (
  version BIGINT PRIMARY KEY,
  secret  BYTEA NOT NULL,
  retired SMALLINT NOT NULL DEFAULT 0
);

CREATE TABLE oauth_clients (
  client_id     TEXT PRIMARY KEY,
  redirect_uris TEXT NOT NULL
);
CREATE TABLE oauth_codes (
  code_hash      TEXT PRIMARY KEY,
  client_id      TEXT NOT NULL,
  redirect_uri   TEXT NOT NULL,
  code_challenge TEXT NOT NULL,
  principal      TEXT NOT NULL,
  expires_at     BIGINT NOT NULL,
  used           SMALLINT NOT NULL DEFAULT 0
);
CREATE TABLE oauth_tokens (
  token_hash TEXT PRIMARY KEY,
  kind       INTEGER NOT NULL,
  client_id  TEXT NOT NULL,
  principal  TEXT NOT NULL,
  family     TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  revoked    SMALLINT NOT NULL DEFAULT 0
);
CREATE INDEX oauth_tokens_family ON oauth_tokens (family);

CREATE TABLE attachments (
  principal    TEXT NOT NULL,
  id           TEXT NOT NULL,
  size         BIGINT NOT NULL,
  sha256       TEXT NOT NULL,
  content_type TEXT NOT NULL,
  received     BIGINT NOT NULL DEFAULT 0,
  complete     SMALLINT NOT NULL DEFAULT 0,
  created_at   BIGINT NOT NULL,
  updated_at   BIGINT NOT NULL,
  referenced   SMALLINT NOT NULL DEFAULT 0,
  PRIMARY KEY (principal, id)
);
CREATE INDEX attachments_by_age ON attachments (complete, referenced, updated_at);
CREATE TABLE attachment_chunks (
  principal TEXT NOT NULL,
  id        TEXT NOT NULL,
  "offset"  BIGINT NOT NULL,
  data      BYTEA NOT NULL,
  PRIMARY KEY (principal, id, "offset")
);

CREATE TABLE relay_outbox (
  seq        BIGSERIAL PRIMARY KEY,
  principal  TEXT NOT NULL,
  key        TEXT NOT NULL,
  collection TEXT NOT NULL,
  record_id  TEXT NOT NULL,
  mutation   TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX relay_outbox_by_record ON relay_outbox (collection, record_id);
CREATE INDEX relay_outbox_by_principal ON relay_outbox (principal, seq);
CREATE TABLE relay_outcomes (
  seq        BIGINT PRIMARY KEY,
  principal  TEXT NOT NULL,
  mutation   TEXT NOT NULL,
  sender     TEXT NOT NULL,
  outcome    TEXT NOT NULL,
  created_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX relay_outcomes_by_sender ON relay_outcomes (principal, sender, seq);
CREATE INDEX relay_outcomes_by_age ON relay_outcomes (created_at);
CREATE TABLE relay_senders (
  principal  TEXT NOT NULL,
  key        TEXT NOT NULL,
  sender     TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (principal, key)
);
CREATE INDEX relay_senders_by_age ON relay_senders (created_at);
CREATE TABLE relay_identities (
  principal       TEXT PRIMARY KEY,
  upstream_user   TEXT NOT NULL,
  access_token    TEXT NOT NULL,
  refresh_token   TEXT NOT NULL,
  version         BIGINT NOT NULL,
  applied_version BIGINT NOT NULL DEFAULT 0,
  error           TEXT NOT NULL DEFAULT ''
);
