// Attachment uploads, the first step of a round's push (docs/protocol.md, "Attachments"): each
// attachment a pending mutation lists is created on the server (POST /v1/attachments), asked where
// to resume (PUT with Content-Range: bytes */TOTAL), and sent in chunks of
// SyncOptions::attachment_chunk_bytes until the server answers 201. A mutation is sent only once
// every attachment it lists is uploaded. On a metered network only urgent mutations' attachments go.
#include "engine/client/round.h"
#include "engine/common/byte_range.h"

namespace offsync {

using storage::ClientStore;

namespace {

constexpr int64_t kMinChunk = 64 << 10;  // chunks are halved after a 413 down to this

// What a 308 or 201 says the server holds; nullopt for an answer that is not this protocol's.
std::optional<int64_t> held_by_server(const HttpResponse& a, int64_t size) {
  if (a.status == 201) return size;
  if (a.status != 308) return std::nullopt;
  auto range = a.headers.get("Range");
  if (!range) return 0;
  auto received = parse_received_range(*range);
  if (!received || *received > static_cast<uint64_t>(size)) return std::nullopt;
  return static_cast<int64_t>(*received);
}

}  // namespace

void Round::upload_attachments() {
  bool metered;
  {
    std::lock_guard<std::mutex> lock(c_.state_mu);
    metered = c_.connectivity == Connectivity::kMetered;
  }
  while (!stopped()) {
    std::vector<ClientStore::Upload> next;
    Status listed = c_.locked("list uploads", [&]() -> Status {
      next = c_.store->attachments_to_upload(static_cast<int>(uploads_tried_.size()) + 32);
      return Status::ok();
    });
    if (!stored(listed, "listing attachments to upload")) return;
    bool any = false;
    for (const auto& u : next) {
      if (stopped()) break;
      if (!uploads_tried_.insert(u.id).second) continue;
      any = true;
      if (metered && !u.urgent) continue;  // waits for an unmetered network
      upload_one(u.id);
    }
    if (!any) break;
  }
  Status counted = c_.locked("count uploads", [&]() -> Status {
    report_.attachments_waiting = c_.store->count_attachments_to_upload();
    return Status::ok();
  });
  (void)stored(counted, "counting attachments to upload");
}

void Round::refuse_attachment(const std::string& id, const std::string& reason) {
  log(LogLevel::kWarning, "attachment " + id + " refused: " + reason);
  Status s = c_.write("refuse attachment", [&]() -> Status {
    for (const auto& mutation_id : c_.store->mutations_listing(id)) {
      auto m = c_.store->mutation(mutation_id);
      if (!m) continue;
      c_.reject_locked(*m, "attachment " + id + ": " + reason);
      ++report_.rejected;
      changed_.emplace_back(m->collection, m->record_id);
      if (auto stored_m = c_.store->mutation(m->id)) rejected_.push_back(std::move(*stored_m));
    }
    return Status::ok();
  });
  (void)stored(s, "rejecting the mutations of a refused attachment");
}

void Round::upload_one(const std::string& id) {
  std::optional<ClientStore::AttachmentRow> loaded;
  Status s = c_.locked("load attachment", [&]() -> Status {
    loaded = c_.store->attachment(id);
    return Status::ok();
  });
  if (!stored(s, "loading an attachment") || !loaded) return;
  ClientStore::AttachmentRow row = std::move(*loaded);
  int64_t now = c_.clock.now_ms();
  if (!explicit_ && row.next_attempt_at_ms > now) {  // backing off
    due_at(row.next_attempt_at_ms);
    return;
  }

  // A failed step: transient ones back off (the round goes on with other work), others refuse.
  auto failed = [&](const HttpResponse& a, const std::string& step) {
    json_text::Document doc(a.body);
    json_text::Value body = doc.valid() ? doc.root() : json_text::Value{};
    std::string code = wire::error_code_of(body);
    std::string message = step + ": " + wire::error_message_of(body, a.status);
    Outcome outcome = classify(a.status, code);
    if (outcome == Outcome::kAuth || outcome == Outcome::kUpgrade) {
      pause(outcome == Outcome::kAuth ? "sign in again (401): " + message : "upgrade required (426): " + message,
            outcome == Outcome::kAuth);
      return;
    }
    if ((outcome == Outcome::kRejected || outcome == Outcome::kConflict) && !(code == "checksum_mismatch" && row.failures < 2)) {
      refuse_attachment(id, message);
      return;
    }
    // Transient, or a checksum mismatch the server answered by discarding its bytes: again later.
    row.failures += 1;
    ++uploads_failed_;
    row.next_attempt_at_ms = c_.clock.now_ms() + std::max(backoff_.delay_ms(row.failures),
                                                         retry_after_ms(a, c_.clock.now_ms(), c_.options.sync.backoff_cap_ms));
    row.last_error = message;
    due_at(row.next_attempt_at_ms);
    Status saved = c_.write("attachment backoff", [&]() -> Status {
      c_.store->put_attachment(row);
      return Status::ok();
    });
    (void)stored(saved, "recording an upload failure");
  };

  HttpRequest create = request("POST", "/v1/attachments");
  create.headers.add("Idempotency-Key", id);
  create.body = nlohmann::json{{"id", id}, {"size", row.size}, {"sha256", row.sha256}, {"content_type", row.content_type}}.dump();
  auto created = send(create);
  if (!created) return;
  if (created->status != 201) return failed(*created, "starting the upload");

  HttpRequest ask = request("PUT", "/v1/attachments/" + id);
  ask.headers.add("Content-Range", "bytes */" + std::to_string(row.size));
  auto where = send(ask);
  if (!where) return;
  std::optional<int64_t> held = held_by_server(*where, row.size);
  if (!held) return failed(*where, "asking where to resume");

  int64_t chunk = std::max<int64_t>(1, c_.options.sync.attachment_chunk_bytes);
  // Each answer must move the upload forward; a server that does not gets a few tries.
  int stalls = 0;
  while (*held < row.size && !stopped()) {
    std::string bytes;
    Status read = c_.locked("read attachment", [&]() -> Status {
      bytes = c_.store->read_attachment_chunks(id, *held, std::min(chunk, row.size - *held));
      return Status::ok();
    });
    if (!stored(read, "reading an attachment")) return;
    if (bytes.empty()) {
      refuse_attachment(id, "its bytes are missing from this store");
      return;
    }
    HttpRequest put = request("PUT", "/v1/attachments/" + id);
    put.headers.add("Content-Range", format_content_range(static_cast<uint64_t>(*held),
                                                          static_cast<uint64_t>(*held) + bytes.size() - 1,
                                                          static_cast<uint64_t>(row.size)));
    put.headers.add("Content-Type", "application/octet-stream");
    put.body = std::move(bytes);
    auto answer = send(put);
    if (!answer) return;
    if (answer->status == 413 && chunk > kMinChunk) {
      // Chunks larger than the server takes: halve them, as the push halves batches.
      chunk = std::max(kMinChunk, chunk / 2);
      log(LogLevel::kWarning, "attachment " + id + ": chunks halved to " + std::to_string(chunk) + " bytes after a 413");
      continue;
    }
    std::optional<int64_t> now_held = held_by_server(*answer, row.size);
    if (!now_held && answer->status == 416) {
      // A gap: the server holds less than this client thought; its Range says how much.
      if (auto range = answer->headers.get("Range"); range && parse_received_range(*range)) {
        now_held = static_cast<int64_t>(*parse_received_range(*range));
      } else {
        now_held = 0;
      }
    }
    if (!now_held) return failed(*answer, "uploading bytes from " + std::to_string(*held));
    if (*now_held <= *held && ++stalls > 3) {
      HttpResponse stalled{.status = 503};
      return failed(stalled, "the server does not take the bytes from " + std::to_string(*held));
    }
    held = now_held;
    c_.tell_progress({id, *held, row.size, true, answer->status == 201});
    if (answer->status == 201) break;
  }
  if (*held < row.size) return;
  row.state = ClientStore::AttachmentState::kUploaded;
  row.sent_bytes = row.size;
  row.failures = 0;
  row.next_attempt_at_ms = 0;
  row.last_error.clear();
  Status done = c_.write("attachment uploaded", [&]() -> Status {
    // Written unless the app removed it meanwhile.
    if (c_.store->attachment(id)) c_.store->put_attachment(row);
    return Status::ok();
  });
  if (stored(done, "recording an upload")) ++report_.attachments_uploaded;
}

}  // namespace offsync
