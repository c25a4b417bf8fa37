/* offsync/offsync.h — the C ABI, for apps and bindings that cannot call C++ (Kotlin through JNI,
 * Swift, Python ctypes). In the manner of LiteCore's C4 API: opaque handles, functions named
 * offsync_<noun>_<verb>, a nullable offsync_error* last, no exception crosses it, explicit
 * ownership. Records, reports and outboxes cross it as JSON text (UTF-8, NUL-terminated).
 *
 * Ownership: a handle returned by an _open function is the caller's; release it with its _free
 * (NULL is accepted). A char* returned by any function is the caller's; release it with
 * offsync_string_free(). Arguments are only read during the call.
 *
 * Errors: every function that can fail takes `offsync_error* error` last (NULL: not reported).
 * On failure it returns NULL (or false) and fills *error; on success error->code is
 * OFFSYNC_OK. Codes are offsync::StatusCode's (offsync/status.h).
 *
 * Threads: a client or server handle may be used from several threads at once (the C++ objects
 * are thread-safe); a handle must not be freed while another thread uses it.
 *
 * Callbacks are a function pointer and a void* context handed back unchanged; each says the thread
 * it runs on. An observer handle is removed (and freed) by offsync_observer_remove().
 *
 * Covered: clients (open, writes, reads, queries, live queries, outbox, sync, conflicts, sign-in,
 * attachments), the server half in process (options, a relay to a cloud, the byte handler, its
 * asynchronous form for long polls, listeners on TCP and Unix sockets, stats), and the client
 * transport callbacks for an IPC shim (requests, and the long poll that brings pushes).
 */
#ifndef OFFSYNC_OFFSYNC_H
#define OFFSYNC_OFFSYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
  OFFSYNC_OK = 0,
  OFFSYNC_INVALID_ARGUMENT = 1,
  OFFSYNC_NOT_FOUND = 2,
  OFFSYNC_CONFLICT = 3,
  OFFSYNC_VALIDATION = 4,
  OFFSYNC_TRANSIENT = 5,
  OFFSYNC_CORRUPT = 6,
  OFFSYNC_RESOURCE_EXHAUSTED = 7,
  OFFSYNC_UNAUTHENTICATED = 8,
  OFFSYNC_UPGRADE_REQUIRED = 9,
  OFFSYNC_INTERNAL = 10,
  OFFSYNC_DEADLINE_EXCEEDED = 11
};

typedef struct offsync_error {
  int32_t code;       /* OFFSYNC_OK, or one of the codes above */
  char message[512];  /* what went wrong, NUL-terminated (cut at 511 bytes) */
} offsync_error;

/* Whether retrying the same call later may succeed (a network or store that is busy). */
bool offsync_error_is_transient(const offsync_error* error);

void offsync_string_free(char* text);

/* ---- The server half, in this process ---- */
typedef struct offsync_server offsync_server;

/* Opens (or creates) a server store: a SQLite file at db_path. */
offsync_server* offsync_server_open(const char* db_path, offsync_error* error);

typedef struct offsync_server_options {
  const char* db_path;          /* the SQLite store (required unless postgres is set) */
  const char* postgres;         /* or: a libpq connection string (several processes, one database) */
  const char* schema_json;      /* the merge schema (docs/merge-policies.md); NULL: every field lww */
  const char* attachments_dir;  /* attachment bytes under this directory; NULL: in the store */
  bool require_auth;            /* /v1 endpoints need a bearer token (offline OAuth) */
  bool durability_normal;       /* false: every applied mutation survives power loss */
  const char* upstream_url;     /* a relay: sync what its clients write with this cloud server */
  const char* upstream_token;   /* the relay's bearer token upstream; NULL: none */
  const char* upstream_db_path; /* the relay's upstream client store (a local SQLite file); NULL:
                                   db_path + ".upstream" (required with postgres) */
} offsync_server_options;
offsync_server* offsync_server_open_with(const offsync_server_options* options, offsync_error* error);
void offsync_server_free(offsync_server* server);
/* One serialized HTTP/1.1 request in, one serialized response out (*response_size bytes, not
 * NUL-terminated; free with offsync_string_free). What an Android Binder onTransact or an iOS XPC
 * handler calls (docs/recipe-ipc.md). Never fails: bad bytes are answered 400. */
char* offsync_server_handle_bytes(offsync_server* server, const uint8_t* request, size_t request_size,
                                  size_t* response_size);

/* The same for a carrier that can answer later (an XPC reply, a Binder callback): done(context,
 * response, size) is called exactly once with the serialized response, which is valid during the
 * call only: at once on the calling thread, or, for a long poll that waits for changes
 * (GET /v1/sync?wait=S, docs/protocol.md), later on the server's long-poll thread, so no thread is
 * held while a device waits. done must not block. The server must outlive the call to done
 * (offsync_server_free answers every held poll first). */
typedef void (*offsync_response_fn)(void* context, const uint8_t* response, size_t response_size);
void offsync_server_handle_bytes_async(offsync_server* server, const uint8_t* request, size_t request_size,
                                       offsync_response_fn done, void* context);

/* One app at the other end of the carrier, so that its held long polls end when it dies (Binder's
 * linkToDeath, an XPC connection's invalidation handler) instead of when their wait does. Pass it
 * to offsync_server_handle_bytes_async_from; offsync_peer_gone (any thread) drops its held polls
 * within a second (their done gets a 499 answer nobody needs). Free it with offsync_peer_free
 * whenever the carrier is done with it: calls in flight keep what they need. */
typedef struct offsync_peer offsync_peer;
offsync_peer* offsync_peer_new(void);
void offsync_peer_gone(offsync_peer* peer);
void offsync_peer_free(offsync_peer* peer);
void offsync_server_handle_bytes_async_from(offsync_server* server, const offsync_peer* peer, const uint8_t* request,
                                            size_t request_size, offsync_response_fn done, void* context);

/* Serves the server over HTTP/1.1 on its own threads until offsync_listener_free: address is
 * "tcp:HOST:PORT" (an IP address; port 0: any free port) or "unix:PATH" (a Unix domain socket,
 * mode 0600, for processes of this user: what `curl --unix-socket` and other apps connect to).
 * Freeing the server first stops its listeners; their handles stay valid (the address too) until
 * offsync_listener_free. */
typedef struct offsync_listener offsync_listener;
offsync_listener* offsync_server_listen(offsync_server* server, const char* address, offsync_error* error);
/* "http://127.0.0.1:PORT" or "unix:PATH" (free it). */
char* offsync_listener_address(const offsync_listener* listener);
/* Stops accepting, answers the requests in progress, and frees the handle. NULL is accepted. */
void offsync_listener_free(offsync_listener* listener);

/* The server's figures as JSON: {"mutations_applied", "replays", "idempotency_keys", "changes",
 * "tombstones", "last_seq", "compacted_seq", "cursor_version", "long_polls_held"}. */
char* offsync_server_stats(offsync_server* server, offsync_error* error);

/* ---- Clients ---- */
typedef struct offsync_client offsync_client;
typedef struct offsync_observer offsync_observer;

/* The client's transport as a callback (an Android Binder or iOS XPC shim, docs/recipe-ipc.md):
 * carries one serialized HTTP/1.1 request to the provider and returns its serialized response in
 * *response (allocated with malloc; offsync frees it with free) and *response_size. Returns false
 * when the provider could not be reached (a transient failure: the request is retried later).
 * Called on the thread that syncs (the worker, or offsync_client_sync's caller), one call at a
 * time; it may block until the answer is there. */
typedef bool (*offsync_exchange_fn)(void* context, const uint8_t* request, size_t request_size, uint8_t** response,
                                    size_t* response_size);

typedef struct offsync_client_options {
  const char* path;                 /* the client's SQLite file (required) */
  const char* server_url;           /* sync over HTTP(S) to this server (libcurl); or NULL */
  const char* unix_socket;          /* with server_url: connect through this Unix socket; or NULL */
  offsync_server* in_process_server;/* or: sync with this server in the same process; or NULL */
  bool background;                  /* run the sync worker thread (else only offsync_client_sync syncs) */
  bool durability_normal;           /* false: every write survives power loss (fsync); true: a crash */
  offsync_exchange_fn exchange;     /* or: sync through this callback; NULL when unused */
  void* exchange_context;           /* handed to exchange */
  /* Push over the callback (with background): the client keeps one long poll
   * (GET /v1/sync?wait=S) in flight through watch_exchange, on its own watch thread, so other
   * devices' changes arrive without polling. It blocks until the provider answers (a change, or S
   * seconds); the provider side answers it with offsync_server_handle_bytes_async. NULL: the
   * client pulls when it syncs. With server_url or in_process_server this is not needed: the
   * client opens its own second connection. */
  offsync_exchange_fn watch_exchange;
  void* watch_context;                  /* handed to watch_exchange and watch_cancel */
  void (*watch_cancel)(void* context);  /* the client is closing: make a watch_exchange in progress
                                           return (false) soon; any thread; NULL: it ends by itself */
  int32_t watch_wait_s;                 /* S, 1..60; 0: 25 s; negative: no long poll at all */
} offsync_client_options;

offsync_client* offsync_client_open(const offsync_client_options* options, offsync_error* error);
void offsync_client_free(offsync_client* client);

/* Writes return the id of the outbox mutation that carries them (free it). fields and patches
 * are JSON objects as text. */
char* offsync_client_put(offsync_client* client, const char* collection, const char* record_id,
                         const char* fields_json, offsync_error* error);
char* offsync_client_patch(offsync_client* client, const char* collection, const char* record_id,
                           const char* merge_patch_json, offsync_error* error);
/* A record created locally and never sent leaves nothing to send: returns "" then. */
char* offsync_client_remove(offsync_client* client, const char* collection, const char* record_id,
                            offsync_error* error);
/* The record's fields as the app sees them (JSON object); NULL with OFFSYNC_NOT_FOUND if none. */
char* offsync_client_get(offsync_client* client, const char* collection, const char* record_id,
                         offsync_error* error);
/* The outbox: a JSON array of {"id","collection","record","op","state","attempts","last_error",
 * "error_code","http_status"} in ULID order. */
char* offsync_client_outbox(offsync_client* client, offsync_error* error);
/* One push and pull round on the calling thread; its report as a JSON object
 * {"reached","sent","applied","rejected","conflicts","transient","pulled",...}. */
char* offsync_client_sync(offsync_client* client, offsync_error* error);
/* Wakes the background worker for a round now and returns at once (a pull-to-refresh). */
void offsync_client_sync_now(offsync_client* client);
/* What the network is (from the platform's connectivity callbacks): going online wakes the worker;
 * offline, it makes no request; metered, attachments wait unless their write was urgent. */
enum { OFFSYNC_ONLINE = 0, OFFSYNC_OFFLINE = 1, OFFSYNC_METERED = 2 };
bool offsync_client_set_connectivity(offsync_client* client, int connectivity, offsync_error* error);
/* A new bearer token (after the worker paused on 401): resumes the queue and wakes the worker. */
bool offsync_client_set_token(offsync_client* client, const char* token, offsync_error* error);
/* The worker's state and the outbox as JSON: {"state": "idle"|"pushing"|"pulling"|"offline"|
 * "backing_off"|"paused", "reason", "next_attempt_at_ms", "pending", "rejected", "conflicts",
 * "oldest_pending_created_at_ms"}. */
char* offsync_client_status(offsync_client* client, offsync_error* error);
/* Waits until every mutation queued before the call is acknowledged (see Client::wait_until_synced). */
bool offsync_client_wait_until_synced(offsync_client* client, int64_t timeout_ms, offsync_error* error);

/* Attachments (docs/architecture.md, "Attachments"): added from a file, read a chunk at a time,
 * uploaded before the write that lists them (offsync_client_put_attached). */
char* offsync_client_add_attachment_file(offsync_client* client, const char* path, const char* content_type,
                                         offsync_error* error);
/* put() whose record lists attachments: attachment_ids_json is a JSON array of ids. */
char* offsync_client_put_attached(offsync_client* client, const char* collection, const char* record_id,
                                  const char* fields_json, const char* attachment_ids_json, offsync_error* error);
/* {"id","size","sha256","content_type","state","local_bytes","sent_bytes","last_error"}. */
char* offsync_client_attachment(offsync_client* client, const char* id, offsync_error* error);
/* Fetches an attachment a server record lists, on the calling thread (resumable, SHA-256 checked). */
bool offsync_client_download_attachment(offsync_client* client, const char* id, offsync_error* error);
/* Writes a readable attachment's bytes to a file. */
bool offsync_client_export_attachment(offsync_client* client, const char* id, const char* path, offsync_error* error);

/* Removes an unacknowledged mutation (a rejected one the user gave up). */
bool offsync_client_discard(offsync_client* client, const char* mutation_id, offsync_error* error);
/* Settles a mutation in conflict: OFFSYNC_KEEP_MINE, OFFSYNC_TAKE_SERVER, or OFFSYNC_EDITED with
 * edited_json the record to send instead (a JSON object; NULL otherwise). */
enum { OFFSYNC_KEEP_MINE = 0, OFFSYNC_TAKE_SERVER = 1, OFFSYNC_EDITED = 2 };
bool offsync_client_resolve(offsync_client* client, const char* mutation_id, int resolution, const char* edited_json,
                            offsync_error* error);

/* Binds the store to a user and keeps the tokens (Client::sign_in); refresh_token may be NULL. */
bool offsync_client_sign_in(offsync_client* client, const char* user, const char* access_token,
                            const char* refresh_token, offsync_error* error);
/* Wipes the user's data; returns how many unsent mutations were discarded (-1 on failure). */
int64_t offsync_client_sign_out(offsync_client* client, offsync_error* error);

/* A query as JSON (engine/client/query_json.h):
 *   {"collection": "notes", "where": [{"path": "course", "op": "==", "value": "math"}],
 *    "order": [{"path": "due", "desc": false}], "limit": 50, "after": {"id": ..., "fields": {...}}}
 * Returns a JSON array of {"id", "fields"}. */
char* offsync_client_query(offsync_client* client, const char* query_json, offsync_error* error);
int64_t offsync_client_count(offsync_client* client, const char* query_json, offsync_error* error);

/* A live query: result_json is the new result (as offsync_client_query returns it), change_json
 * {"added", "removed", "changed"} (record ids). Called on the client's notifier thread; the
 * strings are valid during the call only. */
typedef void (*offsync_query_fn)(void* context, const char* result_json, const char* change_json);
offsync_observer* offsync_client_watch(offsync_client* client, const char* query_json, offsync_query_fn callback,
                                       void* context, offsync_error* error);

/* The sync worker's news, each on the worker's thread (or offsync_client_sync's caller); NULL
 * members are not called. The JSON strings are valid during the call only. */
typedef struct offsync_sync_callbacks {
  void* context;
  void (*on_state)(void* context, const char* state, const char* reason);  /* "idle", "pushing", ... */
  void (*on_rejected)(void* context, const char* mutation_json);
  void (*on_conflict)(void* context, const char* mutation_json);
  void (*on_view_changed)(void* context, const char* records_json);  /* [["collection", "id"], ...] */
  /* After each batch pushed and each page read: step "push" (done of total mutations; total -1
   * when not known), "pull" or "refresh" (done changes read this round, total -1). */
  void (*on_progress)(void* context, const char* step, int64_t done, int64_t total);
} offsync_sync_callbacks;
offsync_observer* offsync_client_add_sync_observer(offsync_client* client, const offsync_sync_callbacks* callbacks,
                                                   offsync_error* error);

/* Removes an observer and frees its handle: afterwards it is not called again (a live query's
 * callback is not running either, unless this is called from inside it, which is allowed). NULL
 * is accepted. */
void offsync_observer_remove(offsync_observer* observer);

#ifdef __cplusplus
}
#endif

#endif /* OFFSYNC_OFFSYNC_H */
