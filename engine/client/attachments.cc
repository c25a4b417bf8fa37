// The client's attachments (docs/architecture.md, "Attachments"): adding bytes to the local store,
// reading and exporting them, lazy ranged downloads verified by SHA-256, and collection. Uploads
// are the sync worker's (engine/client/upload.cc). No call holds more than one chunk in memory.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engine/client/client_impl.h"
#include "engine/common/byte_range.h"
#include "engine/common/crypto.h"
#include "engine/common/input_rules.h"

namespace offsync {

using storage::ClientStore;
using Row = storage::ClientStore::AttachmentRow;

namespace {

constexpr int64_t kPiece = 1 << 20;  // what a local read or write moves at a time

AttachmentInfo info_of(const Row& r) {
  return AttachmentInfo{r.id,
                        r.size,
                        r.sha256,
                        r.content_type,
                        static_cast<AttachmentState>(static_cast<int>(r.state)),
                        r.local_bytes,
                        r.sent_bytes,
                        r.last_error};
}

bool readable(const Row& r) { return r.state != ClientStore::AttachmentState::kRemote; }

bool valid_content_type(const std::string& t) {
  if (t.empty() || t.size() > 255) return false;
  for (char c : t) {
    if (c < 0x20 || c >= 0x7f) return false;
  }
  return true;
}

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::string_view attachment_state_name(AttachmentState state) {
  switch (state) {
    case AttachmentState::kLocal: return "local";
    case AttachmentState::kUploaded: return "uploaded";
    case AttachmentState::kRemote: return "remote";
    case AttachmentState::kDownloaded: return "downloaded";
  }
  return "unknown";
}

void Client::Impl::tell_progress(const AttachmentProgress& progress) {
  for (auto& o : observers_copy()) tell(o, [&](SyncObserver& s) { s.on_attachment_progress(progress); });
}

bool Client::Impl::requeue_attachments_locked(const Mutation& m) {
  bool any = false;
  for (const auto& id : m.attachments) {
    auto row = store->attachment(id);
    if (!row || !readable(*row) || row->local_bytes != row->size) continue;
    row->state = ClientStore::AttachmentState::kLocal;
    row->sent_bytes = 0;
    store->put_attachment(*row);
    any = true;
  }
  return any;
}

// Adds an attachment whose bytes `next` hands over piece by piece (an empty piece ends them), in
// one transaction: a failure or a crash half-way leaves nothing.
template <typename Next>
static Result<std::string> add(Client::Impl& c, const std::string& content_type, Next&& next, std::string id = "") {
  if (!valid_content_type(content_type)) {
    return Status::invalid_argument("content type must be a media type of printable ASCII, at most 255 characters");
  }
  return c.write("add attachment", [&]() -> Result<std::string> {
    Row row;
    if (!id.empty() && c.store->attachment(id)) return id;
    row.id = id.empty() ? c.next_id() : id;
    row.content_type = content_type;
    row.created_at_ms = c.clock.now_ms();
    int64_t held = c.options.max_attachment_bytes > 0 ? c.store->attachment_bytes() : 0;
    Sha256 hash;
    int64_t size = 0;
    for (;;) {
      auto piece = next();
      if (!piece) return piece.status();
      if (piece->empty()) break;
      if (c.options.max_attachment_bytes > 0 && held + size + static_cast<int64_t>(piece->size()) > c.options.max_attachment_bytes) {
        return Status::resource_exhausted("the attachment store is full: " + std::to_string(held) + " of " +
                                          std::to_string(c.options.max_attachment_bytes) +
                                          " bytes held; sync, discard or raise ClientOptions::max_attachment_bytes");
      }
      c.store->put_attachment_chunk(row.id, size, *piece);
      hash.update(*piece);
      size += static_cast<int64_t>(piece->size());
    }
    row.size = row.local_bytes = size;
    row.sha256 = hex(hash.finish());
    c.store->put_attachment(row);
    return row.id;
  });
}

Result<std::string> Client::add_attachment(std::string_view bytes, const std::string& content_type) {
  size_t at = 0;
  return add(*impl_, content_type, [&]() -> Result<std::string> {
    std::string piece(bytes.substr(at, kPiece));
    at += piece.size();
    return piece;
  });
}

Result<std::string> Client::add_attachment_as(const std::string& id, const std::string& content_type,
                                              const std::function<Result<std::string>()>& next_piece) {
  if (Status s = input_rules::check_record_id(id); !s) return Status::invalid_argument("attachment id: " + s.message());
  return add(*impl_, content_type, next_piece, id);
}

Result<std::string> Client::add_attachment_file(const std::string& path, const std::string& content_type) {
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) return Status::invalid_argument("cannot open " + path + ": " + std::strerror(errno));
  return add(*impl_, content_type, [&]() -> Result<std::string> {
    std::string piece(kPiece, '\0');
    size_t done = 0;
    while (done < piece.size()) {
      ssize_t n = ::read(f.fd, piece.data() + done, piece.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status::invalid_argument("cannot read " + path + ": " + std::strerror(errno));
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    piece.resize(done);
    return piece;
  });
}

Result<AttachmentInfo> Client::attachment(const std::string& id) {
  return impl_->locked("attachment", [&]() -> Result<AttachmentInfo> {
    auto row = impl_->store->attachment(id);
    if (!row) return Status::not_found("no attachment " + id + " here");
    return info_of(*row);
  });
}

Result<std::vector<std::string>> Client::attachments_of(const std::string& collection, const std::string& record_id) {
  if (Status s = input_rules::check_collection(collection); !s) return s;
  if (Status s = input_rules::check_record_id(record_id); !s) return s;
  return impl_->locked("attachments of", [&]() -> Result<std::vector<std::string>> {
    if (!impl_->store->view(collection, record_id)) return Status::not_found("no record " + collection + "/" + record_id);
    auto ids = nlohmann::json::parse(impl_->store->base_attachments(collection, record_id)).get<std::vector<std::string>>();
    // The server replaces the list with a write's own; a pending write's list is what it will be.
    for (const Mutation& m : impl_->store->mutations_of(collection, record_id)) {
      if (m.state == MutationState::kRejected || m.state == MutationState::kConflict) continue;
      if (m.op == MutationOp::kDelete) ids.clear();
      if (!m.attachments.empty()) ids = m.attachments;
    }
    return ids;
  });
}

Result<std::string> Client::read_attachment(const std::string& id, int64_t offset, int64_t length) {
  if (offset < 0 || length < 0) return Status::invalid_argument("offset and length must be >= 0");
  return impl_->locked("read attachment", [&]() -> Result<std::string> {
    auto row = impl_->store->attachment(id);
    if (!row) return Status::not_found("no attachment " + id + " here");
    if (!readable(*row)) return Status::not_found("attachment " + id + " is not downloaded: call download_attachment()");
    return impl_->store->read_attachment_chunks(id, offset, std::min(length, std::max<int64_t>(row->size - offset, 0)));
  });
}

Status Client::export_attachment(const std::string& id, const std::string& path) {
  auto info = attachment(id);
  if (!info) return info.status();
  if (info->state == AttachmentState::kRemote) {
    return Status::not_found("attachment " + id + " is not downloaded: call download_attachment()");
  }
  Fd f{::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
  if (f.fd < 0) return Status::invalid_argument("cannot create " + path + ": " + std::strerror(errno));
  for (int64_t at = 0; at < info->size; at += kPiece) {
    auto piece = read_attachment(id, at, kPiece);
    if (!piece) return piece.status();
    size_t done = 0;
    while (done < piece->size()) {
      ssize_t n = ::write(f.fd, piece->data() + done, piece->size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Status::resource_exhausted("cannot write " + path + ": " + std::strerror(errno));
      done += static_cast<size_t>(n);
    }
  }
  if (::fsync(f.fd) != 0) return Status::resource_exhausted("cannot write " + path + ": " + std::strerror(errno));
  return Status::ok();
}

Result<int64_t> Client::collect_attachments() { return impl_->collect_attachments(); }

Result<int64_t> Client::Impl::collect_attachments() {
  return write("collect attachments", [&]() -> Result<int64_t> {
    int64_t removed = 0;
    for (;;) {
      auto ids = store->unreferenced_attachments(clock.now_ms() - options.attachment_grace_ms, 256);
      for (const auto& id : ids) store->delete_attachment(id);
      removed += static_cast<int64_t>(ids.size());
      if (ids.size() < 256) return removed;
    }
  });
}

Status Client::download_attachment(const std::string& id) {
  if (Status s = input_rules::check_record_id(id); !s) return s;
  if (!impl_->options.sync.transport) return Status::invalid_argument("this client has no transport to download with");
  Client::Impl& c = *impl_;
  std::lock_guard<std::mutex> one_at_a_time(c.download_mu);
  auto start = c.write("start download", [&]() -> Result<Row> {
    auto row = c.store->attachment(id);
    if (row) return *row;
    Row fresh;
    fresh.id = id;
    fresh.state = ClientStore::AttachmentState::kRemote;
    fresh.content_type = "application/octet-stream";
    fresh.created_at_ms = c.clock.now_ms();
    c.store->put_attachment(fresh);
    return fresh;
  });
  if (!start) return start.status();
  Row row = *start;
  const int64_t chunk = std::max<int64_t>(1, c.options.sync.attachment_chunk_bytes);
  // A server that never moves us forward gets a bounded number of tries.
  for (int stalls = 0; row.state == ClientStore::AttachmentState::kRemote && stalls < 3;) {
    if (row.size >= 0 && row.local_bytes == row.size) {
      // Every byte is here: verify before any of them is handed to the app.
      auto verified = c.write("verify download", [&]() -> Result<bool> {
        Sha256 hash;
        for (int64_t at = 0; at < row.size; at += kPiece) {
          hash.update(c.store->read_attachment_chunks(id, at, std::min(kPiece, row.size - at)));
        }
        bool ok = hex(hash.finish()) == row.sha256;
        if (ok) {
          row.state = ClientStore::AttachmentState::kDownloaded;
        } else {
          c.store->delete_attachment_chunks(id);
          row.local_bytes = 0;
          row.size = -1;
          row.last_error = "the downloaded bytes did not have the server's SHA-256; they were discarded";
        }
        c.store->put_attachment(row);
        return ok;
      });
      if (!verified) return verified.status();
      if (!*verified) return Status::corrupt("attachment " + id + ": " + row.last_error);
      c.tell_progress({id, row.size, row.size, false, true});
      return Status::ok();
    }
    HttpRequest r = c.make_request("GET", "/v1/attachments/" + id);
    r.headers.add("Range", "bytes=" + std::to_string(row.local_bytes) + "-" + std::to_string(row.local_bytes + chunk - 1));
    auto answer = c.send(r);
    if (!answer) return Status::transient("attachment " + id + ": no answer (" + answer.status().message() + "); call again to resume");
    const HttpResponse& a = *answer;
    if (a.status == 404) return Status::not_found("the server has no attachment " + id);
    if (a.status != 206 && a.status != 200) {
      std::string why = "attachment " + id + ": the server answered HTTP " + std::to_string(a.status);
      if (a.status >= 500 || a.status == 429 || a.status == 401 || a.status == 409) return Status::transient(why);
      return Status::validation(why);
    }
    // What the answer holds, checked against what is known before a byte is stored.
    std::string sha = a.headers.get("Offsync-Sha256").value_or("");
    uint64_t first = 0, total = a.body.size();
    if (a.status == 206) {
      auto range = parse_content_range(a.headers.get("Content-Range").value_or(""));
      if (!range || !range->has_range || range->last - range->first + 1 != a.body.size() || range->last >= range->total) {
        return Status::transient("attachment " + id + ": a 206 answer without a matching Content-Range");
      }
      first = range->first;
      total = range->total;
    }
    bool consistent = sha.size() == 64 && first == static_cast<uint64_t>(row.local_bytes) &&
                      (row.size < 0 || total == static_cast<uint64_t>(row.size)) && (row.sha256.empty() || sha == row.sha256);
    if (!consistent) {
      if (a.status == 200 && row.local_bytes > 0) {
        // The server ignored the Range and sent it whole: start over from these bytes.
        first = 0;
      } else {
        return Status::transient("attachment " + id + ": the server's answer does not continue the bytes held here");
      }
    }
    if (a.body.empty()) {
      ++stalls;
      continue;
    }
    stalls = 0;
    Status stored = c.write("store download", [&]() -> Status {
      if (first == 0) c.store->delete_attachment_chunks(id);
      c.store->put_attachment_chunk(id, static_cast<int64_t>(first), a.body);
      row.size = static_cast<int64_t>(total);
      row.sha256 = sha;
      row.content_type = a.headers.get("Content-Type").value_or(row.content_type);
      row.local_bytes = static_cast<int64_t>(first + a.body.size());
      c.store->put_attachment(row);
      return Status::ok();
    });
    if (!stored) return stored;
    c.tell_progress({id, row.local_bytes, row.size, false, false});
  }
  if (row.state == ClientStore::AttachmentState::kRemote) {
    return Status::transient("attachment " + id + ": the server sent no bytes");
  }
  return Status::ok();
}

}  // namespace offsync
