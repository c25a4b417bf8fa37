// Relay mode (engine/server/relay.h): attachments between the relay's store and its lanes. Up: a
// file a forwarded mutation lists is copied into the lane's client before the hand-over. Down: a
// file a pulled record lists is fetched from upstream when a local client first asks for it, and
// kept in the relay's store from then on (collected like any unreferenced attachment).
#include <algorithm>

#include "engine/common/crypto.h"
#include "engine/server/relay.h"
#include "engine/server/server_impl.h"

namespace offsync {

namespace {
constexpr int64_t kPiece = 1 << 20;  // bytes copied at a time, either way
}  // namespace

std::shared_ptr<Relay::Lane> Relay::lane_of(const std::string& principal) const {
  std::lock_guard<std::mutex> lock(lanes_mu_);
  auto it = lanes_.find(principal);
  return it == lanes_.end() ? nullptr : it->second;
}

Status Relay::pass_on_attachment(Lane& lane, const std::string& id) {
  if (lane.client->attachment(id)) return Status::ok();  // passed on before, or listed by a pulled record
  std::optional<storage::ServerStore::Attachment> meta;
  {
    std::lock_guard<std::mutex> lock(server_.db_mu);
    Status s = storage::guarded("read an attachment", [&]() -> Status {
      meta = server_.store->attachment(lane.principal, id);
      return Status::ok();
    });
    if (!s) return s;
  }
  // Upstream may hold it already (listed from a pulled record): nothing to pass on then.
  if (!meta || !meta->complete) return Status::ok();
  int64_t at = 0;
  auto copied = lane.client->add_attachment_as(id, meta->content_type, [&]() -> Result<std::string> {
    if (at >= meta->size) return std::string();
    std::lock_guard<std::mutex> lock(server_.db_mu);
    return storage::guarded("read attachment bytes", [&]() -> Result<std::string> {
      std::string piece = server_.blobs->read(lane.principal, id, at, std::min<int64_t>(kPiece, meta->size - at));
      if (piece.empty()) return Status::corrupt("the relay's copy of attachment " + id + " ends early");
      at += static_cast<int64_t>(piece.size());
      return piece;
    });
  });
  return copied.status();
}

Status Relay::fetch_attachment(const std::string& principal, const std::string& id) {
  auto lane = lane_of(principal);
  if (!lane) return Status::not_found("no attachment " + id + " here, and no upstream identity to fetch it with");
  bool listed = false;
  {
    std::lock_guard<std::mutex> lock(server_.db_mu);
    Status s = storage::guarded("look for an attachment's record", [&]() -> Status {
      listed = server_.store->lists_attachment(principal, id);
      return Status::ok();
    });
    if (!s) return s;
  }
  if (!listed) return Status::not_found("no attachment " + id + " here, and no record lists it");
  auto info = lane->client->attachment(id);
  if (!info || info->state == AttachmentState::kRemote) {
    if (Status s = lane->client->download_attachment(id); !s) return s;  // resumes where it stopped
    info = lane->client->attachment(id);
    if (!info) return info.status();
  }
  if (info->size < 0 || info->sha256.empty()) return Status::transient("attachment " + id + " is not whole upstream yet");
  // Into the relay's store, a piece at a time, checked against the SHA-256 upstream declared.
  storage::ServerStore::Attachment a;
  a.id = id;
  a.size = info->size;
  a.sha256 = info->sha256;
  a.content_type = info->content_type;
  a.created_at_ms = a.updated_at_ms = server_.clock.now_ms();
  Sha256 hash;
  auto put = [&](const std::string* piece) -> Status {
    std::lock_guard<std::mutex> lock(server_.db_mu);
    return storage::guarded("keep a fetched attachment", [&]() -> Status {
      storage::ServerTransaction tx(*server_.store);
      if (piece) {
        server_.blobs->write(principal, id, a.received, *piece);
        a.received += static_cast<int64_t>(piece->size());
      }
      a.complete = a.received == a.size;
      server_.store->put_attachment(principal, a);
      tx.commit();
      return Status::ok();
    });
  };
  if (Status s = put(nullptr); !s) return s;
  while (a.received < a.size) {
    auto piece = lane->client->read_attachment(id, a.received, std::min(kPiece, a.size - a.received));
    if (!piece) return piece.status();
    if (piece->empty()) return Status::corrupt("the relay's upstream copy of attachment " + id + " ends early");
    hash.update(*piece);
    if (a.received + static_cast<int64_t>(piece->size()) == a.size && hex(hash.finish()) != a.sha256) {
      std::lock_guard<std::mutex> lock(server_.db_mu);
      (void)storage::guarded("drop a fetched attachment", [&]() -> Status {
        server_.blobs->remove(principal, id);
        server_.store->delete_attachment(principal, id);
        return Status::ok();
      });
      return Status::corrupt("attachment " + id + " from upstream does not have its declared SHA-256");
    }
    if (Status s = put(&*piece); !s) return s;
  }
  return Status::ok();
}

Status Relay::fetch_attachment_within(const std::string& principal, const std::string& id, int64_t wait_ms) {
  const std::string key = principal + '\n' + id;
  std::unique_lock<std::mutex> lock(fetch_mu_);
  auto it = fetches_.find(key);
  if (it != fetches_.end() && it->second->done && !it->second->result.is_ok()) {
    // A failure nobody took (perhaps long ago): fetch again now rather than report it. Its thread
    // has set done, so it is only returning: joined under the lock it needs no more.
    if (it->second->thread.joinable()) it->second->thread.join();
    fetches_.erase(it);
    it = fetches_.end();
  }
  if (it == fetches_.end()) {
    if (fetches_stopped_) return Status::transient("the relay is stopping");
    size_t running = static_cast<size_t>(
        std::count_if(fetches_.begin(), fetches_.end(), [](const auto& f) { return !f.second->done; }));
    if (running >= kMaxFetches) {
      return Status::deadline_exceeded("the relay is fetching " + std::to_string(running) +
                                       " other files from upstream; ask again shortly");
    }
    auto fetch = std::make_shared<Fetch>();
    it = fetches_.emplace(key, fetch).first;
    fetch->thread = std::thread([this, fetch, principal, id] {
      Status result = fetch_attachment(principal, id);
      std::lock_guard<std::mutex> done(fetch_mu_);
      fetch->result = std::move(result);
      fetch->done = true;
      fetch_cv_.notify_all();
    });
  }
  std::shared_ptr<Fetch> fetch = it->second;
  fetch_cv_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(0, wait_ms)), [&] { return fetch->done; });
  if (!fetch->done) {
    return Status::deadline_exceeded("attachment " + id + " is being fetched from upstream; ask again shortly");
  }
  // Taken: the next GET fetches again if this one failed (it resumes where it stopped).
  Status result = fetch->result;
  std::thread finished = std::move(fetch->thread);
  if (auto current = fetches_.find(key); current != fetches_.end() && current->second == fetch) fetches_.erase(current);
  lock.unlock();
  if (finished.joinable()) finished.join();  // it has set done: it is returning
  return result;
}

void Relay::join_fetches() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(fetch_mu_);
    fetches_stopped_ = true;
    for (auto& [key, fetch] : fetches_) threads.push_back(std::move(fetch->thread));
  }
  for (auto& t : threads) {
    if (t.joinable()) t.join();  // a download in progress ends first, as a request in progress did
  }
}

}  // namespace offsync
