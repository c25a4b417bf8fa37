// One sync round of a client: push (engine/client/push.cc), then pull (engine/client/pull.cc),
// then the observers are told (engine/client/round.cc). The worker (engine/client/worker.cc) runs
// rounds; the wire format and the answer policy are their own modules (wire.h, answer_policy.h).
//
// A round never throws and never spins: a request without an answer stops it (offline), a store
// that cannot be written stops it with that error, and every mutation it sends is sent at most once.
// Internal to the client half.
#pragma once

#include <algorithm>
#include <deque>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "engine/client/answer_policy.h"
#include "engine/client/client_impl.h"
#include "engine/client/wire.h"

namespace offsync {

class Round {
 public:
  Round(Client::Impl& impl, bool explicit_request);

  SyncReport run();

  bool unreachable() const { return unreachable_; }
  // The round paused on a 401 (the token was refused).
  bool unauthorized() const { return unauthorized_; }
  const std::string& unreachable_reason() const { return unreachable_reason_; }
  // The first store failure that stopped the round (ok when none did).
  const Status& store_failure() const { return store_failure_; }
  // The earliest time at which work this round left for later falls due: a retry it scheduled or
  // one it skipped as not yet due. It may have passed already (a retry that fell due while the
  // round ran, or one drawn with no delay): then the worker goes again at once.
  std::optional<int64_t> next_due() const { return next_due_; }

 private:
  // ---- round.cc: requests, faults, the end of the round ----
  HttpRequest request(const std::string& method, const std::string& target) const;
  std::optional<HttpResponse> send(const HttpRequest& r);  // no answer marks the round unreachable
  void pause(const std::string& reason, bool unauthorized);
  bool stopped() const { return unreachable_ || report_.paused || !store_failure_.is_ok(); }
  // Records a failed store operation: the round stops with it. Returns s.is_ok().
  bool stored(const Status& s, std::string_view what);
  void due_at(int64_t ms) { next_due_ = next_due_ ? std::min(*next_due_, ms) : ms; }
  void log(LogLevel level, const std::string& message) const;
  void finish();
  // Hands what changed since the last call to the observers, and forgets it: what a round holds
  // follows the batch or the page, never the outbox or the store.
  void tell_observers();

  // ---- push.cc ----
  // Per record (or request ordering key) the first unacknowledged mutation, unless it is rejected,
  // in conflict, waiting for its backoff, or already tried this round.
  struct Wave {
    std::vector<std::string> records, requests;  // mutation ids, in ULID order, at most max_wave()
    bool empty() const { return records.empty() && requests.empty(); }
  };
  // The mutations of one request, marked in flight, with their payloads as stored text.
  struct Chunk {
    std::vector<Mutation> muts;
    std::vector<std::string> payloads;
    std::string batch_body;  // POST /v1/mutations:batch's body, built before the chunk is sent
    std::string telemetry;   // Offsync-Outbox for the round's first push request, else empty
  };
  // What the transport brought back for a chunk, in request order: one batch answer, or one answer
  // per mutation sent through the single endpoint. Mutations past those answers got none.
  struct Exchange {
    std::deque<HttpResponse> responses;  // a deque: replies point into the bodies (stable addresses)
    bool batch = false;                  // responses[0] answers the whole chunk
    bool batch_unsupported = false;      // 404/405 on the batch endpoint: sent one by one instead
    bool reached = false;
    bool unreachable = false;
    std::string unreachable_reason;
    // Nothing more should be sent: no answer, or 401/426 (the queue pauses).
    bool halt() const;
  };
  // One mutation's answer: its status and body (a view into Exchange::responses). Status 0: the
  // answer could not be read, an unknown outcome.
  struct Reply {
    int status = 0;
    json_text::Value body;  // kind null (text empty) when the body is not JSON
    int64_t retry_after_ms = 0;
    std::string unreadable;  // why the answer could not be read, when it could not
    bool replayed = false;   // the server's stored answer to an earlier try: its record may be old
  };

  Wave wave();
  size_t max_wave() const;
  void push();
  Chunk begin_send(const std::vector<std::string>& ids);
  void unsend(const Chunk& chunk);
  bool server_has_batch();
  static void build_batch_body(Chunk& chunk);
  void push_records(const std::vector<std::string>& ids);
  Exchange exchange(const Chunk& chunk, bool batch) const;
  std::vector<Reply> read_replies(const Chunk& chunk, const Exchange& answers,
                                  std::deque<json_text::Document>& documents) const;
  void settle(const Chunk& chunk, const std::vector<Reply>& replies, const std::string& unreachable_reason);
  void settle_one(const Mutation& m, const Reply& reply, int64_t now);
  // Under the store lock: back to pending with its key, retried after a backoff.
  void keep_pending(const Mutation& m, int64_t now, int64_t at_least_ms, const std::string& why);
  void push_request(const std::string& id);

  // ---- upload.cc ----
  // Uploads the attachments that pending mutations list, in the order of those mutations, before
  // any mutation is sent (a mutation waits in wave() until its attachments are uploaded).
  void upload_attachments();
  void upload_one(const std::string& id);
  // The attachment cannot be uploaded: every mutation listing it is rejected with the reason.
  void refuse_attachment(const std::string& id, const std::string& reason);
  std::unordered_set<std::string> uploads_tried_;  // attachments tried this round
  int64_t uploads_failed_ = 0;                     // of which failed transiently

  // ---- pull.cc ----
  // Offsync-Outbox's value: the outbox now. The round's first push request carries it as the
  // round found it, so the server hears how long the writes it is about to receive waited.
  std::string telemetry();
  std::string push_telemetry_;  // until the first chunk takes it
  std::optional<HttpResponse> get_page(const std::string& cursor);
  void pull();
  template <typename Interrupt, typename Apply, typename Applied>
  std::optional<std::string> read_log(std::string cursor, Interrupt interrupt, Apply apply, Applied applied);
  void full_refresh();

  Client::Impl& c_;
  bool explicit_;
  Backoff backoff_;
  SyncReport report_;
  std::optional<SyncProgress> progress_;  // told with the next tell_observers()
  int64_t push_total_ = -1;               // pending when the push began (counted for observers only)
  int64_t push_done_ = 0;                 // mutations whose batch was answered (or went unanswered)
  // Mutations sent this round and still pending (not sent twice in one round); settled ones leave.
  std::unordered_set<std::string> attempted_;
  bool unreachable_ = false;                   // a request got no answer
  std::optional<int64_t> next_due_;            // see next_due()
  bool unauthorized_ = false;
  std::string unreachable_reason_;
  Status store_failure_;
  std::vector<std::pair<std::string, std::string>> changed_;
  std::vector<Mutation> rejected_, conflicts_;
};

}  // namespace offsync
