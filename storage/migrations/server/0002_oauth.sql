-- offsync server store (SQLite), schema 2: OAuth 2.0 for native apps (RFC 6749, 7636, 8252).
-- Persistent format: column meanings and integer codes must never be renumbered.
-- Codes and tokens are stored as their SHA-256 (hex): the store never holds a usable secret.

-- Registered clients and the redirect URIs each may use, exactly as registered.
CREATE TABLE oauth_clients (
  client_id     TEXT PRIMARY KEY,
  redirect_uris TEXT NOT NULL          -- JSON array of strings
) WITHOUT ROWID;

-- Authorization codes: single use, short-lived, bound to client, redirect URI and PKCE challenge.
CREATE TABLE oauth_codes (
  code_hash      TEXT PRIMARY KEY,
  client_id      TEXT NOT NULL,
  redirect_uri   TEXT NOT NULL,
  code_challenge TEXT NOT NULL,        -- S256 only
  principal      TEXT NOT NULL,
  expires_at     INTEGER NOT NULL,     -- Unix ms
  used           INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Access (kind 0) and refresh (kind 1) tokens. A refresh token is used once (rotation); `family`
-- ties every token descended from one code, so that a refresh token used twice revokes them all.
CREATE TABLE oauth_tokens (
  token_hash TEXT PRIMARY KEY,
  kind       INTEGER NOT NULL,
  client_id  TEXT NOT NULL,
  principal  TEXT NOT NULL,
  family     TEXT NOT NULL,
  expires_at INTEGER NOT NULL,         -- Unix ms
  revoked    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX oauth_tokens_family ON oauth_tokens (family);
