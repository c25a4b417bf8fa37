// The C ABI (include/offsync/offsync.h): each function's body is wrapped so that no exception
// crosses it; handles are the C++ objects; JSON text in and out.
#include "offsync/offsync.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "engine/client/json_forms.h"
#include "engine/client/query_json.h"
#include "offsync/byte_pipe.h"
#include "offsync/schema.h"
#include "offsync/client.h"
#include "offsync/server.h"
#include "offsync/transport.h"

struct offsync_server {
  std::unique_ptr<offsync::Server> server;
};

struct offsync_client {
  std::unique_ptr<offsync::Client> client;
};

struct offsync_observer {
  offsync::ObserverHandle handle;
};

namespace {

using offsync::Status;

void set_error(offsync_error* error, int32_t code, const std::string& message) {
  if (!error) return;
  error->code = code;
  size_t n = std::min(message.size(), sizeof error->message - 1);
  std::memcpy(error->message, message.data(), n);
  error->message[n] = '\0';
}

void set_status(offsync_error* error, const Status& s) {
  set_error(error, static_cast<int32_t>(s.code()), s.message());
}

// A string the caller owns (offsync_string_free).
char* owned(const std::string& text) {
  char* out = static_cast<char*>(std::malloc(text.size() + 1));
  if (!out) return nullptr;
  std::memcpy(out, text.data(), text.size());
  out[text.size()] = '\0';
  return out;
}

// Runs body; an exception becomes OFFSYNC_INTERNAL (or OFFSYNC_RESOURCE_EXHAUSTED when memory ran
// out) and the failure value.
template <typename T, typename Fn>
T guarded(offsync_error* error, T failure, Fn&& body) noexcept {
  set_error(error, OFFSYNC_OK, "");
  try {
    return body();
  } catch (const std::bad_alloc&) {
    set_error(error, OFFSYNC_RESOURCE_EXHAUSTED, "out of memory");
  } catch (const std::exception& e) {
    set_error(error, OFFSYNC_INTERNAL, e.what());
  } catch (...) {
    set_error(error, OFFSYNC_INTERNAL, "unknown failure");
  }
  return failure;
}

bool present(const char* text) { return text && *text; }

// A JSON argument, or an OFFSYNC_INVALID_ARGUMENT naming it.
std::optional<nlohmann::json> json_argument(const char* text, const char* name, offsync_error* error) {
  if (!text) {
    set_error(error, OFFSYNC_INVALID_ARGUMENT, std::string(name) + " is NULL");
    return std::nullopt;
  }
  auto value = nlohmann::json::parse(text, nullptr, false);
  if (value.is_discarded()) {
    set_error(error, OFFSYNC_INVALID_ARGUMENT, std::string(name) + " is not JSON");
    return std::nullopt;
  }
  return value;
}

char* id_or_error(const offsync::Result<std::string>& r, offsync_error* error) {
  if (!r) {
    set_status(error, r.status());
    return nullptr;
  }
  return owned(*r);
}

}  // namespace

extern "C" {

bool offsync_error_is_transient(const offsync_error* error) {
  return error && (error->code == OFFSYNC_TRANSIENT || error->code == OFFSYNC_DEADLINE_EXCEEDED);
}

void offsync_string_free(char* text) { std::free(text); }

offsync_server* offsync_server_open(const char* db_path, offsync_error* error) {
  offsync_server_options options{};
  options.db_path = db_path;
  return offsync_server_open_with(&options, error);
}

offsync_server* offsync_server_open_with(const offsync_server_options* options, offsync_error* error) {
  return guarded<offsync_server*>(error, nullptr, [&]() -> offsync_server* {
    if (!options || (!present(options->db_path) && !present(options->postgres))) {
      set_error(error, OFFSYNC_INVALID_ARGUMENT, "options->db_path (or options->postgres) is required");
      return nullptr;
    }
    offsync::ServerOptions o;
    if (present(options->db_path)) o.db_path = options->db_path;
    if (present(options->postgres)) o.postgres = options->postgres;
    if (present(options->attachments_dir)) o.attachments_dir = options->attachments_dir;
    o.require_auth = options->require_auth;
    if (options->durability_normal) o.durability = offsync::Durability::kNormal;
    if (present(options->schema_json)) {
      auto schema = offsync::Schema::parse(options->schema_json);
      if (!schema) {
        set_status(error, schema.status());
        return nullptr;
      }
      o.schema = std::move(*schema);
    }
    if (present(options->upstream_url)) {
      auto transport = offsync::make_curl_transport({.base_url = options->upstream_url});
      if (!transport) {
        set_status(error, transport.status());
        return nullptr;
      }
      o.upstream.transport = std::shared_ptr<offsync::Transport>(std::move(*transport));
      if (present(options->upstream_token)) o.upstream.sync.token = options->upstream_token;
    }
    auto server = offsync::Server::open(std::move(o));
    if (!server) {
      set_status(error, server.status());
      return nullptr;
    }
    return new offsync_server{std::move(*server)};
  });
}

void offsync_server_free(offsync_server* server) {
  try {
    delete server;
  } catch (...) {
  }
}

char* offsync_server_handle_bytes(offsync_server* server, const uint8_t* request, size_t request_size,
                                  size_t* response_size) {
  return guarded<char*>(nullptr, nullptr, [&]() -> char* {
    std::string bytes = server && (request || request_size == 0)
                            ? offsync::serve_http_bytes(*server->server,
                                                        std::string_view(reinterpret_cast<const char*>(request), request_size))
                            : std::string("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
    if (response_size) *response_size = bytes.size();
    return owned(bytes);
  });
}

char* offsync_server_stats(offsync_server* server, offsync_error* error) {
  return guarded<char*>(error, nullptr, [&]() -> char* {
    if (!server) {
      set_error(error, OFFSYNC_INVALID_ARGUMENT, "server is NULL");
      return nullptr;
    }
    auto stats = server->server->stats();
    if (!stats) {
      set_status(error, stats.status());
      return nullptr;
    }
    nlohmann::json out = {{"mutations_applied", stats->mutations_applied}, {"replays", stats->replays},
                          {"idempotency_keys", stats->idempotency_keys}, {"changes", stats->changes},
                          {"tombstones", stats->tombstones},           {"last_seq", stats->last_seq},
                          {"compacted_seq", stats->compacted_seq},     {"cursor_version", stats->cursor_version}};
    return owned(out.dump());
  });
}

offsync_client* offsync_client_open(const offsync_client_options* options, offsync_error* error) {
  return guarded<offsync_client*>(error, nullptr, [&]() -> offsync_client* {
    if (!options || !present(options->path)) {
      set_error(error, OFFSYNC_INVALID_ARGUMENT, "options->path is empty");
      return nullptr;
    }
    offsync::ClientOptions o{.path = options->path};
    if (options->durability_normal) o.durability = offsync::Durability::kNormal;
    o.sync.background = options->background;
    if (options->exchange) {
      offsync_exchange_fn exchange = options->exchange;
      void* context = options->exchange_context;
      o.sync.transport = std::shared_ptr<offsync::Transport>(offsync::make_byte_pipe_transport(
          [exchange, context](const std::string& request) -> offsync::Result<std::string> {
            uint8_t* response = nullptr;
            size_t size = 0;
            bool ok = exchange(context, reinterpret_cast<const uint8_t*>(request.data()), request.size(), &response, &size);
            std::string bytes = ok && response ? std::string(reinterpret_cast<const char*>(response), size) : std::string();
            std::free(response);
            if (!ok) return Status::transient("the app's exchange callback could not reach the provider");
            return bytes;
          }));
    } else if (options->in_process_server) {
      o.sync.transport = std::shared_ptr<offsync::Transport>(
          offsync::make_in_process_transport(*options->in_process_server->server));
    } else if (present(options->server_url)) {
      offsync::CurlTransportOptions curl{.base_url = options->server_url};
      if (present(options->unix_socket)) curl.unix_socket = options->unix_socket;
      auto transport = offsync::make_curl_transport(curl);
      if (!transport) {
        set_status(error, transport.status());
        return nullptr;
      }
      o.sync.transport = std::shared_ptr<offsync::Transport>(std::move(*transport));
    }
    auto client = offsync::Client::open(std::move(o));
    if (!client) {
      set_status(error, client.status());
      return nullptr;
    }
    return new offsync_client{std::move(*client)};
  });
}

void offsync_client_free(offsync_client* client) {
  try {
    delete client;
  } catch (...) {
  }
}

char* offsync_client_put(offsync_client* client, const char* collection, const char* record_id,
                         const char* fields_json, offsync_error* error) {
  return guarded<char*>(error, nullptr, [&]() -> char* {
    auto fields = json_argument(fields_json, "fields_json", error);
    if (!client || !collection || !record_id) {
      set_error(error, OFFSYNC_INVALID_ARGUMENT, "client, collection and record_id are required");
      return nullptr;
    }
    if (!fields) return nullptr;
    return id_or_error(client->client->put(collection, record_id, *fields), error);
  });
}

char* offsync_client_patch(offsync_client* client, const char* collection, const char* record_id,
                           const char* merge_patch_json, offsync_error* error) {
  return guarded<char*>(error, nullptr, [&]() -> char* {
    auto patch = json_argument(merge_patch_json, "merge_patch_json", error);
    if (!client || !collection || !record_id) {
      set_error(error, OFFSYNC_INVALID_ARGUMENT, "client, collection and record_id are required");
      return nullptr;
    }
    if (!patch) return nullptr;
    return id_or_error(client->client->patch(collection, record_id, *patch), error);
  });
}

char* offsync_client_remove(offsync_client* client, const char* collection, const char* record_id,
                            offsync_error* error) {
  return guarded<char*>(error, nullptr, [&]() -> char* {
    if (!client || !collection || !record_id) {
      set_error(error, OFFSYNC_INVALID_ARGUMENT, "client, collection and record_id are required");
      return nullptr;
    }
    return id_or_error(client->client->remove(collection, record_id), error);
  });
}

char* offsync_client_get(offsync_client* client, const char* collection, const char* record_id,
                         offsync_error* error) {
  return guarded<char*>(error, nullptr, [&]() -> char* {
    if (!client || !collection || !record_id) {
      set_error(error, OFFSYNC_INVALID_ARGUMENT, "client, collection and record_id are required");
      return nullptr;
    }
    auto record = client->client->get(collection, record_id);
    if (!record) {
      set_status(error, record.status());
      return nullptr;
    }
    return owned(record->fields.dump());
  });
}

char* offsync_client_outbox(offsync_client* client, offsync_error* error) {
  return guarded<char*>(error, nullptr, [&]() -> char* {
    if (!client) {
      set_error(error, OFFSYNC_INVALID_ARGUMENT, "client is NULL");
      return nullptr;
    }
    auto outbox = client->client->outbox();
    if (!outbox) {
      set_status(error, outbox.status());
      return nullptr;
    }
    nlohmann::json out = nlohmann::json::array();
    for (const auto& m : *outbox) out.push_back(offsync::to_json(m));
    return owned(out.dump());
  });
}

char* offsync_client_sync(offsync_client* client, offsync_error* error) {
  return guarded<char*>(error, nullptr, [&]() -> char* {
    if (!client) {
      set_error(error, OFFSYNC_INVALID_ARGUMENT, "client is NULL");
      return nullptr;
    }
    auto report = client->client->sync_once();
    if (!report) {
      set_status(error, report.status());
      return nullptr;
    }
    return owned(offsync::to_json(*report).dump());
  });
}

bool offsync_client_wait_until_synced(offsync_client* client, int64_t timeout_ms, offsync_error* error) {
  return guarded<bool>(error, false, [&]() -> bool {
    if (!client) {
      set_error(error, OFFSYNC_INVALID_ARGUMENT, "client is NULL");
      return false;
    }
    Status s = client->client->wait_until_synced(timeout_ms);
    if (!s) set_status(error, s);
    return s.is_ok();
  });
}

char* offsync_client_add_attachment_file(offsync_client* client, const char* path, const char* content_type,
                                         offsync_error* error) {
  return guarded<char*>(error, nullptr, [&]() -> char* {
    if (!client || !path || !content_type) {
      set_error(error, OFFSYNC_INVALID_ARGUMENT, "client, path and content_type are required");
      return nullptr;
    }
    return id_or_error(client->client->add_attachment_file(path, content_type), error);
  });
}

char* offsync_client_put_attached(offsync_client* client, const char* collection, const char* record_id,
                                  const char* fields_json, const char* attachment_ids_json, offsync_error* error) {
  return guarded<char*>(error, nullptr, [&]() -> char* {
    auto fields = json_argument(fields_json, "fields_json", error);
    if (!fields) return nullptr;
    auto ids = json_argument(attachment_ids_json, "attachment_ids_json", error);
    if (!ids) return nullptr;
    if (!client || !collection || !record_id || !ids->is_array() ||
        !std::all_of(ids->begin(), ids->end(), [](const nlohmann::json& v) { return v.is_string(); })) {
      set_error(error, OFFSYNC_INVALID_ARGUMENT,
                "client, collection, record_id and a JSON array of attachment ids are required");
      return nullptr;
    }
    offsync::WriteOptions write;
    write.attachments = ids->get<std::vector<std::string>>();
    return id_or_error(client->client->put(collection, record_id, *fields, write), error);
  });
}

char* offsync_client_attachment(offsync_client* client, const char* id, offsync_error* error) {
  return guarded<char*>(error, nullptr, [&]() -> char* {
    if (!client || !id) {
      set_error(error, OFFSYNC_INVALID_ARGUMENT, "client and id are required");
      return nullptr;
    }
    auto info = client->client->attachment(id);
    if (!info) {
      set_status(error, info.status());
      return nullptr;
    }
    nlohmann::json out = {{"id", info->id},
                          {"size", info->size},
                          {"sha256", info->sha256},
                          {"content_type", info->content_type},
                          {"state", offsync::attachment_state_name(info->state)},
                          {"local_bytes", info->local_bytes},
                          {"sent_bytes", info->sent_bytes},
                          {"last_error", info->last_error}};
    return owned(out.dump());
  });
}

bool offsync_client_download_attachment(offsync_client* client, const char* id, offsync_error* error) {
  return guarded<bool>(error, false, [&]() -> bool {
    if (!client || !id) {
      set_error(error, OFFSYNC_INVALID_ARGUMENT, "client and id are required");
      return false;
    }
    Status s = client->client->download_attachment(id);
    if (!s) set_status(error, s);
    return s.is_ok();
  });
}

bool offsync_client_export_attachment(offsync_client* client, const char* id, const char* path, offsync_error* error) {
  return guarded<bool>(error, false, [&]() -> bool {
    if (!client || !id || !path) {
      set_error(error, OFFSYNC_INVALID_ARGUMENT, "client, id and path are required");
      return false;
    }
    Status s = client->client->export_attachment(id, path);
    if (!s) set_status(error, s);
    return s.is_ok();
  });
}

bool offsync_client_discard(offsync_client* client, const char* mutation_id, offsync_error* error) {
  return guarded<bool>(error, false, [&]() -> bool {
    if (!client || !mutation_id) {
      set_error(error, OFFSYNC_INVALID_ARGUMENT, "client and mutation_id are required");
      return false;
    }
    Status s = client->client->discard(mutation_id);
    if (!s) set_status(error, s);
    return s.is_ok();
  });
}

bool offsync_client_resolve(offsync_client* client, const char* mutation_id, int resolution, const char* edited_json,
                            offsync_error* error) {
  return guarded<bool>(error, false, [&]() -> bool {
    if (!client || !mutation_id || resolution < OFFSYNC_KEEP_MINE || resolution > OFFSYNC_EDITED) {
      set_error(error, OFFSYNC_INVALID_ARGUMENT, "client, mutation_id and a resolution (0, 1 or 2) are required");
      return false;
    }
    nlohmann::json edited;
    if (resolution == OFFSYNC_EDITED) {
      auto parsed = json_argument(edited_json, "edited_json", error);
      if (!parsed) return false;
      edited = std::move(*parsed);
    }
    Status s = client->client->resolve(mutation_id, static_cast<offsync::Resolution>(resolution), edited);
    if (!s) set_status(error, s);
    return s.is_ok();
  });
}

bool offsync_client_sign_in(offsync_client* client, const char* user, const char* access_token,
                            const char* refresh_token, offsync_error* error) {
  return guarded<bool>(error, false, [&]() -> bool {
    if (!client || !present(user) || !present(access_token)) {
      set_error(error, OFFSYNC_INVALID_ARGUMENT, "client, user and access_token are required");
      return false;
    }
    Status s = client->client->sign_in({user, access_token, refresh_token ? refresh_token : ""});
    if (!s) set_status(error, s);
    return s.is_ok();
  });
}

int64_t offsync_client_sign_out(offsync_client* client, offsync_error* error) {
  return guarded<int64_t>(error, -1, [&]() -> int64_t {
    if (!client) {
      set_error(error, OFFSYNC_INVALID_ARGUMENT, "client is NULL");
      return -1;
    }
    auto dropped = client->client->sign_out();
    if (!dropped) {
      set_status(error, dropped.status());
      return -1;
    }
    return *dropped;
  });
}

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

}  // namespace

char* offsync_client_query(offsync_client* client, const char* query_json, offsync_error* error) {
  return guarded<char*>(error, nullptr, [&]() -> char* {
    if (!client) {
      set_error(error, OFFSYNC_INVALID_ARGUMENT, "client is NULL");
      return nullptr;
    }
    auto q = query_argument(query_json, error);
    if (!q) return nullptr;
    auto rows = client->client->query(*q);
    if (!rows) {
      set_status(error, rows.status());
      return nullptr;
    }
    return owned(offsync::to_json(*rows).dump());
  });
}

int64_t offsync_client_count(offsync_client* client, const char* query_json, offsync_error* error) {
  return guarded<int64_t>(error, -1, [&]() -> int64_t {
    if (!client) {
      set_error(error, OFFSYNC_INVALID_ARGUMENT, "client is NULL");
      return -1;
    }
    auto q = query_argument(query_json, error);
    if (!q) return -1;
    auto n = client->client->count(*q);
    if (!n) {
      set_status(error, n.status());
      return -1;
    }
    return *n;
  });
}

offsync_observer* offsync_client_watch(offsync_client* client, const char* query_json, offsync_query_fn callback,
                                       void* context, offsync_error* error) {
  return guarded<offsync_observer*>(error, nullptr, [&]() -> offsync_observer* {
    if (!client || !callback) {
      set_error(error, OFFSYNC_INVALID_ARGUMENT, "client and callback are required");
      return nullptr;
    }
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

namespace {

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

 private:
  offsync_sync_callbacks c_;
};

}  // namespace

offsync_observer* offsync_client_add_sync_observer(offsync_client* client, const offsync_sync_callbacks* callbacks,
                                                   offsync_error* error) {
  return guarded<offsync_observer*>(error, nullptr, [&]() -> offsync_observer* {
    if (!client || !callbacks) {
      set_error(error, OFFSYNC_INVALID_ARGUMENT, "client and callbacks are required");
      return nullptr;
    }
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
