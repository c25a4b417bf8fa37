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
 * This is the first part of the C ABI (issue 15): clients (open, writes, reads, outbox, sync) and
 * the server half in process (open, the byte handler). Observers, attachments, auth, the relay and
 * the transport callback come next.
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
void offsync_server_free(offsync_server* server);
/* One serialized HTTP/1.1 request in, one serialized response out (*response_size bytes, not
 * NUL-terminated; free with offsync_string_free). What an Android Binder onTransact or an iOS XPC
 * handler calls (docs/recipe-ipc.md). Never fails: bad bytes are answered 400. */
char* offsync_server_handle_bytes(offsync_server* server, const uint8_t* request, size_t request_size,
                                  size_t* response_size);

/* ---- Clients ---- */
typedef struct offsync_client offsync_client;

typedef struct offsync_client_options {
  const char* path;                 /* the client's SQLite file (required) */
  const char* server_url;           /* sync over HTTP(S) to this server (libcurl); or NULL */
  const char* unix_socket;          /* with server_url: connect through this Unix socket; or NULL */
  offsync_server* in_process_server;/* or: sync with this server in the same process; or NULL */
  bool background;                  /* run the sync worker thread (else only offsync_client_sync syncs) */
  bool durability_normal;           /* false: every write survives power loss (fsync); true: a crash */
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
/* Waits until every mutation queued before the call is acknowledged (see Client::wait_until_synced). */
bool offsync_client_wait_until_synced(offsync_client* client, int64_t timeout_ms, offsync_error* error);

#ifdef __cplusplus
}
#endif

#endif /* OFFSYNC_OFFSYNC_H */
