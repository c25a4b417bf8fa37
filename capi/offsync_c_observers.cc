// The C ABI: queries, live queries and sync observers, as JSON and callbacks.
#include "engine/client/json_forms.h"
#include "engine/client/query_json.h"
#include "capi/c_support.h"

using namespace offsync::capi;
using offsync::Status;

namespace {

std::optional<offsync::Query> query_argument(const char* query_json, offsync_error* error) {
  auto spec = json_argument(query_json, "query_json", error);
  if (!spec) return std::nullopt;
  auto q = offsync::query_from_json(*spec);
  if (!q) {
    set_status(error, q.status());
    return std::nullopt;
  }
  return *q;
}

class CSyncObserver final : public offsync::SyncObserver {
 public:
  explicit CSyncObserver(const offsync_sync_callbacks& c) : c_(c) {}
  void on_state(const offsync::SyncStatus& s) override {
    if (c_.on_state) c_.on_state(c_.context, std::string(offsync::sync_state_name(s.state)).c_str(), s.reason.c_str());
  }
  void on_rejected(const offsync::Mutation& m) override {
    if (c_.on_rejected) c_.on_rejected(c_.context, offsync::to_json(m).dump().c_str());
  }
  void on_conflict(const offsync::Mutation& m) override {
    if (c_.on_conflict) c_.on_conflict(c_.context, offsync::to_json(m).dump().c_str());
  }
  void on_view_changed(const std::vector<std::pair<std::string, std::string>>& records) override {
    if (!c_.on_view_changed) return;
    nlohmann::json out = nlohmann::json::array();
    for (const auto& [collection, id] : records) out.push_back({collection, id});
    c_.on_view_changed(c_.context, out.dump().c_str());
  }
  void on_progress(const offsync::SyncProgress& p) override {
    if (!c_.on_progress) return;
    const char* step = p.step == offsync::SyncProgress::Step::kPush   ? "push"
                       : p.step == offsync::SyncProgress::Step::kPull ? "pull"
                                                                        : "refresh";
    c_.on_progress(c_.context, step, p.done, p.total);
  }

 private:
  offsync_sync_callbacks c_;
};

}  // namespace

extern "C" {

char* offsync_client_query(offsync_client* client, const char* query_json, offsync_error* error) {
  return guarded<char*>(error, nullptr, [&]() -> char* {
    if (!required(error, "client", client)) return nullptr;
    auto q = query_argument(query_json, error);
    if (!q) return nullptr;
    return text_or_error(client->client->query(*q), error,
                         [](const std::vector<offsync::Record>& rows) { return offsync::to_json(rows).dump(); });
  });
}

int64_t offsync_client_count(offsync_client* client, const char* query_json, offsync_error* error) {
  return guarded<int64_t>(error, -1, [&]() -> int64_t {
    if (!required(error, "client", client)) return -1;
    auto q = query_argument(query_json, error);
    if (!q) return -1;
    return number_or_error(client->client->count(*q), error);
  });
}

offsync_observer* offsync_client_watch(offsync_client* client, const char* query_json, offsync_query_fn callback,
                                       void* context, offsync_error* error) {
  return guarded<offsync_observer*>(error, nullptr, [&]() -> offsync_observer* {
    if (!required(error, "client and callback", client, reinterpret_cast<const void*>(callback))) return nullptr;
    auto q = query_argument(query_json, error);
    if (!q) return nullptr;
    auto handle = client->client->watch(*q, [callback, context](const std::vector<offsync::Record>& result,
                                                                const offsync::QueryChange& change) {
      std::string rows = offsync::to_json(result).dump(), changed = offsync::to_json(change).dump();
      callback(context, rows.c_str(), changed.c_str());
    });
    if (!handle) {
      set_status(error, handle.status());
      return nullptr;
    }
    return new offsync_observer{*handle};
  });
}


offsync_observer* offsync_client_add_sync_observer(offsync_client* client, const offsync_sync_callbacks* callbacks,
                                                   offsync_error* error) {
  return guarded<offsync_observer*>(error, nullptr, [&]() -> offsync_observer* {
    if (!required(error, "client and callbacks", client, callbacks)) return nullptr;
    return new offsync_observer{client->client->add_observer(std::make_shared<CSyncObserver>(*callbacks))};
  });
}

void offsync_observer_remove(offsync_observer* observer) {
  if (!observer) return;
  try {
    observer->handle.remove();
  } catch (...) {
  }
  delete observer;
}

}  // extern "C"
