// The server's store, as the engine sees it: records with their change-log positions, stored
// answers for idempotency, counters, cursor keys, OAuth, attachments and the relay's tables. No
// merge or protocol logic lives here. Implementations: SQLite (storage/sqlite_server_store.h, the
// embedded default).
//
// Thread safety: none; the Server serialises every call. Errors are thrown as exceptions of the
// implementation's database library and turned into Status by storage::guarded(), or classified by
// storage::store_fault() (storage/store_fault.h).
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "offsync/durability.h"
#include "offsync/status.h"
#include "storage/store.h"

namespace offsync::storage {

extern const std::vector<std::string_view> kServerMigrations;

struct StoredRecord {
  std::string collection;
  std::string record_id;
  nlohmann::json fields = nlohmann::json::object();
  nlohmann::json field_hlc = nlohmann::json::object();
  std::string hlc;
  bool deleted = false;
  nlohmann::json attachments = nlohmann::json::array();
  int64_t seq = 0;
  int64_t changed_at_ms = 0;
};

struct StoredAnswer {
  std::string fingerprint;
  int status = 0;
  std::string body;
  int64_t created_at_ms = 0;
};

struct CursorKey {
  uint32_t version = 0;
  std::string secret;
  bool retired = false;
};

struct ServerCounts {
  int64_t mutations_applied = 0;
  int64_t replays = 0;
  int64_t idempotency_keys = 0;
  int64_t changes = 0;      // entries in the change log (live records and tombstones)
  int64_t tombstones = 0;
  int64_t last_seq = 0;
  int64_t compacted_seq = 0;
};

// The page size of a server store created from now on. Its rows are large (a record's fields, and
// a stored answer holding the whole record): 8 KiB pages applied batches about a fifth faster than
// SQLite's 4 KiB default here (offsync-bench server-apply). Existing stores keep their page size.
constexpr int kServerPageSize = 8192;

class ServerStore {
 public:
  virtual ~ServerStore() = default;
  // The embedded default: a SQLite file (storage/sqlite_server_store.cc).
  static Result<std::unique_ptr<ServerStore>> open(const DatabaseOptions& options);
  // A PostgreSQL database (storage/pg_server_store.h); kInvalidArgument when built without it.
  static Result<std::unique_ptr<ServerStore>> open_postgres(const std::string& conninfo);

  // The meta table: small named values (node id, compaction mark, relay contact).
  virtual std::optional<std::string> meta(const std::string& key) = 0;
  virtual void set_meta(const std::string& key, const std::string& value) = 0;

  virtual std::optional<StoredAnswer> answer(const std::string& principal, const std::string& key) = 0;
  virtual void put_answer(const std::string& principal, const std::string& key, const StoredAnswer& answer) = 0;
  // Deletes answers created before the time; returns how many.
  virtual int64_t sweep_answers(int64_t created_before_ms) = 0;

  virtual std::optional<StoredRecord> record(const std::string& partition, const std::string& collection,
                                     const std::string& record_id) = 0;
  // Starts a write transaction (BEGIN IMMEDIATE). Change-log positions and counter increments of
  // the transaction are kept in memory and written once by commit(); rollback() forgets them.
  virtual void begin() = 0;
  // Across every process sharing the store: claims each (principal, key) for the write transaction
  // begun next by begin(), until that transaction ends, and returns the positions in `keys` of
  // those another process's transaction holds (the in-flight rule: 409 request_in_progress). Call
  // it just before begin(), or end with rollback() without beginning. A store one process owns
  // (SQLite) claims nothing here: the Server's own claims cover its requests.
  virtual std::vector<size_t> claim_keys(const std::string& principal, const std::vector<std::string>& keys) {
    (void)principal;
    (void)keys;
    return {};
  }
  virtual void commit() = 0;
  virtual void rollback() noexcept = 0;
  // A nested atomic step inside the transaction (SQL savepoints); rolling back also restores the
  // sequence and counters kept in memory until commit. One level deep.
  virtual void savepoint() = 0;
  virtual void release_savepoint() = 0;
  virtual void rollback_to_savepoint() = 0;

  // Hands out the next change-log position (inside a transaction begun with begin()).
  virtual int64_t next_seq() = 0;
  // The *_text arguments are record.fields, record.field_hlc and record.attachments serialised.
  virtual void put_record(const std::string& partition, const StoredRecord& record, const std::string& fields_text,
                  const std::string& field_hlc_text, const std::string& attachments_text) = 0;
  // Up to `limit` records of the partition whose seq is above `after`, in seq order, with their JSON
  // columns left as stored text (the record's JSON members stay empty).
  struct RecordText {
    StoredRecord record;
    std::string fields, field_hlc, attachments;
  };
  virtual std::vector<RecordText> changes_after_text(const std::string& partition, int64_t after, int64_t limit) = 0;
  // Removes tombstones last changed before the time.
  struct Purge {
    int64_t removed = 0;
    int64_t max_seq = 0;  // the highest change-log position removed (0: none)
  };
  virtual Purge purge_tombstones(int64_t changed_before_ms) = 0;
  // The newest HLC stored, to seed the clock after a restart.
  virtual std::optional<std::string> max_hlc() = 0;

  enum class Counter { kMutationsApplied, kReplays };
  // Adds to a counter when the transaction commits.
  virtual void bump(Counter counter) = 0;
  virtual ServerCounts counts() = 0;

  // ---- OAuth (storage/server_oauth_store.cc) ----
  struct OAuthCode {
    std::string client_id, redirect_uri, code_challenge, principal;
    int64_t expires_at_ms = 0;
    bool used = false;
  };
  struct OAuthToken {
    int kind = 0;  // 0 access, 1 refresh (persistent format)
    std::string client_id, principal, family;
    int64_t expires_at_ms = 0;
    bool revoked = false;
  };
  virtual void put_oauth_client(const std::string& client_id, const std::vector<std::string>& redirect_uris) = 0;
  virtual std::optional<std::vector<std::string>> oauth_client(const std::string& client_id) = 0;
  virtual void put_oauth_code(const std::string& code_hash, const OAuthCode& code) = 0;
  virtual std::optional<OAuthCode> oauth_code(const std::string& code_hash) = 0;
  virtual void use_oauth_code(const std::string& code_hash) = 0;
  virtual void put_oauth_token(const std::string& token_hash, const OAuthToken& token) = 0;
  virtual std::optional<OAuthToken> oauth_token(const std::string& token_hash) = 0;
  virtual void revoke_oauth_token(const std::string& token_hash) = 0;
  virtual void revoke_oauth_family(const std::string& family) = 0;

  // ---- Attachments (storage/server_attachment_store.cc) ----
  struct Attachment {
    std::string id;
    int64_t size = 0;
    std::string sha256;  // hex
    std::string content_type;
    int64_t received = 0;
    bool complete = false;
    int64_t created_at_ms = 0, updated_at_ms = 0;
    bool referenced = false;
  };
  virtual std::optional<Attachment> attachment(const std::string& principal, const std::string& id) = 0;
  virtual void put_attachment(const std::string& principal, const Attachment& a) = 0;
  virtual void delete_attachment(const std::string& principal, const std::string& id) = 0;
  // Bytes declared by every attachment and session held: what a quota counts.
  virtual int64_t attachment_bytes() = 0;
  // Marks attachments as listed by an applied mutation; returns the ids that are not complete
  // (unknown, or still uploading), marking none when there is any.
  std::vector<std::string> reference_attachments(const std::string& principal, const std::vector<std::string>& ids);
  // Marks one attachment as listed by an applied mutation (reference_attachments' write).
  virtual void mark_referenced(const std::string& principal, const std::string& id) = 0;
  // Up to `limit` (principal, id) to collect: sessions not touched since `stale_before_ms`, and
  // complete attachments no mutation listed, completed before `unreferenced_before_ms`.
  virtual std::vector<std::pair<std::string, std::string>> collectable_attachments(int64_t stale_before_ms,
                                                                           int64_t unreferenced_before_ms, int limit) = 0;
  // Chunk rows (the bytes when the store holds them).
  virtual void put_chunk(const std::string& principal, const std::string& id, int64_t offset, std::string_view bytes) = 0;
  // Bytes [offset, offset + length) from the chunk rows (fewer when the rows end sooner).
  virtual std::string read_chunks(const std::string& principal, const std::string& id, int64_t offset, int64_t length) = 0;
  virtual void delete_chunks(const std::string& principal, const std::string& id) = 0;

  // ---- The relay's hand-over (storage/server_relay_store.cc) ----
  struct Forward {
    int64_t seq = 0;
    std::string principal, key, mutation;
    int64_t created_at_ms = 0;
  };
  virtual void put_forward(const std::string& principal, const std::string& key, const std::string& collection,
                   const std::string& record_id, const std::string& mutation, int64_t now_ms) = 0;
  // Whether a mutation of the record waits to be handed over.
  virtual bool has_forward_for(const std::string& principal, const std::string& collection, const std::string& record_id) = 0;
  virtual bool has_forwards() = 0;
  virtual std::vector<Forward> forwards(const std::string& principal, int limit) = 0;  // the oldest first
  virtual void delete_forwards_through(const std::string& principal, int64_t seq) = 0;  // its rows up to seq
  virtual int64_t forward_count() = 0;
  virtual void put_relay_sender(const std::string& principal, const std::string& key, const std::string& sender,
                        int64_t now_ms) = 0;
  virtual std::string relay_sender(const std::string& principal, const std::string& key) = 0;  // "" when unknown
  virtual void put_relay_outcome(const std::string& principal, int64_t seq, const std::string& mutation,
                         const std::string& sender, const std::string& outcome, int64_t now_ms) = 0;
  // Whether a live record of the principal lists the attachment.
  virtual bool lists_attachment(const std::string& principal, const std::string& id) = 0;
  // Senders and outcomes stored before the time (with the stored answers); returns how many went.
  virtual int64_t sweep_relay(int64_t created_before_ms) = 0;
  struct RelayIdentity {
    std::string principal, upstream_user, access_token, refresh_token;
    int64_t version = 0, applied_version = 0;
    std::string error;
  };
  // New credentials for the principal's upstream identity (a newer version for the relay to take).
  virtual void put_relay_identity(const std::string& principal, const std::string& upstream_user,
                          const std::string& access_token, const std::string& refresh_token) = 0;
  virtual std::vector<RelayIdentity> relay_identities() = 0;
  // The relay took that version (error: why it could not), and its tokens are blanked here.
  virtual void relay_identity_applied(const std::string& principal, int64_t version, const std::string& error) = 0;
  // The outcomes for that sender with seq in (after, upto], in seq order, as stored JSON text.
  virtual std::vector<std::pair<int64_t, std::string>> relay_outcomes(const std::string& principal, const std::string& sender,
                                                              int64_t after, int64_t upto) = 0;

  virtual std::vector<CursorKey> cursor_keys() = 0;
  virtual void add_cursor_key(const CursorKey& key) = 0;
  virtual void retire_cursor_keys_below(uint32_t version) = 0;
};

// begin() on construction; rollback() on destruction unless commit() succeeded.
class ServerTransaction {
 public:
  explicit ServerTransaction(ServerStore& store) : store_(store) { store_.begin(); }
  // Claims the principal's idempotency keys first (ServerStore::claim_keys); begins unless every
  // key is held by another process (then there is nothing to do but answer 409).
  ServerTransaction(ServerStore& store, const std::string& principal, const std::vector<std::string>& keys)
      : store_(store), begun_(false) {
    held_elsewhere_ = store_.claim_keys(principal, keys);
    if (keys.empty() || held_elsewhere_.size() < keys.size()) {
      store_.begin();
      begun_ = true;
    }
  }
  ~ServerTransaction() {
    if (!done_) store_.rollback();
  }
  ServerTransaction(const ServerTransaction&) = delete;
  ServerTransaction& operator=(const ServerTransaction&) = delete;
  void commit() {
    if (begun_) {
      store_.commit();
    } else {
      store_.rollback();
    }
    done_ = true;
  }
  // Positions of the keys another process holds (see ServerStore::claim_keys).
  const std::vector<size_t>& held_elsewhere() const { return held_elsewhere_; }

 private:
  ServerStore& store_;
  bool done_ = false;
  bool begun_ = true;
  std::vector<size_t> held_elsewhere_;
};

}  // namespace offsync::storage
