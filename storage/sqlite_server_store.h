// The server's store on SQLite (storage/server_store.h): the embedded default. One file, WAL
// journal; a second process (`offsync admin`) may open it beside a running server.
#pragma once

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include "storage/server_store.h"
#include "storage/sqlite_db.h"

namespace offsync::storage {

class SqliteServerStore final : public ServerStore, public SqliteStore {
 public:
  static Result<std::unique_ptr<SqliteServerStore>> open_sqlite(const DatabaseOptions& options);

  std::optional<std::string> meta(const std::string& key) override { return SqliteStore::meta(key); }
  void set_meta(const std::string& key, const std::string& value) override { SqliteStore::set_meta(key, value); }
  std::optional<StoredAnswer> answer(const std::string& principal, const std::string& key) override;
  void put_answer(const std::string& principal, const std::string& key, const StoredAnswer& answer) override;
  int64_t sweep_answers(int64_t created_before_ms) override;
  std::optional<StoredRecord> record(const std::string& partition, const std::string& collection,
                                     const std::string& record_id) override;
  void begin() override;
  void commit() override;
  void rollback() noexcept override;
  void savepoint() override;
  void release_savepoint() override;
  void rollback_to_savepoint() override;
  int64_t next_seq() override;
  void put_record(const std::string& partition, const StoredRecord& record, const std::string& fields_text,
                  const std::string& field_hlc_text, const std::string& attachments_text) override;
  std::vector<RecordText> changes_after_text(const std::string& partition, int64_t after, int64_t limit) override;
  Purge purge_tombstones(int64_t changed_before_ms) override;
  std::optional<std::string> max_hlc() override;
  ServerCounts counts() override;
  void put_oauth_client(const std::string& client_id, const std::vector<std::string>& redirect_uris) override;
  std::optional<std::vector<std::string>> oauth_client(const std::string& client_id) override;
  void put_oauth_code(const std::string& code_hash, const OAuthCode& code) override;
  std::optional<OAuthCode> oauth_code(const std::string& code_hash) override;
  void use_oauth_code(const std::string& code_hash) override;
  void put_oauth_token(const std::string& token_hash, const OAuthToken& token) override;
  std::optional<OAuthToken> oauth_token(const std::string& token_hash) override;
  void revoke_oauth_token(const std::string& token_hash) override;
  void revoke_oauth_family(const std::string& family) override;
  std::optional<Attachment> attachment(const std::string& principal, const std::string& id) override;
  void put_attachment(const std::string& principal, const Attachment& a) override;
  void delete_attachment(const std::string& principal, const std::string& id) override;
  int64_t attachment_bytes() override;
  void mark_referenced(const std::string& principal, const std::string& id) override;
  std::vector<std::pair<std::string, std::string>> collectable_attachments(int64_t stale_before_ms,
                                                                           int64_t unreferenced_before_ms, int limit) override;
  void put_chunk(const std::string& principal, const std::string& id, int64_t offset, std::string_view bytes) override;
  std::string read_chunks(const std::string& principal, const std::string& id, int64_t offset, int64_t length) override;
  void delete_chunks(const std::string& principal, const std::string& id) override;
  void put_forward(const std::string& principal, const std::string& key, const std::string& collection,
                   const std::string& record_id, const std::string& mutation, int64_t now_ms) override;
  bool has_forward_for(const std::string& principal, const std::string& collection, const std::string& record_id) override;
  bool has_forwards() override;
  std::vector<Forward> forwards(const std::string& principal, int limit) override;  // the oldest first
  void delete_forwards_through(const std::string& principal, int64_t seq) override;  // its rows up to seq
  int64_t forward_count() override;
  void put_relay_sender(const std::string& principal, const std::string& key, const std::string& sender,
                        int64_t now_ms) override;
  std::string relay_sender(const std::string& principal, const std::string& key) override;  // "" when unknown
  void put_relay_outcome(const std::string& principal, int64_t seq, const std::string& mutation,
                         const std::string& sender, const std::string& outcome, int64_t now_ms) override;
  bool lists_attachment(const std::string& principal, const std::string& id) override;
  int64_t sweep_relay(int64_t created_before_ms) override;
  void put_relay_identity(const std::string& principal, const std::string& upstream_user,
                          const std::string& access_token, const std::string& refresh_token) override;
  std::vector<RelayIdentity> relay_identities() override;
  void relay_identity_applied(const std::string& principal, int64_t version, const std::string& error) override;
  std::vector<std::pair<int64_t, std::string>> relay_outcomes(const std::string& principal, const std::string& sender,
                                                              int64_t after, int64_t upto) override;
  std::vector<CursorKey> cursor_keys() override;
  void add_cursor_key(const CursorKey& key) override;
  void retire_cursor_keys_below(uint32_t version) override;
  void bump(Counter counter) override { ++(counter == Counter::kReplays ? replays_ : applied_); }

 private:
  explicit SqliteServerStore(std::unique_ptr<SQLite::Database> db);
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


}  // namespace offsync::storage
