// GET /v1/sync: the change log by signed, versioned cursor, page by page, the stored records
// spliced into the page as they are.
#include "engine/server/mutation_request.h"
#include <algorithm>

#include "engine/server/server_impl.h"

namespace offsync {

using nlohmann::json;
using storage::ServerTransaction;

Answer Server::Impl::sync(const HttpRequest& r, const std::string& principal) {
  int64_t limit = options.default_sync_limit;
  if (auto text = r.query("limit")) {
    try {
      size_t used = 0;
      limit = std::stoll(*text, &used);
      if (used != text->size() || limit < 1) throw std::invalid_argument("limit");
    } catch (const std::exception&) {
      return error(400, "invalid_limit", "limit must be a whole number from 1 to " + std::to_string(options.max_sync_limit));
    }
    limit = std::min(limit, options.max_sync_limit);
  }
  if (auto wait = r.query("wait")) {
    bool ok = !wait->empty() && wait->size() <= 2 && std::all_of(wait->begin(), wait->end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!ok || std::stoll(*wait) > kMaxSyncWaitS) {
      return error(400, "invalid_wait", "wait is a whole number of seconds from 0 to " + std::to_string(kMaxSyncWaitS));
    }
  }
  std::lock_guard<std::mutex> lock(db_mu);
  return guarded_answer([&]() -> Answer {
    CursorCodec codec = load_codec();
    int64_t after = 0;
    if (auto text = r.query("cursor"); text && !text->empty()) {
      CursorPosition pos;
      switch (codec.decode(*text, principal, &pos)) {
        case CursorCheck::kTampered: return error(400, "invalid_cursor", "the cursor is not one this server issued");
        case CursorCheck::kRetired:
          return error(410, "cursor_expired", "the cursor's encoding was retired: refresh fully", "cursor");
        case CursorCheck::kValid: break;
      }
      int64_t compacted = std::stoll(store->meta("compacted_seq").value_or("0"));
      if (pos.seq < compacted) {
        return error(410, "cursor_expired", "the change log was compacted past this cursor: refresh fully", "cursor");
      }
      after = pos.seq;
    }
    auto changes = store->changes_after_text(principal, after, limit + 1);
    bool has_more = static_cast<int64_t>(changes.size()) > limit;
    if (has_more) changes.pop_back();
    // The stored JSON members are spliced in as they are: a page is never parsed and re-dumped.
    std::string page = "{\"changes\":[";
    for (size_t i = 0; i < changes.size(); ++i) {
      if (i > 0) page += ',';
      const auto& c = changes[i];
      page += record_text(c.record, c.fields, c.field_hlc, c.attachments);
    }
    int64_t position = changes.empty() ? after : changes.back().record.seq;
    bool empty = changes.empty() && !has_more;
    page += ']';
    if (std::string sender = sender_of(r); relay && !sender.empty()) {
      // What upstream answered about mutations the relay had accepted (docs/protocol.md, "Relays"):
      // up to the page's last change, or to the end of the log on the last page.
      auto outcomes = store->relay_outcomes(principal, sender, after, has_more ? position : INT64_MAX);
      if (!outcomes.empty()) {
        empty = false;
        page += ",\"outcomes\":[";
        for (size_t i = 0; i < outcomes.size(); ++i) page += (i > 0 ? "," : "") + outcomes[i].second;
        page += ']';
        if (!has_more) position = std::max(position, outcomes.back().first);
        has_more = has_more || outcomes.size() == 1000;
        if (outcomes.size() == 1000) position = outcomes.back().first;
      }
    }
    page += ",\"cursor\":" + json(codec.encode(position, principal)).dump() +
            ",\"has_more\":" + (has_more ? "true" : "false") + "}";
    Answer a{200, std::move(page)};
    a.empty_page = empty;
    return a;
  });
}

// Cursor keys are read per request: `offsync admin rotate-cursor` may run in another process.
CursorCodec Server::Impl::load_codec() {
  std::map<uint32_t, std::string> secrets;
  std::map<uint32_t, bool> retired;
  uint32_t current = 0;
  for (const auto& k : store->cursor_keys()) {
    secrets[k.version] = k.secret;
    retired[k.version] = k.retired;
    current = std::max(current, k.version);
  }
  return CursorCodec(std::move(secrets), current, std::move(retired));
}

void Server::Impl::add_cursor_key(uint32_t version) {
  std::string secret(32, '\0');
  random.fill(std::span<uint8_t>(reinterpret_cast<uint8_t*>(secret.data()), secret.size()));
  store->add_cursor_key({version, secret, false});
  store->retire_cursor_keys_below(version);
}

}  // namespace offsync
