// The attachment endpoints (docs/protocol.md, "Attachments"): upload sessions, chunks resumed by
// Content-Range, the SHA-256 check at the end, ranged downloads, quotas and collection. The bytes
// go to an AttachmentBlobs (store rows or files); no request holds more than one chunk.
#include <algorithm>
#include <cctype>

#include "engine/common/byte_range.h"
#include "engine/common/crypto.h"
#include "engine/common/input_rules.h"
#include "engine/server/server_impl.h"

namespace offsync {

using nlohmann::json;
using storage::ServerStore;
using storage::ServerTransaction;

namespace {

constexpr int64_t kReadPiece = 1 << 20;  // what the checksum reads at a time

std::string upload_url(const std::string& id) { return std::string(kAttachmentsPath) + "/" + id; }

json description(const ServerStore::Attachment& a, int64_t chunk_size) {
  return json{{"id", a.id},           {"size", a.size},         {"sha256", a.sha256},
              {"content_type", a.content_type}, {"upload_url", upload_url(a.id)}, {"chunk_size", chunk_size},
              {"received", a.received}, {"complete", a.complete}};
}

bool valid_sha256(std::string& text) {
  if (text.size() != 64) return false;
  for (char& c : text) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool valid_content_type(const std::string& t) {
  if (t.empty() || t.size() > 255) return false;
  return std::all_of(t.begin(), t.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

// 308 with the bytes held, or 201 once whole.
Answer progress(const ServerStore::Attachment& a, int64_t chunk_size) {
  if (a.complete) return Answer{201, description(a, chunk_size).dump()};
  Answer out{308, description(a, chunk_size).dump()};
  if (a.received > 0) out.headers.emplace_back("Range", "bytes=0-" + std::to_string(a.received - 1));
  return out;
}

}  // namespace

Answer Server::Impl::attachments(const HttpRequest& r, const std::string& principal, const std::string& route) {
  if (route == kAttachmentsPath) {
    if (r.method != "POST") return error(405, "method_not_allowed", "use POST to start an upload");
    return create_attachment(r, principal);
  }
  std::string id = r.path().substr(std::string(kAttachmentsPath).size() + 1);
  if (!input_rules::check_record_id(id)) {
    return error(400, "invalid_attachment_id", "an attachment id is 1 to 128 of A-Z a-z 0-9 . _ - : ~ @ +");
  }
  if (r.method == "PUT") return put_attachment_chunk(r, principal, id);
  if (r.method == "GET") return get_attachment(r, principal, id);
  return error(405, "method_not_allowed", "use PUT to upload a chunk, GET to download");
}

Answer Server::Impl::create_attachment(const HttpRequest& r, const std::string& principal) {
  auto key = r.headers.get("Idempotency-Key");
  if (!key || key->empty()) {
    return error(400, "idempotency_key_missing", "POST /v1/attachments needs an Idempotency-Key header");
  }
  json_text::Document document(r.body);
  if (!document.valid()) return unreadable(document.problem());
  json body = json_text::to_json(document.root());
  if (!body.is_object()) return error(400, "invalid_request", "the body must be a JSON object");
  ServerStore::Attachment a;
  auto id = body.find("id");
  if (id == body.end() || !id->is_string() || !input_rules::check_record_id(id->get<std::string>())) {
    return error(400, "invalid_attachment_id", "\"id\" must be 1 to 128 of A-Z a-z 0-9 . _ - : ~ @ +");
  }
  a.id = *id;
  auto size = body.find("size");
  if (size == body.end() || !size->is_number_integer() || size->get<int64_t>() < 0) {
    return error(400, "invalid_size", "\"size\" must be the attachment's length in bytes, an integer >= 0");
  }
  a.size = *size;
  auto sha = body.find("sha256");
  if (sha == body.end() || !sha->is_string() || !valid_sha256(a.sha256 = sha->get<std::string>())) {
    return error(400, "invalid_sha256", "\"sha256\" must be the attachment's SHA-256 as 64 hex digits");
  }
  a.content_type = "application/octet-stream";
  if (auto type = body.find("content_type"); type != body.end() && !type->is_null()) {
    if (!type->is_string() || !valid_content_type(*type)) {
      return error(400, "invalid_content_type", "\"content_type\" must be a media type of printable ASCII, at most 255");
    }
    a.content_type = *type;
  }
  if (a.size > options.max_attachment_bytes) {
    return error(413, "attachment_too_large", "an attachment is at most " + std::to_string(options.max_attachment_bytes) +
                                                  " bytes; this one declares " + std::to_string(a.size));
  }
  KeyClaim claim(this, principal, "attachment/" + a.id);
  if (!claim.held) return in_progress();
  std::lock_guard<std::mutex> lock(db_mu);
  return guarded_answer([&] {
    maybe_sweep();
    ServerTransaction tx(*store);
    if (auto existing = store->attachment(principal, a.id)) {
      if (existing->size != a.size || existing->sha256 != a.sha256 || existing->content_type != a.content_type) {
        return error(409, "attachment_exists", "attachment " + a.id + " exists with another size, checksum or type");
      }
      Answer same{201, description(*existing, options.attachment_chunk_size).dump()};
      same.headers.emplace_back("Location", upload_url(a.id));
      return same;
    }
    if (options.attachment_quota_bytes > 0) {
      int64_t held = store->attachment_bytes();
      if (held + a.size > options.attachment_quota_bytes) {
        Answer full = error(507, "storage_full",
                            "the server's attachment storage is full: " + std::to_string(held) + " of " +
                                std::to_string(options.attachment_quota_bytes) + " bytes held",
                            "transient");
        full.retry_after_s = 3600;
        return full;
      }
    }
    a.created_at_ms = a.updated_at_ms = clock.now_ms();
    if (a.size == 0) {
      if (hex(sha256("")) != a.sha256) {
        return error(422, "checksum_mismatch", "an empty attachment's SHA-256 is " + hex(sha256("")));
      }
      a.complete = true;
    }
    store->put_attachment(principal, a);
    tx.commit();
    Answer created{201, description(a, options.attachment_chunk_size).dump()};
    created.headers.emplace_back("Location", upload_url(a.id));
    return created;
  });
}

Answer Server::Impl::put_attachment_chunk(const HttpRequest& r, const std::string& principal, const std::string& id) {
  auto header = r.headers.get("Content-Range");
  if (!header) return error(400, "invalid_content_range", "a chunk needs Content-Range: bytes START-END/TOTAL");
  auto range = parse_content_range(*header);
  if (!range) {
    return error(400, "invalid_content_range",
                 "Content-Range must be \"bytes START-END/TOTAL\" or \"bytes */TOTAL\", not \"" + *header + "\"");
  }
  if (!range->has_range && !r.body.empty()) {
    return error(400, "invalid_content_range", "Content-Range: bytes */TOTAL asks where to resume and takes no body");
  }
  if (range->has_range && r.body.size() != range->last - range->first + 1) {
    return error(400, "length_mismatch", "Content-Range " + *header + " announces " +
                                             std::to_string(range->last - range->first + 1) + " bytes, the body has " +
                                             std::to_string(r.body.size()));
  }
  // A chunk claims the upload; asking where to resume only reads, and never makes a concurrent
  // start or chunk of the same upload answer 409.
  std::optional<KeyClaim> claim;
  if (range->has_range) {
    claim.emplace(this, principal, "attachment/" + id);
    if (!claim->held) return in_progress();
  }
  std::lock_guard<std::mutex> lock(db_mu);
  return guarded_answer([&]() -> Answer {
    ServerTransaction tx(*store);
    auto a = store->attachment(principal, id);
    if (!a) return error(404, "attachment_not_found", "no upload of " + id + ": start one with POST /v1/attachments", "not_found");
    int64_t size = a->size;
    if (range->total != static_cast<uint64_t>(size)) {
      return error(400, "size_mismatch", "attachment " + id + " is " + std::to_string(size) + " bytes, not " +
                                             std::to_string(range->total));
    }
    if (!range->has_range || a->complete) return progress(*a, options.attachment_chunk_size);
    int64_t first = static_cast<int64_t>(range->first), end = static_cast<int64_t>(range->last) + 1;
    if (end > size) {
      return error(416, "range_past_end", "bytes " + std::to_string(first) + "-" + std::to_string(end - 1) +
                                              " go past the attachment's " + std::to_string(size) + " bytes");
    }
    if (first > a->received) {
      Answer gap = error(416, "range_gap", "the server holds bytes up to " + std::to_string(a->received) +
                                               "; send from there, not from " + std::to_string(first));
      if (a->received > 0) gap.headers.emplace_back("Range", "bytes=0-" + std::to_string(a->received - 1));
      return gap;
    }
    std::string_view body = r.body;
    if (first < a->received) {
      // A repeat of bytes already held (an answer that was lost): they must be the same bytes.
      int64_t overlap = std::min(end, a->received) - first;
      if (blobs->read(principal, id, first, overlap) != body.substr(0, static_cast<size_t>(overlap))) {
        return error(400, "overlap_mismatch", "bytes " + std::to_string(first) + "-" + std::to_string(first + overlap - 1) +
                                                  " differ from the bytes already stored; the stored ones are kept");
      }
      body.remove_prefix(static_cast<size_t>(overlap));
    }
    int64_t now = clock.now_ms();
    if (!body.empty()) {
      blobs->write(principal, id, a->received, body);
      a->received += static_cast<int64_t>(body.size());
    }
    a->updated_at_ms = now;
    if (a->received == size) {
      Sha256 hash;
      for (int64_t at = 0; at < size; at += kReadPiece) hash.update(blobs->read(principal, id, at, std::min(kReadPiece, size - at)));
      if (hex(hash.finish()) != a->sha256) {
        blobs->remove(principal, id);
        a->received = 0;
        store->put_attachment(principal, *a);
        tx.commit();
        return error(422, "checksum_mismatch", "the bytes of " + id + " do not have the declared SHA-256 " + a->sha256 +
                                                   "; they were discarded, upload again from byte 0");
      }
      a->complete = true;
    }
    store->put_attachment(principal, *a);
    tx.commit();
    return progress(*a, options.attachment_chunk_size);
  });
}

Answer Server::Impl::get_attachment(const HttpRequest& r, const std::string& principal, const std::string& id) {
  if (relay) {
    // A relay holds the records it pulled, not their files: the first GET fetches one from upstream.
    bool held = false;
    {
      std::lock_guard<std::mutex> lock(db_mu);
      Answer fault = guarded_answer([&]() -> Answer {
        auto a = store->attachment(principal, id);
        held = a && a->complete;
        return Answer{};
      });
      if (fault.status >= 500) return fault;
    }
    if (!held) {
      Status fetched;
      if (options.upstream.manual) {
        // No threads of the relay's own (a simulation): fetched on this one.
        KeyClaim claim(this, principal, "attachment/" + id);
        if (!claim.held) return in_progress();
        fetched = relay->fetch_attachment(principal, id);
      } else {
        fetched = relay->fetch_attachment_within(principal, id, options.upstream.fetch_wait_ms);
      }
      if (!fetched) {
        if (fetched.code() == StatusCode::kNotFound) return error(404, "attachment_not_found", fetched.message(), "not_found");
        if (fetched.code() == StatusCode::kDeadlineExceeded) {
          Answer soon = unavailable(fetched.message());
          soon.retry_after_s = 2;
          return soon;
        }
        Answer later = unavailable("attachment " + id + " is upstream and could not be fetched now: " + fetched.message());
        later.retry_after_s = 30;
        return later;
      }
    }
  }
  std::lock_guard<std::mutex> lock(db_mu);
  return guarded_answer([&]() -> Answer {
    auto a = store->attachment(principal, id);
    if (!a) return error(404, "attachment_not_found", "no attachment " + id, "not_found");
    if (!a->complete) return error(409, "attachment_incomplete", "attachment " + id + " is still being uploaded", "not_found");
    RangeRequest want = parse_range(r.headers.get("Range"));
    uint64_t size = static_cast<uint64_t>(a->size);
    uint64_t max_len = options.max_body_bytes;
    Answer out;
    out.content_type = a->content_type;
    out.headers.emplace_back("Accept-Ranges", "bytes");
    out.headers.emplace_back("ETag", "\"" + a->sha256 + "\"");
    out.headers.emplace_back("Offsync-Sha256", a->sha256);
    if (want.kind == RangeRequest::Kind::kRange) {
      auto bytes = resolve_range(want, size, max_len);
      if (!bytes) {
        Answer refused = error(416, "range_not_satisfiable", "attachment " + id + " has " + std::to_string(size) + " bytes");
        refused.headers.emplace_back("Content-Range", "bytes */" + std::to_string(size));
        return refused;
      }
      out.status = 206;
      out.headers.emplace_back("Content-Range", format_content_range(bytes->first, bytes->second, size));
      out.body = blobs->read(principal, id, static_cast<int64_t>(bytes->first),
                             static_cast<int64_t>(bytes->second - bytes->first + 1));
      return out;
    }
    if (size > max_len) {
      return error(400, "range_required", "attachment " + id + " has " + std::to_string(size) +
                                              " bytes: ask for it in ranges of at most " + std::to_string(max_len) +
                                              " (Range: bytes=0-" + std::to_string(max_len - 1) + ")");
    }
    out.body = blobs->read(principal, id, 0, a->size);
    return out;
  });
}

// Under db_mu, in the sweep's transaction.
int64_t Server::Impl::collect_attachments(int64_t now) {
  int64_t removed = 0;
  for (;;) {
    auto batch = store->collectable_attachments(now - options.attachment_session_ttl_ms,
                                                now - options.attachment_grace_ms, 256);
    for (const auto& [principal, id] : batch) {
      blobs->remove(principal, id);
      store->delete_attachment(principal, id);
    }
    removed += static_cast<int64_t>(batch.size());
    if (batch.size() < 256) return removed;
  }
}

}  // namespace offsync
