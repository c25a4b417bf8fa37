// The C ABI: errors, strings and the server half (include/offsync/offsync.h).
#include "offsync/byte_pipe.h"
#include "offsync/schema.h"
#include "offsync/transport.h"
#include "capi/c_support.h"

using namespace offsync::capi;
using offsync::Status;

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

}  // extern "C"
