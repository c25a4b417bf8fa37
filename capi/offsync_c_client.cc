// The C ABI: clients: open, writes, reads, outbox, sync, attachments, conflicts, sign-in.
#include <algorithm>

#include "engine/client/json_forms.h"
#include "offsync/byte_pipe.h"
#include "offsync/transport.h"
#include "capi/c_support.h"

using namespace offsync::capi;
using offsync::Status;

extern "C" {

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

}  // extern "C"
