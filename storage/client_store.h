// The client's SQLite store: the tables of docs/architecture.md behind typed operations with prepared
// statements. No sync logic lives here: engine/client decides, this reads and writes rows.
//
// Thread safety: none; the Client serialises every call. Errors are thrown as SQLite::Exception
// (or nlohmann::json::exception for a damaged JSON column); the Client turns them into Status
// with storage::guarded().
#pragma once

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <functional>
#include <list>
#include <memory>
#include <set>
#include <unordered_map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "offsync/client.h"
#include "storage/client_query.h"
#include "storage/sqlite_db.h"

namespace offsync::storage {

// The client store's migrations, in order (storage/migrations/client/*.sql).
extern const std::vector<std::string_view> kClientMigrations;

struct BaseRecord {
  nlohmann::json fields;     // object
  std::string hlc;
  nlohmann::json field_hlc;  // object
  bool deleted = false;
};

// A base record as JSON text, as the server sent it: stored without a parse and a second dump.
// The caller vouches that fields and field_hlc are JSON objects (engine/common/json_text.h).
struct BaseText {
  std::string fields = "{}";
  std::string hlc;
  std::string field_hlc = "{}";
  bool deleted = false;
  std::string attachments = "[]";  // JSON array of attachment ids
};

// The outbox summary: its query, and its row read.
extern const char* const kOutboxSummarySql;
OutboxSummary read_outbox_summary(SQLite::Statement& s);
// The outbox summary of a client store at `path`, read without changing anything (another process
// may be using it); nullopt when there is no such store.
std::optional<OutboxSummary> peek_outbox(const std::string& path);

class ClientStore : public SqliteStore {
 public:
  // Opens the database and migrates it to schema `up_to` (default: the newest).
  static Result<std::unique_ptr<ClientStore>> open(const DatabaseOptions& options,
                                                   size_t up_to = SIZE_MAX);

  std::optional<BaseRecord> base(const std::string& collection, const std::string& record_id);
  // The same row as stored (JSON text, attachments included), to be written back unparsed.
  std::optional<BaseText> base_text(const std::string& collection, const std::string& record_id);
  void put_base(const std::string& collection, const std::string& record_id, const BaseRecord& row);
  void put_base_text(const std::string& collection, const std::string& record_id, const BaseText& row);
  // The base record's HLC alone, without parsing its JSON.
  std::optional<std::string> base_hlc(const std::string& collection, const std::string& record_id);

  std::optional<nlohmann::json> view(const std::string& collection, const std::string& record_id);
  // Writes fields as the view row, or removes the row when fields is nullopt (record absent).
  // Returns whether the row changed.
  bool set_view(const std::string& collection, const std::string& record_id,
                const std::optional<nlohmann::json>& fields);
  // Writes an already serialised JSON object as the view row (the hot path of put()).
  bool set_view_text(const std::string& collection, const std::string& record_id, const std::string& fields);
  std::vector<Record> list_view(const std::string& collection);
  // Collections whose view rows were written since the last call (`all`: a wipe touched every
  // one); false when none. For the watched queries.
  bool take_touched(std::set<std::string>* collections, bool* all);

  // ---- storage/client_outbox_progress.cc ----
  // What the server said of a rejected mutation, besides its message.
  void set_rejection(const std::string& id, const std::string& error_code, int http_status);
  struct OutboxProgress {
    int64_t waiting = 0;                   // pending or in flight, up to the id
    std::optional<Mutation> stuck;         // the first rejected or in conflict, up to the id
  };
  OutboxProgress outbox_progress(const std::string& up_to_id);

  // ---- storage/client_query_store.cc: queries (storage/client_query.h) ----
  std::vector<Record> query_view(const std::string& collection, const QuerySql& query);
  int64_t count_view(const QuerySql& query);
  QueryPlan explain_view(const QuerySql& query);
  // Builds the declared indexes not there yet and drops those no longer declared, in one transaction.
  Status apply_indexes(const std::vector<IndexSpec>& indexes);
  // The declarations of the indexes the store holds (for a Client opened without its own).
  std::vector<IndexSpec> declared_indexes();

  // payload_text, when given, is m.payload already serialised (saves a second dump on the hot path).
  void insert_mutation(const Mutation& m, const std::string* payload_text = nullptr);
  // Rewrites op and payload of an unsent mutation (coalescing).
  void update_mutation_payload(const std::string& id, MutationOp op, const std::string& payload_text);
  void update_mutation_state(const std::string& id, MutationState state, int attempts,
                             int64_t next_attempt_at_ms, const std::string& last_error);
  // An unsent mutation starts from hlc, unless its base is pinned.
  void rebase_unsent_mutation(const std::string& id, const std::string& hlc);
  // Keeps the mutation's base as it is through rebase_unsent (a keep-mine renew unpins it).
  void pin_base(const std::string& id);
  // keep_high_water false: the caller raises the id high-water mark itself (once per batch).
  void delete_mutation(const std::string& id, bool keep_high_water = true);
  std::optional<Mutation> mutation(const std::string& id);
  // The record's mutations in ULID order.
  std::vector<Mutation> mutations_of(const std::string& collection, const std::string& record_id);
  std::optional<Mutation> last_mutation_of(const std::string& collection, const std::string& record_id);
  std::vector<Mutation> all_mutations();
  // The outbox without payloads, in ULID order: what the sync worker plans a round with.
  struct Head {
    std::string id;
    std::string collection;
    std::string record_id;
    MutationOp op;
    MutationState state;
    int64_t next_attempt_at_ms;
    bool waiting_for_attachments = false;  // an attachment it lists is not uploaded yet
  };
  // Calls visit with each mutation in ULID order, holding none in memory, until visit returns false.
  void for_each_head(const std::function<bool(const Head&)>& visit);
  // The earliest next_attempt_at of a pending mutation after `now_ms`, if any.
  std::optional<int64_t> next_attempt_after(int64_t now_ms);
  OutboxSummary summary();
  // In-flight mutations left by a process that died become pending (they stay frozen).
  void requeue_in_flight();
  // ---- storage/client_auth_store.cc ----
  // Unacknowledged mutations in the outbox (pending, in flight, rejected or in conflict).
  int64_t unsent_count();
  // Deletes every record, view row, mutation, tombstone, request outcome and the sync and auth
  // metadata, in the caller's transaction (the client id stays).
  void wipe_user_data();
  // Rewrites the file without the deleted pages and empties the WAL, so that no deleted row can be
  // read from the files afterwards. Outside any transaction.
  void compact_files();

  // The greatest mutation id in the outbox, if any.
  // The newest mutation id this store issued that it knows of: the outbox's, or the high-water
  // mark of those that left it.
  std::optional<std::string> newest_mutation_id();
  // Keeps id as the high-water mark when it is above it.
  void raise_id_high_water(const std::string& id);
  // What a canonical ULID looks like to SQLite's GLOB: 26 Crockford base-32 characters, the first
  // at most 7 (48 bits of time).
  static constexpr std::string_view kUlidGlob =
      "[0-7][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z]"
      "[0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z]"
      "[0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z]"
      "[0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z]"
      "[0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z]";
  // attempts + 1, state in flight.
  void mark_sending(const std::string& id);
  // The same for many mutations at once, returning them in ULID order with each payload as the
  // stored JSON text (left unparsed in the Mutation): what the sync worker sends. Ids no longer in
  // the outbox are skipped.
  std::vector<std::pair<Mutation, std::string>> begin_sending(const std::vector<std::string>& ids);
  // Undoes begin_sending for a mutation whose request never left: attempts - 1, pending again.
  void unmark_sending(const std::string& id);
  void set_conflict(const std::string& id, const std::string& message, const nlohmann::json& server_record);
  // Whether a mutation sent (or to be sent) with this Idempotency-Key is in the outbox.
  bool has_idempotency_key(const std::string& key);
  void set_idempotency_key(const std::string& id, const std::string& key);
  // A resolved conflict sent again: new key, new base, pending and unsent, in the same place.
  void renew(const std::string& id, const std::string& new_key, const std::optional<std::string>& base_hlc,
             MutationOp op, const nlohmann::json& payload);

  // Full refresh: fill base_incoming, then swap it into base in the caller's transaction.
  void clear_incoming();
  void put_incoming(const std::string& collection, const std::string& record_id, const BaseText& row);
  void swap_in_incoming();
  // Every record the view may have to show: in base, in the outbox, or in the view now.
  std::vector<std::pair<std::string, std::string>> all_record_keys();

  void insert_tombstone(const Tombstone& t);
  void delete_tombstone(const std::string& mutation_id);
  std::vector<Tombstone> tombstones();

  void insert_outcome(const RestOutcome& outcome, int64_t completed_at_ms);
  void delete_outcome(const std::string& mutation_id);
  std::vector<RestOutcome> outcomes_for(const std::string& module, const std::string& action);

  // ---- Attachments (storage/client_attachment_store.cc) ----
  // Persistent format (attachments.state): do not renumber.
  enum class AttachmentState { kLocal = 0, kUploaded = 1, kRemote = 2, kDownloaded = 3 };
  struct AttachmentRow {
    std::string id;
    int64_t size = -1;
    std::string sha256;
    std::string content_type;
    AttachmentState state = AttachmentState::kLocal;
    int64_t local_bytes = 0, sent_bytes = 0;
    int failures = 0;
    int64_t next_attempt_at_ms = 0;
    std::string last_error;
    int64_t created_at_ms = 0;
  };
  std::optional<AttachmentRow> attachment(const std::string& id);
  void put_attachment(const AttachmentRow& row);
  // The row and its bytes.
  void delete_attachment(const std::string& id);
  void put_attachment_chunk(const std::string& id, int64_t offset, std::string_view bytes);
  // Bytes [offset, offset + length), fewer when the stored bytes end sooner.
  std::string read_attachment_chunks(const std::string& id, int64_t offset, int64_t length);
  void delete_attachment_chunks(const std::string& id);
  // Bytes held in attachment_chunks: what the attachment quota counts.
  int64_t attachment_bytes();
  // Attachments that pending mutations list and that are not uploaded, in the order of the first
  // mutation listing each, with whether an urgent mutation lists it; at most `limit`.
  struct Upload {
    std::string id;
    bool urgent = false;
  };
  std::vector<Upload> attachments_to_upload(int limit);
  int64_t count_attachments_to_upload();
  // Pending or in-flight mutations that list the attachment.
  std::vector<std::string> mutations_listing(const std::string& attachment_id);
  // Attachments created before the time that no mutation and no base record lists: to collect.
  std::vector<std::string> unreferenced_attachments(int64_t created_before_ms, int limit);
  // The attachment ids of a record's base (server) version, JSON text.
  std::string base_attachments(const std::string& collection, const std::string& record_id);

 private:
  explicit ClientStore(std::unique_ptr<SQLite::Database> db);
  // payload_text, when given, receives the payload's stored text and m.payload stays null.
  Mutation read_mutation(SQLite::Statement& s, std::string* payload_text = nullptr);

  // A query's prepared statement, the most recently used kQueryStatements kept.
  SQLite::Statement& query_statement(const std::string& sql);
  static constexpr size_t kQueryStatements = 32;
  std::list<std::pair<std::string, std::unique_ptr<SQLite::Statement>>> query_statements_;
  std::set<std::string> touched_;
  bool touched_all_ = false;

  // Hot-path statements, prepared once.
  SQLite::Statement get_base_, get_view_, set_view_, delete_view_, insert_mutation_,
      last_mutation_of_, insert_tombstone_, mark_sending_, mark_many_sending_, read_many_;
};

}  // namespace offsync::storage
