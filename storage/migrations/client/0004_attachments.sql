-- offsync client store, schema 4: attachments (docs/architecture.md, "Attachments").
-- Persistent format: column meanings and integer codes must never be renumbered.

-- Attachments this store knows: added here (their bytes to upload), or listed by a server record
-- (their bytes downloaded on demand).
CREATE TABLE attachments (
  id              TEXT PRIMARY KEY,
  size            INTEGER NOT NULL,           -- bytes; -1 while unknown (a download not begun)
  sha256          TEXT NOT NULL,              -- hex; '' while unknown
  content_type    TEXT NOT NULL,
  state           INTEGER NOT NULL,           -- 0 local (to upload), 1 uploaded (the server answered 201),
                                              -- 2 remote (downloading), 3 downloaded (checksum verified)
  local_bytes     INTEGER NOT NULL DEFAULT 0, -- bytes 0..local_bytes-1 are in attachment_chunks
  sent_bytes      INTEGER NOT NULL DEFAULT 0, -- bytes the server said it holds
  failures        INTEGER NOT NULL DEFAULT 0, -- transient upload failures in a row (backoff)
  next_attempt_at INTEGER NOT NULL DEFAULT 0, -- Unix ms
  last_error      TEXT NOT NULL DEFAULT '',
  created_at      INTEGER NOT NULL            -- Unix ms
) WITHOUT ROWID;

-- The bytes, in rows of at most one storage chunk, without gaps.
CREATE TABLE attachment_chunks (
  id     TEXT NOT NULL,
  offset INTEGER NOT NULL,
  data   BLOB NOT NULL,
  PRIMARY KEY (id, offset)
);

-- 1: this mutation's attachments upload even on a metered network.
ALTER TABLE outbox ADD COLUMN urgent INTEGER NOT NULL DEFAULT 0;
-- The attachment ids of the server's record (JSON array).
ALTER TABLE base ADD COLUMN attachments TEXT NOT NULL DEFAULT '[]';
ALTER TABLE base_incoming ADD COLUMN attachments TEXT NOT NULL DEFAULT '[]';
-- The mutations that list attachments, for the uploader's scan.
CREATE INDEX outbox_with_attachments ON outbox (id) WHERE attachments != '[]';
