#include "cli/server_commands.h"

#include <signal.h>

#include <atomic>
#include <ctime>
#include <iostream>
#include <thread>

#include "cli/output.h"
#include "cli/store_options.h"
#include "transport/host_port.h"
#include "cli/stop_signals.h"
#include "offsync/server.h"
#include "offsync/listener.h"
#include "offsync/transport.h"

namespace offsync::cli {
namespace {

struct ServeArgs {
  StoreArgs store;
  std::string listen, unix_path, schema, min_app_version;
  size_t max_body_bytes = limits::kMaxBodyBytes;
  int threads = 4;
  double idle_exit_s = 0;
  bool require_auth = false;
  bool json = false;
  std::string attachments_dir;
  std::string upstream, upstream_token, upstream_client_id;
  int upstream_batch_size = 1000;
  int64_t max_attachment_bytes = 1LL << 30, attachment_quota_bytes = 0;
  double attachment_session_ttl_s = 24 * 3600;
};

int serve(const ServeArgs& a) {
  ServerOptions options = a.store.server_options();
  options.max_body_bytes = a.max_body_bytes;
  options.require_auth = a.require_auth;
  options.attachments_dir = a.attachments_dir;
  options.max_attachment_bytes = a.max_attachment_bytes;
  options.attachment_quota_bytes = a.attachment_quota_bytes;
  options.attachment_session_ttl_ms = static_cast<int64_t>(a.attachment_session_ttl_s * 1000);
  if (!a.schema.empty()) {
    auto schema = Schema::load(a.schema);
    if (!schema) return fail(schema.status());
    options.schema = std::move(*schema);
  }
  if (!a.min_app_version.empty()) {
    if (!compare_versions(a.min_app_version, "0")) {
      return fail(Status::invalid_argument("--min-app-version wants a dotted version like 1.2.0"));
    }
    options.min_app_version = a.min_app_version;
  }
  if (!a.listen.empty() && !a.unix_path.empty()) {
    return fail(Status::invalid_argument("give --listen or --unix, not both"));
  }
  std::optional<std::pair<std::string, uint16_t>> where;
  if (!a.listen.empty()) {
    auto split = split_host_port(a.listen, "--listen");
    if (!split) return fail(split.status());
    where = *split;
  }
  options.log = [](LogLevel level, std::string_view component, std::string_view message) {
    if (level >= LogLevel::kInfo) std::cerr << "offsync: " << component << ": " << message << std::endl;
  };
  if ((!a.upstream_token.empty() || !a.upstream_client_id.empty()) && a.upstream.empty()) {
    return fail(Status::invalid_argument("--upstream-token and --upstream-client-id need --upstream URL"));
  }
  if (!a.store.upstream_db.empty() && a.upstream.empty()) {
    return fail(Status::invalid_argument("--upstream-db needs --upstream URL"));
  }
  if (!a.upstream.empty()) {
    auto upstream = make_curl_transport({.base_url = a.upstream});
    if (!upstream) return fail(upstream.status());
    options.upstream.transport = std::shared_ptr<Transport>(std::move(*upstream));
    options.upstream.sync.token = a.upstream_token;
    options.upstream.sync.oauth_client_id = a.upstream_client_id;
    options.upstream.sync.batch_size = a.upstream_batch_size;
  }
  auto server = Server::open(std::move(options));
  if (!server) return fail(server.status());

  block_stop_signals();  // before the listener starts its threads

  ListenerOptions listener_options;
  listener_options.max_body_bytes = a.max_body_bytes;
  listener_options.handler_threads = a.threads;
  listener_options.idle_exit_ms = static_cast<int64_t>(a.idle_exit_s * 1000);
  // A relay goes on running while it has mutations to forward, connections or not.
  listener_options.busy = [s = server->get()] { return s->has_upstream_work(); };
  listener_options.log = [](LogLevel level, std::string_view component, std::string_view message) {
    if (level >= LogLevel::kInfo) std::cerr << "offsync: " << component << ": " << message << std::endl;
  };
  // --listen, --unix, or the socket systemd socket activation passed (LISTEN_FDS).
  auto listener = where ? Listener::listen_tcp(**server, where->first, where->second, listener_options)
                  : !a.unix_path.empty() ? Listener::listen_unix(**server, a.unix_path, listener_options)
                                         : Listener::listen_inherited(**server, listener_options);
  if (!listener) return fail(listener.status());
  std::string store = a.store.db.empty() ? std::string("a PostgreSQL database") : a.store.db;
  if (a.json) {
    std::cout << nlohmann::json{{"address", (*listener)->address()}, {"store", store}}.dump() << std::endl;
  } else {
    std::cout << "offsync: serving " << store << " on " << (*listener)->address() << std::endl;
  }

  return run_until_stopped([&] { (*listener)->run(); }, [&] { (*listener)->stop(); });
}

// RFC 3339 ("2026-11-23T10:00:00Z", "...T10:00:00.5+02:00") → Unix ms.
Result<int64_t> parse_rfc3339(const std::string& text) {
  std::tm tm{};
  const char* rest = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) return Status::invalid_argument("'" + text + "' is not an RFC 3339 time like 2026-11-23T10:00:00Z");
  int64_t ms = static_cast<int64_t>(timegm(&tm)) * 1000;
  if (*rest == '.') {
    int64_t scale = 100;
    for (++rest; *rest >= '0' && *rest <= '9'; ++rest, scale /= 10) ms += (*rest - '0') * scale;
  }
  if (*rest == 'Z' || *rest == 'z') {
    ++rest;
  } else if (*rest == '+' || *rest == '-') {
    int hh = 0, mm = 0;
    if (std::sscanf(rest + 1, "%2d:%2d", &hh, &mm) != 2) {
      return Status::invalid_argument("'" + text + "' has a malformed UTC offset");
    }
    int64_t offset = (hh * 60 + mm) * 60'000LL;
    ms += *rest == '+' ? -offset : offset;
    rest += 6;
  } else {
    return Status::invalid_argument("'" + text + "' needs a UTC offset (Z or +hh:mm)");
  }
  if (*rest != '\0') return Status::invalid_argument("'" + text + "' has trailing characters");
  return ms;
}

}  // namespace

std::function<int()> add_serve_command(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "The server half over HTTP: --listen HOST:PORT, --unix PATH, or the socket systemd passes (LISTEN_FDS)");
  add_store_options(cmd, a->store, "The server's SQLite store (created if missing)", false);
  cmd->add_option("--listen", a->listen, "HOST:PORT to listen on (port 0: any free port, printed)");
  cmd->add_flag("--require-auth", a->require_auth,
                "Every /v1 endpoint but health, and /metrics, needs a bearer token from /oauth/token");
  cmd->add_option("--unix", a->unix_path, "A Unix domain socket to listen on (local IPC; mode 0600, same uid only)");
  cmd->add_option("--idle-exit", a->idle_exit_s, "Exit once no connection has been open for SECONDS (on-demand providers)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--schema", a->schema, "Schema file: collections, field types, merge policies");
  cmd->add_option("--min-app-version", a->min_app_version, "Older Offsync-App-Version gets 426");
  cmd->add_option("--max-body-bytes", a->max_body_bytes, "Larger request bodies (and attachment chunks) get 413");
  cmd->add_option("--upstream", a->upstream,
                  "Relay: also a client of this server (URL); forwards what local clients write, pulls what changes");
  cmd->add_option("--upstream-token", a->upstream_token,
                  "Bearer token for --upstream (without --require-auth; with it, each user's: `offsync auth upstream`)");
  cmd->add_option("--upstream-client-id", a->upstream_client_id,
                  "The relay's OAuth client id upstream: refresh tokens are redeemed with it after a 401");
  cmd->add_option("--upstream-batch-size", a->upstream_batch_size, "Mutations per batch forwarded upstream")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->add_option("--attachments-dir", a->attachments_dir,
                  "Keep attachment bytes as files here (default: rows of the store, one per chunk)");
  cmd->add_option("--max-attachment-bytes", a->max_attachment_bytes, "Larger attachments get 413")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--attachment-quota-bytes", a->attachment_quota_bytes,
                  "All attachments together at most this (0: no quota); past it 507 storage_full")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--attachment-session-ttl", a->attachment_session_ttl_s,
                  "Seconds after which an upload nobody continues is collected")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--json", a->json, "Print the first line (where it serves) as JSON: {\"address\", \"store\"}");
  cmd->add_option("--threads", a->threads, "Threads that run store-bound requests (network threads never wait on the store)")->check(CLI::Range(1, 256));
  return [cmd, a]() { return cmd->parsed() ? serve(*a) : -1; };
}

std::function<int()> add_admin_command(CLI::App& app) {
  struct AdminArgs {
    StoreArgs store;
    std::string before;
    bool json = false;
  };
  auto a = std::make_shared<AdminArgs>();
  CLI::App* admin = app.add_subcommand("admin", "Operate a server store: stats, compaction, cursor rotation");
  admin->require_subcommand(1);
  CLI::App* stats = admin->add_subcommand("stats", "Counts of the store, as JSON with --json");
  CLI::App* compact = admin->add_subcommand("compact", "Purge tombstones older than --before; older cursors get 410");
  CLI::App* rotate = admin->add_subcommand("rotate-cursor", "Retire the cursor encoding: older cursors get 410");
  // Options before or after the subcommand: `admin --db S stats` and `admin stats --db S` alike.
  add_store_options(admin, a->store, "The server's SQLite store", true);
  admin->add_flag("--json", a->json, "Machine-readable output");
  for (CLI::App* sub : {stats, compact, rotate}) {
    sub->fallthrough();
    sub->add_flag("--json", a->json, "Machine-readable output");  // listed in each one's --help too
  }
  compact->add_option("--before", a->before, "RFC 3339 time, e.g. 2026-11-01T00:00:00Z")->required();

  return [=]() -> int {
    if (!admin->parsed()) return -1;
    auto server = Server::open(a->store.server_options());
    if (!server) return fail(server.status());
    if (stats->parsed()) {
      auto s = (*server)->stats();
      if (!s) return fail(s.status());
      nlohmann::json out = {{"mutations_applied", s->mutations_applied}, {"idempotency_keys", s->idempotency_keys},
                            {"replays", s->replays},       {"changes", s->changes},
                            {"tombstones", s->tombstones}, {"last_seq", s->last_seq},
                            {"compacted_seq", s->compacted_seq}, {"cursor_version", s->cursor_version}};
      if (s->relay) {
        int64_t now = system_clock().now_ms();
        auto age = [&](const std::optional<int64_t>& at) { return at ? nlohmann::json((now - *at) / 1000) : nlohmann::json(); };
        out["relay"] = {{"handed_over", s->relay_handed_over},
                        {"upstream_pending", s->relay_upstream_pending},
                        {"upstream_oldest_pending_age_s", age(s->relay_oldest_pending_created_at_ms)},
                        {"last_upstream_contact_age_s", age(s->relay_last_upstream_contact_ms)},
                        {"upstream_identities", s->relay_upstream_identities}};
      }
      if (a->json) {
        std::cout << out.dump() << "\n";
      } else {
        for (const auto& [k, v] : out.items()) std::cout << k << ": " << v << "\n";
      }
      return 0;
    }
    if (compact->parsed()) {
      auto before = parse_rfc3339(a->before);
      if (!before) return fail(before.status());
      auto purged = (*server)->compact(*before);
      if (!purged) return fail(purged.status());
      if (a->json) {
        std::cout << nlohmann::json{{"tombstones_purged", *purged}}.dump() << "\n";
      } else {
        std::cout << "purged " << *purged << " tombstone(s)\n";
      }
      return 0;
    }
    Status rotated = (*server)->rotate_cursor();
    if (!rotated) return fail(rotated);
    auto s = (*server)->stats();
    if (!s) return fail(s.status());
    if (a->json) {
      std::cout << nlohmann::json{{"cursor_version", s->cursor_version}}.dump() << "\n";
    } else {
      std::cout << "cursor version is now " << s->cursor_version << "; older cursors answer 410\n";
    }
    return 0;
  };
}

}  // namespace offsync::cli
