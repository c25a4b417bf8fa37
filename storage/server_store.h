// The server's SQLite store: records with their change-log positions, stored answers for
// idempotency, counters and cursor keys. No merge or protocol logic lives here.
//
// Thread safety: none; the Server serialises every call. Errors are thrown as SQLite::Exception
// and turned into Status by the caller with storage::guarded().
#pragma once

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/sqlite_db.h"

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

class ServerStore : public SqliteStore {
 public:
  static Result<std::unique_ptr<ServerStore>> open(const DatabaseOptions& options);
  std::optional<StoredAnswer> answer(const std::string& principal, const std::string& key);
  void put_answer(const std::string& principal, const std::string& key, const StoredAnswer& answer);
  // Deletes answers created before the time; returns how many.
  int64_t sweep_answers(int64_t created_before_ms);

  std::optional<StoredRecord> record(const std::string& partition, const std::string& collection,
                                     const std::string& record_id);
  // Starts a write transaction (BEGIN IMMEDIATE). Change-log positions and counter increments of
  // the transaction are kept in memory and written once by commit(); rollback() forgets them.
  void begin();
  void commit();
  void rollback() noexcept;
  // A nested atomic step inside the transaction (SQL savepoints); rolling back also restores the
  // sequence and counters kept in memory until commit. One level deep.
  void savepoint();
  void release_savepoint();
  void rollback_to_savepoint();

  // Hands out the next change-log position (inside a transaction begun with begin()).
  int64_t next_seq();
  // The *_text arguments are record.fields, record.field_hlc and record.attachments serialised.
  void put_record(const std::string& partition, const StoredRecord& record, const std::string& fields_text,
                  const std::string& field_hlc_text, const std::string& attachments_text);
  // Up to `limit` records of the partition whose seq is above `after`, in seq order, with their JSON
  // columns left as stored text (the record's JSON members stay empty).
  struct RecordText {
    StoredRecord record;
    std::string fields, field_hlc, attachments;
  };
  std::vector<RecordText> changes_after_text(const std::string& partition, int64_t after, int64_t limit);
  // Removes tombstones last changed before the time.
  struct Purge {
    int64_t removed = 0;
    int64_t max_seq = 0;  // the highest change-log position removed (0: none)
  };
  Purge purge_tombstones(int64_t changed_before_ms);
  // The newest HLC stored, to seed the clock after a restart.
  std::optional<std::string> max_hlc();

  enum class Counter { kMutationsApplied, kReplays };
  // Adds to a counter when the transaction commits.
  void bump(Counter counter) { ++(counter == Counter::kReplays ? replays_ : applied_); }
  ServerCounts counts();

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
  void put_oauth_client(const std::string& client_id, const std::vector<std::string>& redirect_uris);
  std::optional<std::vector<std::string>> oauth_client(const std::string& client_id);
  void put_oauth_code(const std::string& code_hash, const OAuthCode& code);
  std::optional<OAuthCode> oauth_code(const std::string& code_hash);
  void use_oauth_code(const std::string& code_hash);
  void put_oauth_token(const std::string& token_hash, const OAuthToken& token);
  std::optional<OAuthToken> oauth_token(const std::string& token_hash);
  void revoke_oauth_token(const std::string& token_hash);
  void revoke_oauth_family(const std::string& family);

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
  std::optional<Attachment> attachment(const std::string& principal, const std::string& id);
  void put_attachment(const std::string& principal, const Attachment& a);
  void delete_attachment(const std::string& principal, const std::string& id);
  // Bytes declared by every attachment and session held: what a quota counts.
  int64_t attachment_bytes();
  // Marks attachments as listed by an applied mutation; returns the ids that are not complete
  // (unknown, or still uploading), marking none when there is any.
  std::vector<std::string> reference_attachments(const std::string& principal, const std::vector<std::string>& ids);
  // Up to `limit` (principal, id) to collect: sessions not touched since `stale_before_ms`, and
  // complete attachments no mutation listed, completed before `unreferenced_before_ms`.
  std::vector<std::pair<std::string, std::string>> collectable_attachments(int64_t stale_before_ms,
                                                                           int64_t unreferenced_before_ms, int limit);
  // Chunk rows (the bytes when the store holds them).
  void put_chunk(const std::string& principal, const std::string& id, int64_t offset, std::string_view bytes);
  // Bytes [offset, offset + length) from the chunk rows (fewer when the rows end sooner).
  std::string read_chunks(const std::string& principal, const std::string& id, int64_t offset, int64_t length);
  void delete_chunks(const std::string& principal, const std::string& id);

  // ---- The relay's hand-over (storage/server_relay_store.cc) ----
  struct Forward {
    int64_t seq = 0;
    std::string principal, key, mutation;
    int64_t created_at_ms = 0;
  };
  void put_forward(const std::string& principal, const std::string& key, const std::string& collection,
                   const std::string& record_id, const std::string& mutation, int64_t now_ms);
  // Whether a mutation of the record waits to be handed over.
  bool has_forward_for(const std::string& principal, const std::string& collection, const std::string& record_id);
  bool has_forwards();
  std::vector<Forward> forwards(const std::string& principal, int limit);  // the oldest first
  void delete_forwards_through(const std::string& principal, int64_t seq);  // its rows up to seq
  int64_t forward_count();
  void put_relay_sender(const std::string& principal, const std::string& key, const std::string& sender,
                        int64_t now_ms);
  std::string relay_sender(const std::string& principal, const std::string& key);  // "" when unknown
  void put_relay_outcome(const std::string& principal, int64_t seq, const std::string& mutation,
                         const std::string& sender, const std::string& outcome, int64_t now_ms);
  // Whether a live record of the principal lists the attachment.
  bool lists_attachment(const std::string& principal, const std::string& id);
  // Senders and outcomes stored before the time (with the stored answers); returns how many went.
  int64_t sweep_relay(int64_t created_before_ms);
  struct RelayIdentity {
    std::string principal, upstream_user, access_token, refresh_token;
    int64_t version = 0, applied_version = 0;
    std::string error;
  };
  // New credentials for the principal's upstream identity (a newer version for the relay to take).
  void put_relay_identity(const std::string& principal, const std::string& upstream_user,
                          const std::string& access_token, const std::string& refresh_token);
  std::vector<RelayIdentity> relay_identities();
  // The relay took that version (error: why it could not), and its tokens are blanked here.
  void relay_identity_applied(const std::string& principal, int64_t version, const std::string& error);
  // The outcomes for that sender with seq in (after, upto], in seq order, as stored JSON text.
  std::vector<std::pair<int64_t, std::string>> relay_outcomes(const std::string& principal, const std::string& sender,
                                                              int64_t after, int64_t upto);

  std::vector<CursorKey> cursor_keys();
  void add_cursor_key(const CursorKey& key);
  void retire_cursor_keys_below(uint32_t version);

 private:
  explicit ServerStore(std::unique_ptr<SQLite::Database> db);
  StoredRecord read_record(SQLite::Statement& s);

  SQLite::Statement get_answer_, put_answer_, get_record_, put_record_, read_seq_, write_seq_, bump_, begin_,
      commit_, rollback_, savepoint_, release_, rollback_to_;
  // Pending in the open transaction.
  bool in_transaction_ = false;
  int64_t seq_ = 0;
  int64_t applied_ = 0, replays_ = 0;
  struct Mark {
    int64_t seq, applied, replays;
  } mark_{};  // at the last savepoint
};

// begin() on construction; rollback() on destruction unless commit() succeeded.
class ServerTransaction {
 public:
  explicit ServerTransaction(ServerStore& store) : store_(store) { store_.begin(); }
  ~ServerTransaction() {
    if (!done_) store_.rollback();
  }
  ServerTransaction(const ServerTransaction&) = delete;
  ServerTransaction& operator=(const ServerTransaction&) = delete;
  void commit() {
    store_.commit();
    done_ = true;
  }

 private:
  ServerStore& store_;
  bool done_ = false;
};

}  // namespace offsync::storage
