// The C ABI: errors, strings and the server half (include/offsync/offsync.h).
#include <mutex>
#include <thread>

#include "offsync/byte_pipe.h"
#include "offsync/listener.h"
#include "offsync/schema.h"
#include "offsync/transport.h"
#include "capi/c_support.h"
#include "transport/host_port.h"

using namespace offsync::capi;
using offsync::Status;

namespace {

// Guards every server's set of listeners and each listener's link to its server.
std::mutex& listeners_mu() {
  static std::mutex mu;
  return mu;
}

void stop(offsync_listener* listener) {
  if (!listener->listener) return;
  listener->listener->stop();
  if (listener->thread.joinable()) listener->thread.join();
  listener->listener.reset();
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
      if (present(options->upstream_db_path)) o.upstream.client_path = options->upstream_db_path;
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
    if (!server) return;
    // Listeners the app has not freed yet stop now: none serves a server that is gone. Their
    // handles stay valid until offsync_listener_free.
    std::set<offsync_listener*> listening;
    {
      std::lock_guard<std::mutex> lock(listeners_mu());
      listening.swap(server->listeners);
      for (offsync_listener* l : listening) l->server = nullptr;
    }
    for (offsync_listener* l : listening) stop(l);
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

void offsync_server_handle_bytes_async(offsync_server* server, const uint8_t* request, size_t request_size,
                                       offsync_response_fn done, void* context) {
  offsync_server_handle_bytes_async_from(server, nullptr, request, request_size, done, context);
}

offsync_peer* offsync_peer_new(void) {
  try {
    return new offsync_peer{};
  } catch (...) {
    return nullptr;
  }
}

void offsync_peer_gone(offsync_peer* peer) {
  if (peer) peer->gone->store(true);
}

void offsync_peer_free(offsync_peer* peer) { delete peer; }

void offsync_server_handle_bytes_async_from(offsync_server* server, const offsync_peer* peer, const uint8_t* request,
                                            size_t request_size, offsync_response_fn done, void* context) {
  if (!done) return;
  auto give = [done, context](const std::string& bytes) {
    done(context, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  };
  try {
    if (!server || (!request && request_size != 0)) {
      return give("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
    }
    offsync::serve_http_bytes_async(*server->server,
                                    std::string_view(reinterpret_cast<const char*>(request), request_size),
                                    [give](std::string bytes) { give(bytes); }, offsync::limits::kMaxBodyBytes,
                                    peer ? peer->gone : nullptr);
  } catch (...) {
    // serve_http_bytes_async answers even when it fails; only the copy of the request can throw.
    give("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
  }
}

offsync_listener* offsync_server_listen(offsync_server* server, const char* address, offsync_error* error) {
  return guarded<offsync_listener*>(error, nullptr, [&]() -> offsync_listener* {
    if (!required(error, "server and address", server, address)) return nullptr;
    std::string where = address;
    offsync::Result<std::unique_ptr<offsync::Listener>> listener = Status::invalid_argument("");
    if (where.rfind("unix:", 0) == 0 && where.size() > 5) {
      listener = offsync::Listener::listen_unix(*server->server, where.substr(5));
    } else if (where.rfind("tcp:", 0) == 0) {
      auto host_port = offsync::split_host_port(std::string_view(where).substr(4), "address \"" + where + "\"");
      if (!host_port) {
        set_status(error, host_port.status());
        return nullptr;
      }
      listener = offsync::Listener::listen_tcp(*server->server, host_port->first, host_port->second);
    } else {
      set_error(error, OFFSYNC_INVALID_ARGUMENT, "address \"" + where + "\" is neither tcp:HOST:PORT nor unix:PATH");
      return nullptr;
    }
    if (!listener) {
      set_status(error, listener.status());
      return nullptr;
    }
    auto out = std::make_unique<offsync_listener>();
    out->listener = std::move(*listener);
    out->address = out->listener->address();
    out->server = server;
    offsync::Listener* serving = out->listener.get();
    out->thread = std::thread([serving] { serving->run(); });
    std::lock_guard<std::mutex> lock(listeners_mu());
    server->listeners.insert(out.get());
    return out.release();
  });
}

char* offsync_listener_address(const offsync_listener* listener) {
  try {
    return listener ? owned(listener->address) : nullptr;
  } catch (...) {
    return nullptr;
  }
}

void offsync_listener_free(offsync_listener* listener) {
  if (!listener) return;
  try {
    {
      std::lock_guard<std::mutex> lock(listeners_mu());
      if (listener->server) listener->server->listeners.erase(listener);
    }
    stop(listener);
    delete listener;
  } catch (...) {
  }
}

char* offsync_server_stats(offsync_server* server, offsync_error* error) {
  return guarded<char*>(error, nullptr, [&]() -> char* {
    if (!required(error, "server", server)) return nullptr;
    return text_or_error(server->server->stats(), error, [](const offsync::ServerStats& stats) {
      return nlohmann::json{{"mutations_applied", stats.mutations_applied}, {"replays", stats.replays},
                            {"idempotency_keys", stats.idempotency_keys}, {"changes", stats.changes},
                            {"tombstones", stats.tombstones},           {"last_seq", stats.last_seq},
                            {"compacted_seq", stats.compacted_seq},     {"cursor_version", stats.cursor_version},
                            {"long_polls_held", stats.long_polls_held}}
          .dump();
    });
  });
}

}  // extern "C"
