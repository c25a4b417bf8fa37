// The Server API: opening the store, and the admin operations (stats, compact, cursor rotation,
// key sweep). Requests go through router.cc.
#include <algorithm>
#include <filesystem>

#include "engine/common/crypto.h"
#include "engine/server/server_impl.h"
#include "storage/client_store.h"
#include "offsync/hlc.h"

namespace offsync {

using storage::guarded;
using storage::ServerTransaction;

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() {
  // Held long polls are answered while everything they use is still here (the relay's thread may
  // still report changes: it finds no long polls).
  std::unique_ptr<LongPolls> polls;
  {
    std::lock_guard<std::mutex> lock(impl_->polls_mu);
    polls = std::move(impl_->polls);
  }
  polls.reset();
}

Result<std::unique_ptr<Server>> Server::open(ServerOptions options) {
  if (options.upstream.transport && Relay::client_path(options, "").empty()) {
    // Checked before any store is opened (a PostgreSQL connection can take long to fail). Found by
    // the e2e suite on PostgreSQL: the default was ".upstream" in the working directory, one file
    // every such relay started there shared (stale cursors, another relay's outbox).
    return Status::invalid_argument(
        "a relay on PostgreSQL keeps its upstream client (outbox, cursor) in a local SQLite file: set "
        "UpstreamOptions::client_path (`offsync serve --upstream-db PATH`)");
  }
  storage::DatabaseOptions db_options{options.db_path, options.durability};
  db_options.vfs = options.vfs;
  auto store = options.postgres.empty() ? storage::ServerStore::open(db_options)
                                         : storage::ServerStore::open_postgres(options.postgres);
  if (!store) return store.status();
  std::unique_ptr<AttachmentBlobs> dir_blobs;
  if (!options.attachments_dir.empty()) {
    auto blobs = directory_blobs(options.attachments_dir);
    if (!blobs) return blobs.status();
    dir_blobs = std::move(*blobs);
  }
  if (options.attachment_chunk_size <= 0) return Status::invalid_argument("attachment_chunk_size must be positive");
  // A chunk travels as one request body.
  options.attachment_chunk_size = std::min<int64_t>(options.attachment_chunk_size, static_cast<int64_t>(options.max_body_bytes));
  auto impl = std::make_unique<Impl>(std::move(options), std::move(*store));
  impl->blobs = dir_blobs ? std::move(dir_blobs) : store_blobs(impl->store);
  Status ready = guarded("open server store", [&]() -> Status {
    ServerTransaction tx(*impl->store);
    std::string node = impl->options.node_id;
    if (node.empty()) {
      auto stored = impl->store->meta("node_id");
      if (!stored) {
        std::array<uint8_t, 4> bytes{};
        impl->random.fill(bytes);
        stored = hex(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
        impl->store->set_meta("node_id", *stored);
      }
      node = *stored;
    }
    impl->hlc = std::make_unique<HlcClock>(impl->clock, node);
    if (auto newest = impl->store->max_hlc()) {
      if (auto parsed = Hlc::parse(*newest)) impl->hlc->observe(*parsed);
    }
    if (impl->store->cursor_keys().empty()) impl->add_cursor_key(1);
    tx.commit();
    return Status::ok();
  });
  if (!ready) return ready;
  if (impl->options.upstream.transport) {
    auto relay = Relay::start(*impl);
    if (!relay) return relay.status();
    impl->relay = std::move(*relay);
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

bool Server::has_upstream_work() const { return impl_->relay && impl_->relay->has_work(); }

Status Server::run_relay_once() {
  if (!impl_->relay) return Status::invalid_argument("this server is not a relay (no ServerOptions::upstream)");
  if (!impl_->options.upstream.manual) {
    return Status::invalid_argument("the relay runs its own threads (UpstreamOptions::manual is false)");
  }
  impl_->relay->run_once();
  return Status::ok();
}

Status Server::set_upstream_credentials(const std::string& principal, const Credentials& credentials) {
  if (credentials.user.empty()) return Status::invalid_argument("the upstream identity needs its upstream user");
  if (credentials.access_token.empty()) return Status::invalid_argument("the upstream identity needs an access token");
  if (principal.empty() && (impl_->options.require_auth || impl_->options.authenticate)) {
    return Status::invalid_argument("with auth every local user has a principal: name it");
  }
  Status s = [&] {
    std::lock_guard<std::mutex> lock(impl_->db_mu);
    return guarded("store an upstream identity", [&]() -> Status {
      ServerTransaction tx(*impl_->store);
      impl_->store->put_relay_identity(principal, credentials.user, credentials.access_token,
                                       credentials.refresh_token);
      tx.commit();
      return Status::ok();
    });
  }();
  if (s && impl_->relay) impl_->relay->identities_changed();
  return s;
}

Result<ServerStats> Server::stats() {
  std::vector<std::string> principals;
  auto stats = [&] {
    std::lock_guard<std::mutex> lock(impl_->db_mu);
    return guarded("stats", [&]() -> Result<ServerStats> {
      auto c = impl_->store->counts();
      ServerStats out{c.mutations_applied, c.idempotency_keys, c.replays,       c.changes,
                      c.tombstones,        c.last_seq,         c.compacted_seq, impl_->load_codec().current_version()};
      out.relay_handed_over = impl_->store->forward_count();
      if (auto contact = impl_->store->meta("relay.last_contact")) {
        char* end = nullptr;
        long long ms = std::strtoll(contact->c_str(), &end, 10);
        if (end && *end == '\0' && ms > 0) out.relay_last_upstream_contact_ms = ms;
      }
      for (const auto& identity : impl_->store->relay_identities()) principals.push_back(identity.principal);
      out.relay_upstream_identities = static_cast<int64_t>(principals.size());
      return out;
    });
  }();
  if (!stats) return stats;
  // The upstream outboxes: the running relay's clients, or (from `offsync admin stats`) their stores.
  std::optional<OutboxSummary> upstream;
  if (impl_->relay) {
    upstream = impl_->relay->upstream_summary();
  } else {
    for (const auto& path : Relay::client_paths(impl_->options, principals)) {
      if (!std::filesystem::exists(path)) continue;
      auto s = storage::peek_outbox(path);
      if (!s) continue;
      if (!upstream) upstream = OutboxSummary{};
      add_outbox_summary(*upstream, *s);
    }
  }
  stats->long_polls_held = impl_->long_polls_held();
  stats->relay = impl_->relay || upstream || stats->relay_handed_over > 0 || stats->relay_upstream_identities > 0;
  if (upstream) {
    stats->relay_upstream_pending = upstream->pending;
    stats->relay_oldest_pending_created_at_ms = upstream->oldest_pending_created_at_ms;
  }
  return stats;
}

Result<int64_t> Server::compact(int64_t before_ms) {
  std::lock_guard<std::mutex> lock(impl_->db_mu);
  return guarded("compact", [&]() -> Result<int64_t> {
    ServerTransaction tx(*impl_->store);
    auto purge = impl_->store->purge_tombstones(before_ms);
    int64_t compacted = std::stoll(impl_->store->meta("compacted_seq").value_or("0"));
    if (purge.max_seq > compacted) impl_->store->set_meta("compacted_seq", std::to_string(purge.max_seq));
    tx.commit();
    return purge.removed;
  });
}

Status Server::rotate_cursor() {
  std::lock_guard<std::mutex> lock(impl_->db_mu);
  return guarded("rotate cursor", [&]() -> Status {
    ServerTransaction tx(*impl_->store);
    impl_->add_cursor_key(impl_->load_codec().current_version() + 1);
    tx.commit();
    return Status::ok();
  });
}

Result<int64_t> Server::collect_attachments() {
  std::lock_guard<std::mutex> lock(impl_->db_mu);
  return guarded("collect attachments", [&]() -> Result<int64_t> {
    ServerTransaction tx(*impl_->store);
    int64_t removed = impl_->collect_attachments(impl_->clock.now_ms());
    tx.commit();
    return removed;
  });
}

Result<int64_t> Server::sweep_idempotency_keys() {
  std::lock_guard<std::mutex> lock(impl_->db_mu);
  return guarded("sweep", [&]() -> Result<int64_t> {
    impl_->last_sweep_ms = impl_->clock.now_ms();
    int64_t before = impl_->last_sweep_ms - impl_->options.idempotency_retention_ms;
    impl_->store->sweep_relay(before);
    return impl_->store->sweep_answers(before);
  });
}

}  // namespace offsync
