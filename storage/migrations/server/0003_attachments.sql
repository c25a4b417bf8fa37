-- offsync server store (SQLite), schema 3: attachments (docs/protocol.md, "Attachments").
-- Persistent format: column meanings must never change.

-- One row per attachment: an upload session until complete, then the stored file's metadata.
CREATE TABLE attachments (
  principal    TEXT NOT NULL,
  id           TEXT NOT NULL,
  size         INTEGER NOT NULL,           -- declared by POST /v1/attachments
  sha256       TEXT NOT NULL,              -- hex, declared; checked when the last byte arrives
  content_type TEXT NOT NULL,
  received     INTEGER NOT NULL DEFAULT 0, -- bytes 0..received-1 are stored and durable
  complete     INTEGER NOT NULL DEFAULT 0, -- 1: whole and its SHA-256 matched
  created_at   INTEGER NOT NULL,           -- Unix ms
  updated_at   INTEGER NOT NULL,           -- Unix ms: the last chunk, or completion
  referenced   INTEGER NOT NULL DEFAULT 0, -- 1: an applied mutation listed it
  PRIMARY KEY (principal, id)
) WITHOUT ROWID;
CREATE INDEX attachments_by_age ON attachments (complete, referenced, updated_at);

-- The bytes, one row per accepted chunk (at most one chunk's bytes each), unless the server keeps
-- them under --attachments-dir. Rows of one attachment never overlap and leave no gap.
CREATE TABLE attachment_chunks (
  principal TEXT NOT NULL,
  id        TEXT NOT NULL,
  offset    INTEGER NOT NULL,
  data      BLOB NOT NULL,
  PRIMARY KEY (principal, id, offset)
);
