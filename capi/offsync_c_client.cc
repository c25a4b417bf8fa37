// The C ABI: clients: open, writes, reads, outbox, sync, attachments, conflicts, sign-in.
#include <algorithm>

#include "engine/client/json_forms.h"
#include "offsync/byte_pipe.h"
#include "offsync/transport.h"
#include "capi/c_support.h"

using namespace offsync::capi;
using offsync::Status;

namespace {

// A transport over the app's exchange callback (a Binder or XPC shim).
std::shared_ptr<offsync::Transport> callback_transport(offsync_exchange_fn exchange, void* context,
                                                       void (*cancel)(void*)) {
  std::function<void()> cancel_fn;
  if (cancel) cancel_fn = [cancel, context] { cancel(context); };
  return std::shared_ptr<offsync::Transport>(offsync::make_byte_pipe_transport(
      [exchange, context](const std::string& request) -> offsync::Result<std::string> {
        uint8_t* response = nullptr;
        size_t size = 0;
        bool ok = exchange(context, reinterpret_cast<const uint8_t*>(request.data()), request.size(), &response, &size);
        std::string bytes = ok && response ? std::string(reinterpret_cast<const char*>(response), size) : std::string();
        std::free(response);
        if (!ok) return Status::transient("the app's exchange callback could not reach the provider");
        return bytes;
      },
      std::move(cancel_fn)));
}

// The client's transports from its options; false (and the error) when they cannot be made.
bool set_transport(const offsync_client_options& options, offsync::SyncOptions& sync, offsync_error* error) {
  if (options.watch_wait_s > 60) {
    set_error(error, OFFSYNC_INVALID_ARGUMENT, "options->watch_wait_s is over 60");
    return false;
  }
  if (options.watch_wait_s != 0) sync.watch_wait_s = std::max<int64_t>(options.watch_wait_s, 0);  // < 0: off
  if (options.watch_exchange) {
    sync.watch_transport = callback_transport(options.watch_exchange, options.watch_context, options.watch_cancel);
  }
  if (options.exchange) {
    sync.transport = callback_transport(options.exchange, options.exchange_context, nullptr);
  } else if (options.in_process_server) {
    sync.transport = std::shared_ptr<offsync::Transport>(
        offsync::make_in_process_transport(*options.in_process_server->server));
  } else if (present(options.server_url)) {
    offsync::CurlTransportOptions curl{.base_url = options.server_url};
    if (present(options.unix_socket)) curl.unix_socket = options.unix_socket;
    auto transport = offsync::make_curl_transport(curl);
    if (!transport) {
      set_status(error, transport.status());
      return false;
    }
    sync.transport = std::shared_ptr<offsync::Transport>(std::move(*transport));
  }
  return true;
}

// The ids of the attachments a record lists, from the app's JSON array.
bool ids_argument(const char* ids_json, std::vector<std::string>& ids, offsync_error* error) {
  auto parsed = json_argument(ids_json, "attachment_ids_json", error);
  if (!parsed) return false;
  if (!parsed->is_array() ||
      !std::all_of(parsed->begin(), parsed->end(), [](const nlohmann::json& v) { return v.is_string(); })) {
    set_error(error, OFFSYNC_INVALID_ARGUMENT, "attachment_ids_json is not a JSON array of attachment ids");
    return false;
  }
  ids = parsed->get<std::vector<std::string>>();
  return true;
}

}  // namespace

extern "C" {

offsync_client* offsync_client_open(const offsync_client_options* options, offsync_error* error) {
  return guarded<offsync_client*>(error, nullptr, [&]() -> offsync_client* {
    if (!required(error, "options", options)) return nullptr;
    if (!present(options->path)) {
      set_error(error, OFFSYNC_INVALID_ARGUMENT, "options->path is empty");
      return nullptr;
    }
    offsync::ClientOptions o{.path = options->path};
    if (options->durability_normal) o.durability = offsync::Durability::kNormal;
    o.sync.background = options->background;
    if (!set_transport(*options, o.sync, error)) return nullptr;
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
    if (!required(error, "client, collection and record_id", client, collection, record_id)) return nullptr;
    auto fields = json_argument(fields_json, "fields_json", error);
    if (!fields) return nullptr;
    return id_or_error(client->client->put(collection, record_id, *fields), error);
  });
}

char* offsync_client_patch(offsync_client* client, const char* collection, const char* record_id,
                           const char* merge_patch_json, offsync_error* error) {
  return guarded<char*>(error, nullptr, [&]() -> char* {
    if (!required(error, "client, collection and record_id", client, collection, record_id)) return nullptr;
    auto patch = json_argument(merge_patch_json, "merge_patch_json", error);
    if (!patch) return nullptr;
    return id_or_error(client->client->patch(collection, record_id, *patch), error);
  });
}

char* offsync_client_remove(offsync_client* client, const char* collection, const char* record_id,
                            offsync_error* error) {
  return guarded<char*>(error, nullptr, [&]() -> char* {
    if (!required(error, "client, collection and record_id", client, collection, record_id)) return nullptr;
    return id_or_error(client->client->remove(collection, record_id), error);
  });
}

char* offsync_client_get(offsync_client* client, const char* collection, const char* record_id,
                         offsync_error* error) {
  return guarded<char*>(error, nullptr, [&]() -> char* {
    if (!required(error, "client, collection and record_id", client, collection, record_id)) return nullptr;
    return text_or_error(client->client->get(collection, record_id), error,
                         [](const offsync::Record& r) { return r.fields.dump(); });
  });
}

char* offsync_client_outbox(offsync_client* client, offsync_error* error) {
  return guarded<char*>(error, nullptr, [&]() -> char* {
    if (!required(error, "client", client)) return nullptr;
    return text_or_error(client->client->outbox(), error, [](const std::vector<offsync::Mutation>& outbox) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& m : outbox) out.push_back(offsync::to_json(m));
      return out.dump();
    });
  });
}

char* offsync_client_sync(offsync_client* client, offsync_error* error) {
  return guarded<char*>(error, nullptr, [&]() -> char* {
    if (!required(error, "client", client)) return nullptr;
    return text_or_error(client->client->sync_once(), error,
                         [](const offsync::SyncReport& r) { return offsync::to_json(r).dump(); });
  });
}

void offsync_client_sync_now(offsync_client* client) {
  try {
    if (client) client->client->sync_now();
  } catch (...) {
  }
}

bool offsync_client_set_connectivity(offsync_client* client, int connectivity, offsync_error* error) {
  return guarded<bool>(error, false, [&]() -> bool {
    if (!required(error, "client", client)) return false;
    if (connectivity < OFFSYNC_ONLINE || connectivity > OFFSYNC_METERED) {
      set_error(error, OFFSYNC_INVALID_ARGUMENT, "connectivity is not OFFSYNC_ONLINE, OFFSYNC_OFFLINE or OFFSYNC_METERED");
      return false;
    }
    static constexpr offsync::Connectivity kinds[] = {offsync::Connectivity::kOnline, offsync::Connectivity::kOffline,
                                                      offsync::Connectivity::kMetered};
    client->client->set_connectivity(kinds[connectivity]);
    return true;
  });
}

bool offsync_client_set_token(offsync_client* client, const char* token, offsync_error* error) {
  return guarded<bool>(error, false, [&]() -> bool {
    if (!required(error, "client and token", client, token)) return false;
    client->client->set_token(token);
    return true;
  });
}

char* offsync_client_status(offsync_client* client, offsync_error* error) {
  return guarded<char*>(error, nullptr, [&]() -> char* {
    if (!required(error, "client", client)) return nullptr;
    offsync::SyncStatus status = client->client->sync_status();
    return text_or_error(client->client->summary(), error, [&](const offsync::OutboxSummary& outbox) {
      return nlohmann::json{{"state", offsync::sync_state_name(status.state)},
                            {"reason", status.reason},
                            {"next_attempt_at_ms", status.next_attempt_at_ms},
                            {"pending", outbox.pending},
                            {"rejected", outbox.rejected},
                            {"conflicts", outbox.conflicts},
                            {"oldest_pending_created_at_ms", outbox.oldest_pending_created_at_ms
                                                                 ? nlohmann::json(*outbox.oldest_pending_created_at_ms)
                                                                 : nlohmann::json()}}
          .dump();
    });
  });
}

bool offsync_client_wait_until_synced(offsync_client* client, int64_t timeout_ms, offsync_error* error) {
  return guarded<bool>(error, false, [&]() -> bool {
    return required(error, "client", client) && succeeded(client->client->wait_until_synced(timeout_ms), error);
  });
}

char* offsync_client_add_attachment_file(offsync_client* client, const char* path, const char* content_type,
                                         offsync_error* error) {
  return guarded<char*>(error, nullptr, [&]() -> char* {
    if (!required(error, "client, path and content_type", client, path, content_type)) return nullptr;
    return id_or_error(client->client->add_attachment_file(path, content_type), error);
  });
}

char* offsync_client_put_attached(offsync_client* client, const char* collection, const char* record_id,
                                  const char* fields_json, const char* attachment_ids_json, offsync_error* error) {
  return guarded<char*>(error, nullptr, [&]() -> char* {
    if (!required(error, "client, collection and record_id", client, collection, record_id)) return nullptr;
    auto fields = json_argument(fields_json, "fields_json", error);
    if (!fields) return nullptr;
    offsync::WriteOptions write;
    if (!ids_argument(attachment_ids_json, write.attachments, error)) return nullptr;
    return id_or_error(client->client->put(collection, record_id, *fields, write), error);
  });
}

char* offsync_client_attachment(offsync_client* client, const char* id, offsync_error* error) {
  return guarded<char*>(error, nullptr, [&]() -> char* {
    if (!required(error, "client and id", client, id)) return nullptr;
    return text_or_error(client->client->attachment(id), error, [](const offsync::AttachmentInfo& info) {
      return nlohmann::json{{"id", info.id},
                            {"size", info.size},
                            {"sha256", info.sha256},
                            {"content_type", info.content_type},
                            {"state", offsync::attachment_state_name(info.state)},
                            {"local_bytes", info.local_bytes},
                            {"sent_bytes", info.sent_bytes},
                            {"last_error", info.last_error}}
          .dump();
    });
  });
}

bool offsync_client_download_attachment(offsync_client* client, const char* id, offsync_error* error) {
  return guarded<bool>(error, false, [&]() -> bool {
    return required(error, "client and id", client, id) && succeeded(client->client->download_attachment(id), error);
  });
}

bool offsync_client_export_attachment(offsync_client* client, const char* id, const char* path, offsync_error* error) {
  return guarded<bool>(error, false, [&]() -> bool {
    return required(error, "client, id and path", client, id, path) &&
           succeeded(client->client->export_attachment(id, path), error);
  });
}

bool offsync_client_discard(offsync_client* client, const char* mutation_id, offsync_error* error) {
  return guarded<bool>(error, false, [&]() -> bool {
    return required(error, "client and mutation_id", client, mutation_id) &&
           succeeded(client->client->discard(mutation_id), error);
  });
}

bool offsync_client_resolve(offsync_client* client, const char* mutation_id, int resolution, const char* edited_json,
                            offsync_error* error) {
  return guarded<bool>(error, false, [&]() -> bool {
    if (!required(error, "client and mutation_id", client, mutation_id)) return false;
    if (resolution < OFFSYNC_KEEP_MINE || resolution > OFFSYNC_EDITED) {
      set_error(error, OFFSYNC_INVALID_ARGUMENT, "resolution is not OFFSYNC_KEEP_MINE, OFFSYNC_TAKE_SERVER or OFFSYNC_EDITED");
      return false;
    }
    nlohmann::json edited;
    if (resolution == OFFSYNC_EDITED) {
      auto parsed = json_argument(edited_json, "edited_json", error);
      if (!parsed) return false;
      edited = std::move(*parsed);
    }
    return succeeded(client->client->resolve(mutation_id, static_cast<offsync::Resolution>(resolution), edited), error);
  });
}

bool offsync_client_sign_in(offsync_client* client, const char* user, const char* access_token,
                            const char* refresh_token, offsync_error* error) {
  return guarded<bool>(error, false, [&]() -> bool {
    if (!required(error, "client", client)) return false;
    if (!present(user) || !present(access_token)) {
      set_error(error, OFFSYNC_INVALID_ARGUMENT, "user and access_token are required");
      return false;
    }
    return succeeded(client->client->sign_in({user, access_token, refresh_token ? refresh_token : ""}), error);
  });
}

int64_t offsync_client_sign_out(offsync_client* client, offsync_error* error) {
  return guarded<int64_t>(error, -1, [&]() -> int64_t {
    if (!required(error, "client", client)) return -1;
    return number_or_error(client->client->sign_out(), error);
  });
}

}  // extern "C"
