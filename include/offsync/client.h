// offsync/client.h — the client half: a local store that every write lands in first, an optimistic
// view the app reads, the outbox of mutations waiting for the server, and the sync worker that
// drains it and pulls changes (ClientOptions::sync; engine/client/worker.cc and round.h).
//
// Threads: with SyncOptions::background, each Client runs one worker thread, started by open()
// and joined by the destructor (which waits for a round in progress, at most the transport's
// timeout). Observers and REST handlers run on that thread. While a round pushes, it also starts a
// short-lived helper thread per batch that only calls Transport::send (offsync/transport.h).
//
// Thread safety: a Client is safe for concurrent use from several threads without external
// synchronisation; calls are serialised on an internal lock. Two Client objects may open the same
// file (in one or several processes): SQLite's locking keeps them consistent, a write waiting at
// most ClientOptions::busy_timeout_ms for the other's transaction.
//
// Durability: every write is one SQLite transaction (view row + outbox row, + tombstone for a
// delete) and the call returns only after it committed; what a commit survives is
// ClientOptions::durability.
//
// Ownership: open() returns the sole owner of the Client. Records and mutations are returned by
// value. Handlers registered with register_handler() are kept until the Client is destroyed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "offsync/clock.h"
#include "offsync/durability.h"
#include "offsync/log.h"
#include "offsync/query.h"
#include "offsync/status.h"

namespace offsync {


// Persistent format (outbox.op): do not renumber.
enum class MutationOp { kUpsert = 0, kPatch = 1, kDelete = 2, kRequest = 3 };
// Persistent format (outbox.state): do not renumber.
enum class MutationState { kPending = 0, kInFlight = 1, kRejected = 2, kConflict = 3 };

std::string_view mutation_op_name(MutationOp op);        // "upsert", "patch", "delete", "request"
std::string_view mutation_state_name(MutationState s);   // "pending", "in_flight", ...

// One row of the outbox.
struct Mutation {
  std::string id;                           // ULID; also its Idempotency-Key
  std::string collection;                   // empty for a REST request
  std::string record_id;                    // for a REST request: its ordering key
  MutationOp op = MutationOp::kUpsert;
  nlohmann::json payload;                   // fields (upsert), merge patch (patch), null (delete),
                                            // the request (REST request)
  std::optional<std::string> base_hlc;      // the server HLC the edit started from; none: a create
  int attempts = 0;                         // sends begun; > 0 means frozen (never rewritten)
  MutationState state = MutationState::kPending;
  int64_t next_attempt_at_ms = 0;
  std::string last_error;                   // the server's message when rejected
  std::string error_code;                   // when rejected: the server's error code ("" if none)
  int http_status = 0;                      // when rejected by the server: its HTTP status
  std::vector<std::string> attachments;
  int64_t created_at_ms = 0;
  std::string module, action;               // REST requests only
  std::string idempotency_key;              // what it is sent with: its id, or a new key after keep-mine
  nlohmann::json server_record;             // in conflict: the server's record that came with the 409
  bool urgent = false;                      // its attachments upload even on a metered network
};

// A record as the app sees it: base with the pending mutations applied.
struct Record {
  std::string collection;
  std::string id;
  nlohmann::json fields;                    // a JSON object
};

// A local delete that the server has not acknowledged yet.
struct Tombstone {
  std::string collection;
  std::string record_id;
  int64_t deleted_at_ms = 0;
  std::string mutation_id;
};

struct OutboxSummary {
  int64_t pending = 0;                      // waiting to be sent or for their answer
  int64_t rejected = 0;
  int64_t conflicts = 0;
  std::optional<int64_t> oldest_pending_created_at_ms;
};

// A REST request for any HTTP API, queued in the outbox with its own idempotency key and sent by
// the sync worker when the network allows. Its outcome goes to the handler of (module, action).
struct RestRequest {
  std::string module;                       // the app module that owns the action
  std::string action;                       // e.g. "create_event"
  std::string method = "POST";              // GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS
  std::string url;                          // absolute http(s) URL, or a path starting with '/'
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;                         // UTF-8 text (binary data goes as an attachment)
  // Requests with the same ordering key are sent in order and a failed one holds back the later
  // ones; empty: the request is independent of every other.
  std::string ordering_key;
};

// The eventual outcome of a RestRequest.
struct RestOutcome {
  std::string mutation_id;                  // what enqueue_request() returned
  std::string module, action;
  nlohmann::json request;                   // the request as queued
  int status = 0;                           // HTTP status; 0 when no answer could ever be had
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string error;                        // why it failed, when it did
};

// Called with an outcome. Runs on the thread that recorded the outcome (the sync worker) or, for
// outcomes recorded before the handler existed (e.g. before a restart), on the thread calling
// register_handler(). Should not block (it holds up the worker); it may call the Client, whose
// store lock is not held while a handler runs. Delivery is at least once: an outcome is forgotten
// only after its handler returned (a crash in between delivers it again after the restart).
using RestHandler = std::function<void(const RestOutcome&)>;

// An attachment this store knows (docs/architecture.md, "Attachments").
enum class AttachmentState {
  kLocal,       // added here; its bytes wait to be uploaded
  kUploaded,    // added here and stored by the server (it answered 201)
  kRemote,      // listed by a server record; its bytes are fetched by download_attachment()
  kDownloaded,  // fetched, and its SHA-256 verified
};
std::string_view attachment_state_name(AttachmentState state);  // "local", "uploaded", ...

struct AttachmentInfo {
  std::string id;
  int64_t size = -1;           // -1 while unknown (a download not begun)
  std::string sha256;          // hex; empty while unknown
  std::string content_type;
  AttachmentState state = AttachmentState::kLocal;
  int64_t local_bytes = 0;     // bytes held here
  int64_t sent_bytes = 0;      // bytes the server holds, as it last said
  std::string last_error;      // why the last upload attempt failed, if it did
};

// Progress of one attachment's upload or download, after each chunk.
struct AttachmentProgress {
  std::string id;
  int64_t done = 0;            // bytes the server holds (upload) or that are here (download)
  int64_t total = 0;
  bool upload = true;
  bool complete = false;       // the last call for this transfer
};

// Options of one write.
struct WriteOptions {
  // Attachment ids (from add_attachment(), or listed by a server record) the record refers to:
  // replaces the record's list. The mutation is sent only once each one added here is uploaded.
  std::vector<std::string> attachments;
  // Upload this write's attachments even on a metered network.
  bool urgent = false;
};

class Transport;

// A registered observer or watched query; remove() takes it away. Copies share the registration.
// Destroying a handle does not remove anything (an observer added and forgotten stays until the
// Client goes). After remove() returns, the callback is not running and never runs again, unless
// remove() was called from that callback itself (then it ends normally). Safe to call more than
// once and after the Client was destroyed.
class ObserverHandle {
 public:
  ObserverHandle() = default;
  explicit ObserverHandle(std::function<void()> remove) : remove_(std::move(remove)) {}
  void remove();

 private:
  std::function<void()> remove_;
};

// Runs a task on a thread the app chooses (its UI loop, a pool). It may run it at once, on the
// calling thread, or later; it must run every task it was given, once.
using Executor = std::function<void(std::function<void()> task)>;

// A watched query's new result and what changed from the last one the callback heard.
using QueryCallback = std::function<void(const std::vector<Record>& result, const QueryChange& change)>;

// What the app knows of the network. The worker also learns from its own requests.
enum class Connectivity { kOnline, kOffline, kMetered };

enum class SyncState {
  kIdle,        // nothing to do, or waiting for a write, a timer or sync_now()
  kPushing,
  kPulling,
  kOffline,     // the app said so, or the last request got no answer; a probe is scheduled
  kBackingOff,  // transient failures: waiting until next_attempt_at_ms
  kPaused,      // 401 or 426: the whole queue waits for the app (sign in, upgrade)
};
std::string_view sync_state_name(SyncState state);

struct SyncStatus {
  SyncState state = SyncState::kIdle;
  int64_t next_attempt_at_ms = 0;  // when the worker tries again (0: when woken)
  std::string reason;              // why offline, backing off or paused
};

// How far a round has come (SyncObserver::on_progress): after each batch of the push and each page
// of a pull, so an app can show "sending 3,000 of 20,000" on a long drain or a full refresh.
struct SyncProgress {
  enum class Step { kPush, kPull, kRefresh };
  Step step = Step::kPush;
  int64_t done = 0;    // push: mutations sent this round; pull, refresh: changes read this round
  int64_t total = -1;  // push: what was pending when the push began; -1: not known (pulls)
};

// Told what the sync worker does. Every method runs on the sync worker's thread (or on the thread
// that called sync_once()), during the round; it must not block. It may call the Client's reads,
// writes and sync_now(), but not sync_once(), which would wait for the round that is calling it.
class SyncObserver {
 public:
  virtual ~SyncObserver() = default;
  // Records whose view changed by a pull, an acknowledgement or a revert.
  virtual void on_view_changed(const std::vector<std::pair<std::string, std::string>>& /*records*/) {}
  virtual void on_rejected(const Mutation& /*mutation*/) {}      // last_error holds the server's message
  virtual void on_conflict(const Mutation& /*mutation*/) {}      // server_record holds the server's record
  virtual void on_state(const SyncStatus& /*status*/) {}
  // After each chunk of an upload (on the worker's thread) or of a download (on the thread that
  // called download_attachment()).
  virtual void on_attachment_progress(const AttachmentProgress& /*progress*/) {}
  virtual void on_progress(const SyncProgress& /*progress*/) {}
};

// How the conflict of a mutation is settled.
enum class Resolution {
  kKeepMine,    // send my change again, based on the server's record (a new idempotency key)
  kTakeServer,  // drop my change; the server's record becomes what the app sees
  kEdited,      // send this edited record instead (an upsert based on the server's record)
};

// What a sign-in gave (POST /oauth/token): the worker sends access_token as a bearer token and,
// after a 401, redeems refresh_token (SyncOptions::oauth_client_id) without the app's help.
struct Credentials {
  std::string user;
  std::string access_token;
  std::string refresh_token;
};

struct SyncOptions {
  std::shared_ptr<Transport> transport;  // null: this client never syncs
  bool background = true;                // run the worker thread (false: only sync_once() syncs)
  std::string token;                     // Authorization: Bearer (sign_in() keeps one in the store instead)
  std::string oauth_client_id;           // with a refresh token: a 401 refreshes at POST /oauth/token
  std::string app_version, os_version, device;  // Offsync-App-Version, -OS-Version, -Device
  int batch_size = 1000;                 // mutations per POST /v1/mutations:batch (halved after a 413)
  int pull_limit = 1000;                 // changes per GET /v1/sync page
  int64_t backoff_base_ms = 1000;        // full jitter: uniform(0, min(cap, base * 2^(attempts-1)))
  int64_t backoff_cap_ms = 12LL * 3600 * 1000;
  int64_t pull_interval_ms = 0;          // > 0: also pull this often while online and idle
  int64_t attachment_chunk_bytes = 1 << 20;  // bytes per attachment PUT and per ranged GET
  // Server push (docs/protocol.md, "Waiting for changes"): while online, the worker keeps one
  // GET /v1/sync?wait=watch_wait_s open on a second connection and syncs as soon as it answers
  // with a change, so another device's write arrives without polling. 0: off.
  int64_t watch_wait_s = 25;
  // That second connection; null: transport->open_another() (none: no push, the worker pulls when
  // it syncs, and every pull_interval_ms).
  std::shared_ptr<Transport> watch_transport;
  // Called (on the watch's thread; must not block) when the server answers the watch with a change,
  // instead of waking the worker: a client whose rounds another thread drives (a relay's upstream
  // lane) learns that it should sync. With it, the watch runs even when `background` is off.
  std::function<void()> on_server_changes;
};

struct SyncReport {
  bool reached = false;        // the server answered at least once
  int64_t sent = 0, applied = 0, rejected = 0, conflicts = 0, transient = 0;
  int64_t pulled = 0;          // changes applied from the server
  int64_t attachments_uploaded = 0;
  int64_t attachments_waiting = 0;  // not uploaded at the end of the round (metered, failed, offline)
  bool full_refresh = false;   // the cursor had expired (410)
  bool paused = false;         // 401 or 426
  std::string pause_reason;
  int64_t transient_left = 0;  // mutations still pending after a transient failure, and
                               // attachments whose upload failed transiently
  bool pull_complete = false;  // the change log was read to its end
  std::string pull_failure;    // why the pull stopped short, when it did (and was not paused)
};

struct ClientOptions {
  // --- Behaviour ---
  std::string path;                         // the SQLite file; created if missing
  Durability durability = Durability::kFull;  // what an acknowledged write survives (durability.h)
  bool coalesce = true;                     // fold unsent mutations of one record (docs/architecture.md)
  std::set<std::string> no_coalesce;        // collections where every write is sent as written
  size_t max_payload_bytes = 1 << 20;       // a write whose JSON is larger is refused
  // Indexes over the view, kept by SQLite in the same transaction as each change (offsync/query.h).
  // A list (even empty): opening builds the ones not there yet and drops those no longer declared.
  // nullopt: the store's indexes stay as the app declared them (what the offsync command and the
  // bindings do when they open an app's store), full-text ones included.
  std::optional<std::vector<IndexSpec>> indexes;
  // --- Injection (tests, simulation); null means the system's ---
  const Clock* clock = nullptr;             // must outlive the Client
  RandomSource* random = nullptr;           // must outlive the Client
  std::string vfs;                          // a SQLite VFS the app registered (the simulation's
                                            // crash injection); empty: SQLite's default
  // --- Performance and limits ---
  int busy_timeout_ms = 5000;               // wait for another connection's write lock
  int64_t max_page_count = 0;               // > 0 caps the store's size in pages (a disk quota)
  int64_t max_attachment_bytes = 0;         // > 0: attachment bytes held here at most (a quota);
                                            // add_attachment() past it is kResourceExhausted
  int64_t attachment_grace_ms = 24LL * 3600 * 1000;  // an attachment no mutation or record lists is
                                                      // collected this long after it was added
  // --- Diagnostics ---
  LogSink log;                              // null: messages are dropped (offsync/log.h)
  // --- Sync ---
  SyncOptions sync;
};

class Client {
 public:
  struct Impl;

  // Opens or creates the store at options.path and brings its schema up to date. Mutations left
  // in flight by a previous process become pending again (same key, still frozen).
  static Result<std::unique_ptr<Client>> open(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // This store's client id (a ULID made when the store was created).
  const std::string& client_id() const;

  // ---- Writes. Each returns the ULID of the outbox mutation that carries it, after commit. ----
  // With coalescing a write may fold into an earlier unsent mutation of the same record, whose id
  // is then returned.
  struct Created {
    std::string record_id;
    std::string mutation_id;
  };
  // Replaces (or creates) the whole record. fields must be a JSON object.
  // A write that lists attachments (WriteOptions) is never folded into another.
  Result<std::string> put(const std::string& collection, const std::string& record_id,
                          const nlohmann::json& fields, const WriteOptions& write = {});
  // Creates a record whose id is a fresh ULID.
  Result<Created> create(const std::string& collection, const nlohmann::json& fields, const WriteOptions& write = {});
  // Applies a JSON merge patch (RFC 7396: null removes a field) to an existing record.
  Result<std::string> patch(const std::string& collection, const std::string& record_id,
                            const nlohmann::json& merge_patch, const WriteOptions& write = {});
  // Deletes a record, leaving a tombstone until the server acknowledges. Deleting a record that
  // was only created locally (never sent) leaves nothing to send.
  Result<std::string> remove(const std::string& collection, const std::string& record_id);

  // Several writes as one local transaction (transaction()): each call does what the Client's
  // call of the same name does, inside the one SQLite transaction; get() sees the earlier writes.
  class Transaction {
   public:
    Result<std::string> put(const std::string& collection, const std::string& record_id,
                            const nlohmann::json& fields, const WriteOptions& write = {});
    Result<Created> create(const std::string& collection, const nlohmann::json& fields, const WriteOptions& write = {});
    Result<std::string> patch(const std::string& collection, const std::string& record_id,
                              const nlohmann::json& merge_patch, const WriteOptions& write = {});
    Result<std::string> remove(const std::string& collection, const std::string& record_id);
    Result<Record> get(const std::string& collection, const std::string& record_id);

   private:
    friend class Client;
    explicit Transaction(Impl* impl) : impl_(impl) {}
    Impl* impl_;
  };
  // Runs body under the store lock in one SQLite transaction: its writes all land (view and
  // outbox) when it returns ok, none of them when it returns an error or throws (that error is
  // returned). The body must use only the Transaction: calling the Client from it would wait
  // for itself. Watched queries and the sync worker hear of it once, after it committed.
  Status transaction(const std::function<Status(Transaction&)>& body);

  // ---- Reads: the optimistic view. ----
  Result<Record> get(const std::string& collection, const std::string& record_id);
  Result<std::vector<Record>> list(const std::string& collection);
  // A query over one collection's records (offsync/query.h): kInvalidArgument names what is wrong
  // with it. count() ignores the query's order, limit and after().
  Result<std::vector<Record>> query(const Query& query);
  Result<int64_t> count(const Query& query);
  // How SQLite would run it: whether a declared index serves it.
  Result<QueryPlan> explain(const Query& query);
  // Watches a query: the callback hears its first result (every record "added"), then each new
  // result after any local write, pull, acknowledgement, revert or sign-out that changes it; never
  // an unchanged result. Changes arriving while it runs are coalesced into one more run. It runs
  // on `executor`, or when that is null on the Client's notifier thread (one per Client, started
  // by the first such watch); never under the store lock, never twice at once for one watch. It
  // may call the Client. Runs taking long hold back that thread's other watches.
  Result<ObserverHandle> watch(const Query& query, QueryCallback callback, Executor executor = nullptr);

  // ---- The outbox. ----
  // Every unacknowledged mutation, in ULID order (what the app shows as "not yet sent").
  Result<std::vector<Mutation>> outbox();
  Result<Mutation> mutation(const std::string& mutation_id);
  Result<OutboxSummary> summary();
  Result<std::vector<Tombstone>> tombstones();
  // Removes one mutation and recomputes its record's view from base + the remaining mutations.
  // Refused (kConflict) while the mutation is on the wire. A mutation that was sent before may
  // have been applied by the server; the next pull then brings its effect back.
  Status discard(const std::string& mutation_id);

  // ---- Attachments (docs/architecture.md, "Attachments"). No call holds a whole file in memory. ----
  // Copies the bytes (or the file, read a chunk at a time) into this store and returns a new id
  // to list in a write's WriteOptions. kResourceExhausted past ClientOptions::max_attachment_bytes
  // or when the store is full; nothing is kept then.
  Result<std::string> add_attachment(std::string_view bytes, const std::string& content_type);
  Result<std::string> add_attachment_file(const std::string& path, const std::string& content_type);
  // The same under a given id (a relay passing on what its local client uploaded), from pieces
  // handed over one at a time (an empty piece ends them). An id this store already has is kept as
  // it is. Returns the id.
  Result<std::string> add_attachment_as(const std::string& id, const std::string& content_type,
                                        const std::function<Result<std::string>()>& next_piece);
  Result<AttachmentInfo> attachment(const std::string& id);
  // The attachment ids of a record as the app sees it (the server's list, or a pending write's).
  Result<std::vector<std::string>> attachments_of(const std::string& collection, const std::string& record_id);
  // Fetches an attachment listed by a server record through the sync transport, on the calling
  // thread: ranged GETs of attachment_chunk_bytes, resumed from the bytes already here after any
  // failure or restart, its SHA-256 verified before it counts as downloaded (a mismatch discards
  // the bytes). kTransient when the server could not be reached; call again to resume.
  Status download_attachment(const std::string& id);
  // Bytes [offset, offset + length) of an attachment added here or downloaded (never of one whose
  // checksum is not verified).
  Result<std::string> read_attachment(const std::string& id, int64_t offset, int64_t length);
  // Writes a whole readable attachment to a file, a chunk at a time.
  Status export_attachment(const std::string& id, const std::string& path);
  // Removes attachments that no mutation and no record lists, added more than
  // attachment_grace_ms ago; returns how many. (The sync worker also does it after each round.)
  Result<int64_t> collect_attachments();

  // ---- Generic offline REST requests. ----
  // Queues a request; returns its ULID, which is also its Idempotency-Key.
  Result<std::string> enqueue_request(const RestRequest& request);
  // Sets the handler of (module, action), replacing any earlier one, then delivers to it every
  // stored outcome it has not received yet, in ULID order.
  Status register_handler(const std::string& module, const std::string& action, RestHandler handler);

  // ---- For a relay: a server half in front of this client (ServerOptions::upstream). ----
  // A mutation the relay applied for one of its own clients.
  struct Forwarded {
    std::string idempotency_key;  // the local client's: upstream applies it once by every route
    std::string collection, record_id;
    MutationOp op = MutationOp::kUpsert;
    nlohmann::json payload;
    std::vector<std::string> attachments;
    // When not empty: the payload as JSON text (an object), taken as it is; `payload` is ignored.
    std::string payload_text;
    // What the sender had seen, as the relay that applied it knows, so that upstream's rules judge
    // the write as if the sender had sent it there (an escalate field conflicts instead of being
    // overwritten). Without a base (a create, or a write over a record it never had) it goes up
    // without one. sender_view (null: unknown) is {"unseen": [names of fields it changes that
    // the relay changed after the sender's base], "seen": {name: [value] or [] when absent}}: when
    // a field is unseen, or this store's view of it no longer shows what the sender saw, the
    // mutation goes up based just before upstream's change of that field.
    bool sender_had_base = true;
    nlohmann::json sender_view;
  };
  // Queues them, in order and in one transaction, to go upstream under their own keys, each based
  // on this store's base (upstream's HLC, adjusted by what the sender had seen) and never folded
  // into another. One whose key is already
  // in the outbox is skipped. Returns how many were queued.
  Result<int64_t> forward(const std::vector<Forwarded>& batch);

  // ---- Driven by the sync worker (public so that an app's own loop can drive them too). ----
  // Marks a mutation as on the wire: attempts + 1, state in flight. From here on it is frozen.
  Status begin_send(const std::string& mutation_id);
  // The server applied the mutation; server_record is the record of its 200 answer (docs/protocol.md).
  // Removes it from the outbox, stores the record as base, purges the tombstone of a delete,
  // rebases later unsent mutations of the record and recomputes the record's view.
  Status acknowledge(const std::string& mutation_id, const nlohmann::json& server_record);
  // The server refused the mutation for good: state rejected, message (and the server's error
  // code and HTTP status, when known) kept, view recomputed without it. Later mutations of the
  // record wait until it is discarded.
  Status reject(const std::string& mutation_id, const std::string& message, const std::string& error_code = "",
                int http_status = 0);
  // No answer, or a transient one: back to pending with the same key, next attempt at the time.
  Status retry_later(const std::string& mutation_id, int64_t next_attempt_at_ms, const std::string& error);
  // Records the outcome of a REST request, removes it from the outbox, then delivers it.
  Status complete_request(const std::string& mutation_id, const RestOutcome& outcome);

  // ---- Sync (needs ClientOptions::sync.transport). ----
  // One push and pull round on the calling thread, ignoring backoff timers (an explicit request).
  // Not concurrent with the worker's rounds: it waits for one in progress.
  Result<SyncReport> sync_once();
  // Wakes the worker for a round now.
  void sync_now();
  // Waits until every mutation the outbox held when called has been acknowledged by the server
  // (the worker is woken to send them now). ok when they all were; kValidation or kConflict
  // naming the first one the server rejected or that is in conflict (it waits for the app);
  // kDeadlineExceeded after timeout_ms; kInvalidArgument at once when some remain and there is no
  // worker to send them (no transport, or SyncOptions::background off).
  Status wait_until_synced(int64_t timeout_ms);
  // Tells the worker what the network is; going online wakes it.
  void set_connectivity(Connectivity connectivity);
  // New credentials (after a 401): resumes a paused queue and wakes the worker.
  void set_token(const std::string& token);
  SyncStatus sync_status() const;
  // Observers are kept until removed (the handle) or the Client is destroyed.
  ObserverHandle add_observer(std::shared_ptr<SyncObserver> observer);
  // Settles a mutation in conflict. kEdited takes the edited record (a JSON object).
  Status resolve(const std::string& mutation_id, Resolution resolution, const nlohmann::json& edited = nullptr);
  // The opaque sync cursor and when it was stored (ms), if any.
  Result<std::optional<std::pair<std::string, int64_t>>> cursor();

  // ---- Auth (offline OAuth, docs/recipe-ipc.md). A store is bound to one user. ----
  // Keeps the user's tokens in the store and uses them from now on (also after a restart). A store
  // that holds another user's unsent mutations is refused (kConflict, naming how many): they must
  // never be sent under this identity; sign_out() first. Another user's synced data is wiped.
  Status sign_in(const Credentials& credentials);
  // Wipes every local record, the outbox (unsent mutations included), the cursor and the tokens,
  // leaving no trace of the user in the store; returns how many unsent mutations were discarded.
  Result<int64_t> sign_out();
  // The user this store is bound to, if any.
  Result<std::optional<std::string>> signed_in_user();

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace offsync
