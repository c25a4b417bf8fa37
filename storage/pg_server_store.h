// The server's store on PostgreSQL (storage/server_store.h), for several server processes on one
// database (docs/operations.md, "Several server processes"). One connection per store; like the
// SQLite store it is used by one thread at a time (the Server serialises every call).
//
// Write transactions take turns across processes: begin() locks the row meta('seq') FOR UPDATE,
// so that the change-log positions a transaction hands out are above every committed one and
// are committed in their order (a client's cursor never passes a change committed later), and a
// record is read, merged and written by one writer at a time. Reads outside a transaction see
// committed data only.
//
// Idempotency keys in flight are claimed across processes with transaction-level advisory locks
// (claim_keys), taken before the turn: a retry reaching another process while the first attempt
// waits for or holds its turn finds the key held and answers 409 at once. A lock is keyed by a
// 64-bit hash of (principal, key); two keys sharing a hash make a rare needless 409, which a
// client retries like any other.
#pragma once

#include <memory>
#include <string>

#include "storage/server_store.h"

namespace offsync::storage {

extern const std::vector<std::string_view> kServerPgMigrations;

class PgServerStore final : public ServerStore {
 public:
  // conninfo: a libpq connection string ("host=/tmp/pg dbname=offsync", "postgresql://..."). The
  // schema is brought to the newest version (under an advisory lock, so that processes starting
  // together migrate once); a database of a newer schema is refused untouched.
  static Result<std::unique_ptr<PgServerStore>> open_postgres(const std::string& conninfo);
  ~PgServerStore() override;

  std::optional<std::string> meta(const std::string& key) override;
  void set_meta(const std::string& key, const std::string& value) override;
  std::optional<StoredAnswer> answer(const std::string& principal, const std::string& key) override;
  void put_answer(const std::string& principal, const std::string& key, const StoredAnswer& answer) override;
  int64_t sweep_answers(int64_t created_before_ms) override;
  std::optional<StoredRecord> record(const std::string& partition, const std::string& collection,
                                     const std::string& record_id) override;
  void begin() override;
  std::vector<size_t> claim_keys(const std::string& principal, const std::vector<std::string>& keys) override;
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
  void bump(Counter counter) override { ++(counter == Counter::kReplays ? replays_ : applied_); }
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
                                                                           int64_t unreferenced_before_ms,
                                                                           int limit) override;
  void put_chunk(const std::string& principal, const std::string& id, int64_t offset, std::string_view bytes) override;
  std::string read_chunks(const std::string& principal, const std::string& id, int64_t offset, int64_t length) override;
  void delete_chunks(const std::string& principal, const std::string& id) override;

  void put_forward(const std::string& principal, const std::string& key, const std::string& collection,
                   const std::string& record_id, const std::string& mutation, int64_t now_ms) override;
  bool has_forward_for(const std::string& principal, const std::string& collection,
                       const std::string& record_id) override;
  bool has_forwards() override;
  std::vector<Forward> forwards(const std::string& principal, int limit) override;
  void delete_forwards_through(const std::string& principal, int64_t seq) override;
  int64_t forward_count() override;
  void put_relay_sender(const std::string& principal, const std::string& key, const std::string& sender,
                        int64_t now_ms) override;
  std::string relay_sender(const std::string& principal, const std::string& key) override;
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

 private:
  class Session;  // the connection (storage/pg_session.h)
  explicit PgServerStore(std::unique_ptr<Session> session);

  std::unique_ptr<Session> session_;
  bool claimed_ = false;  // claim_keys began the transaction; begin() takes the turn only
  int64_t seq_ = 0;
  int64_t applied_ = 0, replays_ = 0;
  struct Mark {
    int64_t seq, applied, replays;
  } mark_{};
};

}  // namespace offsync::storage
