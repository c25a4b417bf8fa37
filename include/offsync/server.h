// offsync/server.h — the server half: what an API-provider app embeds. It applies mutations exactly
// once per idempotency key, orders them by its own hybrid logical clock, merges per field from a
// schema, and serves changes by signed cursor (docs/protocol.md, docs/protocol.md).
//
// Thread safety: a Server is safe for concurrent use; listeners call handle() from many threads.
// Requests are applied one at a time against the store (SQLite has one writer); requests with the
// same idempotency key never run at once (the second gets 409 request_in_progress).
//
// Transport: handle() takes and returns plain HTTP messages (offsync/http.h). The TCP and Unix
// socket listeners (transport/) and any in-process or IPC shim adapt bytes to this one seam.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "offsync/client.h"
#include "offsync/clock.h"
#include "offsync/durability.h"
#include "offsync/http.h"
#include "offsync/limits.h"
#include "offsync/log.h"
#include "offsync/schema.h"
#include "offsync/status.h"

namespace offsync {

// Domain rules of the embedding app for one collection: return a violation to refuse the merged
// record with 422 and the app's own code and message. Called inside the store's transaction, on
// the thread of the request; must not block or call the Server.
using RecordValidator = std::function<std::optional<SchemaViolation>(const nlohmann::json& fields)>;

// Maps a request to the principal it acts for; nullopt answers 401. Called on the request's thread.
using Authenticator = std::function<std::optional<std::string>(const HttpRequest&)>;

// Relay mode (docs/architecture.md, "The relay"): the server answers its local clients at once and
// is itself a client of an upstream server, to which it forwards what they write (under their
// Idempotency-Keys) and from which it pulls into its own change log.
struct UpstreamOptions {
  std::shared_ptr<Transport> transport;  // null: not a relay
  std::string client_path;               // the upstream client's store (a local SQLite file); default:
                                         // db_path + ".upstream"; required with a PostgreSQL store
  SyncOptions sync;                      // token, versions, intervals (its transport is the one above)
  int64_t pull_min_interval_ms = 1000;   // a local client's pull wakes an upstream pull at most this often
  bool manual = false;                   // no threads: the app (or a simulation) calls
                                         // Server::run_relay_once() to hand over and sync
  // A local client's GET of a file only upstream holds starts its fetch on a thread of its own and
  // waits this long for it; past it the answer is 503 with Retry-After (the download resumes when
  // the client asks again) and no request thread is held for the rest of the download.
  int64_t fetch_wait_ms = 3000;
};

struct ServerOptions {
  // --- Behaviour ---
  std::string db_path;                        // the SQLite store; created if missing
  std::string postgres;                       // not empty: a libpq connection string, and the store is
                                              // that PostgreSQL database instead (several server
                                              // processes may share it; docs/operations.md)
  Durability durability = Durability::kFull;  // what an applied mutation survives (durability.h)
  Schema schema;                              // default: every collection, every field lww
  std::optional<std::string> min_app_version; // older Offsync-App-Version gets 426 (overrides the schema's)
  int64_t idempotency_retention_ms = 30LL * 24 * 3600 * 1000;  // stored answers are replayed this long
  std::string sunset = "Wed, 01 Dec 2027 00:00:00 GMT";        // Sunset of deprecated request shapes
  Authenticator authenticate;                 // null: every request acts for one shared principal ""
  std::map<std::string, RecordValidator> validators;  // per collection
  LogSink log;                                // null: messages are dropped (offsync/log.h)
  // --- OAuth for native apps (docs/protocol.md, "OAuth") ---
  bool require_auth = false;                  // /v1 endpoints (but health) and /metrics need a token
                                              // from /oauth/token; each user sees only its own data
  int64_t authorization_code_ttl_ms = 60'000;            // codes are single use and short-lived
  int64_t access_token_ttl_ms = 3600LL * 1000;           // bearer tokens expire
  int64_t refresh_token_ttl_ms = 30LL * 24 * 3600 * 1000;  // refresh tokens rotate on each use
  // --- Attachments (docs/protocol.md, "Attachments") ---
  std::string attachments_dir;                // empty: the bytes are rows of the store (one per chunk)
  int64_t attachment_chunk_size = 1 << 20;    // what POST /v1/attachments advises; any chunk up to
                                              // max_body_bytes is accepted
  int64_t max_attachment_bytes = 1LL << 30;   // per attachment; a larger one is 413
  int64_t attachment_quota_bytes = 0;         // all attachments and sessions together (0: no quota);
                                              // a session past it is 507 storage_full
  int64_t attachment_session_ttl_ms = 24LL * 3600 * 1000;     // an upload untouched this long is collected
  int64_t attachment_grace_ms = 7LL * 24 * 3600 * 1000;       // a complete attachment no applied mutation
                                                              // listed is collected after this
  // --- Relay ---
  UpstreamOptions upstream;
  // --- Limits ---
  size_t max_body_bytes = limits::kMaxBodyBytes;    // larger bodies get 413
  size_t max_batch_items = limits::kMaxBatchItems;  // per POST /v1/mutations:batch
  int64_t default_sync_limit = 100;           // changes per sync page when the client gives no limit
  int64_t max_sync_limit = 1000;
  // --- Injection (tests, simulation); null means the system's ---
  const Clock* clock = nullptr;               // must outlive the Server
  RandomSource* random = nullptr;             // must outlive the Server
  std::string vfs;                            // a SQLite VFS the app registered; empty: the default
  std::string node_id;                        // HLC node id; default: one made and kept in the store
};

// A native app allowed to ask for codes, with the redirect URIs it may use (compared exactly).
struct OAuthClient {
  std::string client_id;
  std::vector<std::string> redirect_uris;
};

// What the consent screen of the authorization app approved (RFC 8252): who signs in, for which
// client and redirect, with which PKCE S256 challenge; `ipc_service` tells the client app where
// the provider answers.
struct AuthorizationApproval {
  std::string client_id;
  std::string redirect_uri;
  std::string code_challenge;  // BASE64URL(SHA-256(code_verifier)), 43 characters
  std::string user;            // the principal the tokens will act for
  std::string state;
  std::string ipc_service;
};

struct ServerStats {
  int64_t mutations_applied = 0;
  int64_t idempotency_keys = 0;
  int64_t replays = 0;
  int64_t changes = 0;     // entries in the change log: live records and tombstones
  int64_t tombstones = 0;
  int64_t last_seq = 0;
  int64_t compacted_seq = 0;
  uint32_t cursor_version = 0;
  // A relay's (also read by `offsync admin stats` from another process; zero for other servers).
  bool relay = false;
  int64_t relay_handed_over = 0;      // applied, not yet in the upstream outbox
  int64_t relay_upstream_pending = 0; // in the upstream outbox, unacknowledged
  std::optional<int64_t> relay_oldest_pending_created_at_ms;
  std::optional<int64_t> relay_last_upstream_contact_ms;  // the last round that reached upstream
  int64_t relay_upstream_identities = 0;  // local principals given an upstream identity
  int64_t long_polls_held = 0;  // GET /v1/sync?wait= requests held in this process now
};

class Server {
 public:
  static Result<std::unique_ptr<Server>> open(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Answers one request. Never throws; a fault of the store is a 503 the client retries. A
  // GET /v1/sync with wait=S whose page would be empty blocks the calling thread until a change
  // of its user's records commits or S seconds pass (docs/protocol.md, "Waiting for changes"):
  // listeners use handle_async(), which holds it without a thread.
  HttpResponse handle(const HttpRequest& request);
  // The same answer, given to `done`: at once on the calling thread, or, for a held long poll,
  // later on the server's long-poll thread (one per Server, started by the first long poll).
  // `done` must not block. `gone`, when given, is set by the carrier once the client hung up: a
  // held poll is then dropped within a second, without its page query (`done` gets a 499 that
  // nobody reads), instead of holding its connection until the wait ends.
  void handle_async(const HttpRequest& request, std::function<void(HttpResponse)> done,
                    std::shared_ptr<const std::atomic<bool>> gone = nullptr);
  // Answers every held long poll now, with its page as it is (a listener stopping).
  void release_waiting();

  Result<ServerStats> stats();
  // Purges tombstones last changed before the time; cursors from before the newest purged one
  // answer 410 afterwards. Returns how many tombstones went.
  Result<int64_t> compact(int64_t before_ms);
  // Starts a new cursor key version and retires the older ones: their cursors answer 410.
  Status rotate_cursor();
  // Deletes stored answers older than the retention; returns how many. (Also runs by itself.)
  Result<int64_t> sweep_idempotency_keys();
  // Removes upload sessions untouched for attachment_session_ttl_ms and complete attachments that no
  // applied mutation listed within attachment_grace_ms; returns how many. (Also runs by itself.)
  Result<int64_t> collect_attachments();

  // A relay with mutations not yet forwarded upstream (false for a server that is not a relay).
  // Cheap and non-blocking: what an idle exit asks before stopping.
  bool has_upstream_work() const;
  // A relay with UpstreamOptions::manual: hands every applied mutation over and runs one round with
  // upstream per local user (push and pull), on the calling thread. kInvalidArgument otherwise.
  Status run_relay_once();
  // A relay's upstream identity for a local principal ("" is the shared partition of a relay
  // without auth): the credentials the relay's own sign-in to upstream (RFC 8252) gave for that
  // user. That principal's upstream client keeps them in its store, sends access_token and redeems
  // refresh_token after a 401 (UpstreamOptions::sync.oauth_client_id); they are not kept in this
  // store after the relay took them. Until a principal has an identity, its mutations wait on the
  // relay: one user's data never goes upstream under another's. Callable on a store whose relay
  // runs in another process (`offsync auth upstream`): that relay takes it at its next local write
  // or pull, or within a second while that user's mutations wait for it.
  Status set_upstream_credentials(const std::string& principal, const Credentials& credentials);

  // Registers (or replaces) a client and its redirect URIs.
  Status register_oauth_client(const OAuthClient& client);
  // Issues a single-use authorization code and returns the redirect URI that carries it, with
  // `state` and `ipc-service`. Refused with a reason for an unknown client, a redirect URI it did
  // not register, a malformed challenge or an empty user.
  Result<std::string> approve_authorization(const AuthorizationApproval& approval);

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace offsync
