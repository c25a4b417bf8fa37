#include "cli/client_command.h"

#include <iostream>
#include <memory>

#include "cli/attachment_command.h"
#include "cli/output.h"
#include "cli/progress.h"
#include "engine/client/query_json.h"
#include "offsync/client.h"
#include "offsync/ipc.h"
#include "offsync/transport.h"

namespace offsync::cli {
namespace {

struct ClientArgs {
  std::string db;
  std::string server, ipc_service, token, app_version, os_version;  // used by the commands that talk to a server
  bool json = false;
  std::string collection, record, body, mutation, resolution;
  std::string oauth_client_id, user, access_token, refresh_token;
  int batch_size = 1000;
  bool explain = false;  // query --explain
  AttachmentArgs attachments;
};


// The transport of --server or --ipc-service; null with neither.
Result<std::shared_ptr<Transport>> transport_for(const ClientArgs& a) {
  if (!a.ipc_service.empty() && !a.server.empty()) {
    return Status::invalid_argument("give --server or --ipc-service, not both");
  }
  if (!a.ipc_service.empty()) {
    auto t = make_ipc_transport({.service = a.ipc_service});
    if (!t) return t.status();
    return std::shared_ptr<Transport>(std::move(*t));
  }
  if (a.server.empty()) return std::shared_ptr<Transport>();
  auto t = make_curl_transport(CurlTransportOptions{.base_url = a.server});
  if (!t) return t.status();
  return std::shared_ptr<Transport>(std::move(*t));
}


Result<nlohmann::json> parse_json_arg(const std::string& text, const char* what) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    return Status::invalid_argument(std::string(what) + " is not valid JSON: " + e.what());
  }
}

void print_json(const nlohmann::json& j) { std::cout << j.dump() << "\n"; }

// Records as `list` and `query` print them: a JSON array, or one "id<TAB>fields" line each.
int print_records(const Result<std::vector<Record>>& records, bool json) {
  if (!records) return fail(records.status());
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const Record& r : *records) out.push_back(to_json(r));
    print_json(out);
  } else {
    for (const Record& r : *records) std::cout << r.id << "\t" << r.fields.dump() << "\n";
  }
  return 0;
}

// `query JSON` and `count JSON`: the query as the C ABI takes it (engine/client/query_json.h).
int run_query(const std::string& name, Client& client, const ClientArgs& a) {
  auto spec = nlohmann::json::parse(a.body, nullptr, false);
  if (spec.is_discarded()) return fail(Status::invalid_argument("the query is not JSON: " + a.body));
  auto query = query_from_json(spec);
  if (!query) return fail(query.status());
  if (name == "count") {
    auto n = client.count(*query);
    if (!n) return fail(n.status());
    if (a.json) {
      print_json({{"count", *n}});
    } else {
      std::cout << *n << "\n";
    }
    return 0;
  }
  if (a.explain) {
    auto plan = client.explain(*query);
    if (!plan) return fail(plan.status());
    if (a.json) {
      print_json({{"uses_index", plan->uses_index}, {"index", plan->index}, {"detail", plan->detail}});
    } else {
      std::cout << (plan->uses_index ? "uses index " + plan->index : std::string("scans (no declared index serves it)"))
                << "\n" << plan->detail << "\n";
    }
    return 0;
  }
  return print_records(client.query(*query), a.json);
}

int print_mutation_id(const ClientArgs& a, const Result<std::string>& id, const std::string& record) {
  if (!id) return fail(id.status());
  if (a.json) {
    print_json({{"mutation", id->empty() ? nlohmann::json() : nlohmann::json(*id)}, {"collection", a.collection},
                {"record", record}});
  } else if (id->empty()) {
    std::cout << "nothing to send: the record was created offline and never sent\n";
  } else {
    std::cout << *id << "\n";
  }
  return 0;
}

int run(CLI::App* cmd, ClientArgs& a) {
  ClientOptions options;
  options.path = a.db;
  auto transport = transport_for(a);
  if (!transport) return fail(transport.status());
  options.sync.transport = *transport;
  options.sync.background = false;  // a command runs its round itself (sync) or none at all
  options.sync.token = a.token;
  options.sync.oauth_client_id = a.oauth_client_id;
  options.sync.app_version = a.app_version;
  options.sync.os_version = a.os_version;
  options.sync.batch_size = a.batch_size;
  auto opened = Client::open(options);
  if (!opened) return fail(opened.status());
  Client& client = **opened;
  const std::string name = cmd->get_name();

  if (name == "put") {
    bool has_record = cmd->get_option("json")->count() > 0;
    auto fields = parse_json_arg(has_record ? a.body : a.record, "payload");
    if (!fields) return fail(fields.status());
    WriteOptions write = write_options(a.attachments);
    if (has_record) return print_mutation_id(a, client.put(a.collection, a.record, *fields, write), a.record);
    auto created = client.create(a.collection, *fields, write);
    if (!created) return fail(created.status());
    return print_mutation_id(a, created->mutation_id, created->record_id);
  }
  if (name == "patch") {
    auto patch = parse_json_arg(a.body, "patch");
    if (!patch) return fail(patch.status());
    return print_mutation_id(a, client.patch(a.collection, a.record, *patch, write_options(a.attachments)), a.record);
  }
  if (name == "remove") return print_mutation_id(a, client.remove(a.collection, a.record), a.record);
  if (name == "get") {
    auto record = client.get(a.collection, a.record);
    if (!record) return fail(record.status());
    if (a.json) {
      print_json(to_json(*record));
    } else {
      std::cout << record->fields.dump(2) << "\n";
    }
    return 0;
  }
  if (name == "query" || name == "count") return run_query(name, client, a);
  if (name == "list") {
    return print_records(client.list(a.collection), a.json);
  }
  if (name == "outbox") {
    auto mutations = client.outbox();
    if (!mutations) return fail(mutations.status());
    if (a.json) {
      nlohmann::json out = nlohmann::json::array();
      for (const Mutation& m : *mutations) out.push_back(to_json(m));
      print_json(out);
    } else {
      for (const Mutation& m : *mutations) std::cout << describe(m) << "\n";
      std::cout << mutations->size() << " mutation(s) in the outbox\n";
    }
    return 0;
  }
  if (name == "status") {
    auto summary = client.summary();
    auto mutations = client.outbox();
    if (!summary) return fail(summary.status());
    if (!mutations) return fail(mutations.status());
    int64_t now = system_clock().now_ms();
    nlohmann::json out = to_json(*summary, now);
    out["client_id"] = client.client_id();
    nlohmann::json rejected = nlohmann::json::array(), conflicts = nlohmann::json::array();
    for (const Mutation& m : *mutations) {
      if (m.state == MutationState::kRejected) rejected.push_back(to_json(m));
      if (m.state == MutationState::kConflict) conflicts.push_back(to_json(m));
    }
    out["rejected_mutations"] = rejected;
    out["conflict_mutations"] = conflicts;
    auto cursor = client.cursor();
    if (!cursor) return fail(cursor.status());
    out["cursor_age_s"] = *cursor ? nlohmann::json((now - (*cursor)->second) / 1000) : nlohmann::json();
    if (a.json) {
      print_json(out);
      return 0;
    }
    std::cout << "client " << client.client_id() << "\n"
              << "pending:   " << summary->pending;
    if (summary->oldest_pending_created_at_ms) {
      std::cout << " (oldest " << format_age(now - *summary->oldest_pending_created_at_ms) << " ago)";
    }
    std::cout << "\nrejected:  " << summary->rejected << "\n";
    for (const Mutation& m : *mutations) {
      if (m.state == MutationState::kRejected) std::cout << "  " << describe(m) << "\n";
    }
    std::cout << "conflicts: " << summary->conflicts << "\n";
    for (const Mutation& m : *mutations) {
      if (m.state == MutationState::kConflict) {
        std::cout << "  " << describe(m) << "\n    server has: " << m.server_record.value("fields", nlohmann::json()).dump()
                  << "\n";
      }
    }
    std::cout << "last pull: " << (*cursor ? format_age(now - (*cursor)->second) + " ago" : std::string("never")) << "\n";
    return 0;
  }
  if (name == "sync") {
    if (!options.sync.transport) return fail(Status::invalid_argument("sync needs --server URL or --ipc-service ADDR"));
    auto progress = terminal_progress();
    if (progress) client.add_observer(progress);
    auto report = client.sync_once();
    if (progress) progress->finish();
    if (!report) {
      // The server may have been reached, but what it said could not be stored (docs/protocol.md: 2).
      (void)fail(report.status());
      return report.status().code() == StatusCode::kInvalidArgument ? 1 : 2;
    }
    if (a.json) {
      print_json(to_json(*report));
    } else {
      std::cout << "sent " << report->sent << ": applied " << report->applied << ", rejected " << report->rejected
                << ", conflicts " << report->conflicts << ", transient " << report->transient << "; pulled "
                << report->pulled << (report->full_refresh ? " (full refresh)" : "") << "\n";
      if (report->attachments_uploaded + report->attachments_waiting > 0) {
        std::cout << "attachments: uploaded " << report->attachments_uploaded << ", waiting "
                  << report->attachments_waiting << "\n";
      }
      if (report->paused) std::cout << "paused: " << report->pause_reason << "\n";
      if (!report->pull_failure.empty()) std::cout << "pull stopped: " << report->pull_failure << "\n";
      if (!report->reached) std::cout << "the server could not be reached: " << client.sync_status().reason << "\n";
    }
    // docs/protocol.md: 0 nothing transient left and the pull completed, 3 unreachable, 2 reached but
    // transient failures remain, the pull stopped short or the queue is paused.
    if (!report->reached) return 3;
    if (report->transient_left > 0 || report->paused || !report->pull_complete) return 2;
    return 0;
  }
  if (name == "resolve") {
    Resolution how;
    nlohmann::json edited;
    if (a.resolution == "keep-mine") {
      how = Resolution::kKeepMine;
    } else if (a.resolution == "take-server") {
      how = Resolution::kTakeServer;
    } else if (a.resolution == "edit") {
      how = Resolution::kEdited;
      auto parsed = parse_json_arg(a.body, "edited record");
      if (!parsed) return fail(parsed.status());
      edited = *parsed;
    } else {
      return fail(Status::invalid_argument("resolution must be keep-mine, take-server or edit, got '" + a.resolution + "'"));
    }
    if (how != Resolution::kEdited && !a.body.empty()) {
      return fail(Status::invalid_argument("only 'edit' takes a JSON record"));
    }
    if (how == Resolution::kEdited && a.body.empty()) return fail(Status::invalid_argument("edit needs the edited record as JSON"));
    Status s = client.resolve(a.mutation, how, edited);
    if (!s) return fail(s);
    if (a.json) {
      print_json({{"resolved", a.mutation}, {"resolution", a.resolution}});
    } else {
      std::cout << "resolved " << a.mutation << " (" << a.resolution << ")\n";
    }
    return 0;
  }
  if (name == "sign-in") {
    Status s = client.sign_in({a.user, a.access_token, a.refresh_token});
    if (!s) return fail(s);
    std::cout << "signed in as " << a.user << "\n";
    return 0;
  }
  if (name == "sign-out") {
    // Said before anything goes, as PROTOCOL asks: how many unsent mutations are discarded.
    auto summary = client.summary();
    if (!summary) return fail(summary.status());
    int64_t unsent = summary->pending + summary->rejected + summary->conflicts;
    std::cout << "signing out: discarding " << unsent << " unsent mutation(s) and every local record" << std::endl;
    auto discarded = client.sign_out();
    if (!discarded) return fail(discarded.status());
    if (a.json) print_json({{"discarded_unsent", *discarded}});
    return 0;
  }
  if (auto done = run_attachment_command(name, client, a.attachments, a.json)) return *done;
  if (name == "discard") {
    Status s = client.discard(a.mutation);
    if (!s) return fail(s);
    if (a.json) {
      print_json({{"discarded", a.mutation}});
    } else {
      std::cout << "discarded " << a.mutation << "\n";
    }
    return 0;
  }
  return fail(Status::internal("unhandled client command " + name));
}

}  // namespace

std::function<int()> add_client_command(CLI::App& app) {
  auto a = std::make_shared<ClientArgs>();
  CLI::App* client = app.add_subcommand("client", "The app's local store: offline writes, reads and the outbox");
  client->add_option("--db", a->db, "The client's SQLite store (created if missing)")->required();
  client->add_option("--server", a->server, "Server base URL, e.g. http://127.0.0.1:8080");
  client->add_option("--ipc-service", a->ipc_service,
                     "unix:/path.sock, or a service name from the activation registry (started when nothing listens)");
  client->add_option("--token", a->token, "Bearer token for the server");
  client->add_option("--oauth-client-id", a->oauth_client_id, "With sign-in's refresh token: refresh after a 401");
  client->add_option("--app-version", a->app_version, "Sent as Offsync-App-Version");
  client->add_option("--os-version", a->os_version, "Sent as Offsync-OS-Version");
  client->add_option("--batch-size", a->batch_size, "Mutations per POST /v1/mutations:batch when syncing")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  client->add_flag("--json", a->json, "Machine-readable output");
  // Not require_subcommand(): an unknown command then fails naming it, not as "a subcommand is required".
  client->require_subcommand(0, 1);

  auto add = [&](const char* name, const char* help) {
    CLI::App* sub = client->add_subcommand(name, help);
    sub->add_flag("--json", a->json, "Machine-readable output");
    // The client's options may also come after the command: `client put ... --db C`.
    sub->fallthrough();
    return sub;
  };
  // Three scalar positionals rather than one vector: CLI11 would split a JSON array like [1,2].
  CLI::App* put = add("put", "Replace or create a record (no RECORD: a new one with a ULID id); prints the mutation's ULID");
  put->add_option("collection", a->collection)->required();
  put->add_option("record", a->record, "RECORD, or the JSON when RECORD is left out")->required();
  put->add_option("json", a->body, "The record's fields, a JSON object");
  CLI::App* patch = add("patch", "Apply a JSON merge patch (RFC 7396) to a record");
  patch->add_option("collection", a->collection)->required();
  patch->add_option("record", a->record)->required();
  patch->add_option("json", a->body, "The merge patch")->required();
  for (const char* name : {"remove", "get"}) {
    CLI::App* sub = add(name, std::string(name) == "remove" ? "Delete a record (leaves a tombstone until acknowledged)"
                                                           : "Print a record as the app sees it");
    sub->add_option("collection", a->collection)->required();
    sub->add_option("record", a->record)->required();
  }
  add("list", "Print every record of a collection")->add_option("collection", a->collection)->required();
  CLI::App* query = add("query", "Records matching a query, in its order: JSON as the C ABI takes it, e.g. "
                                 "'{\"collection\":\"notes\",\"where\":[{\"path\":\"due\",\"op\":\"<\",\"value\":5}],"
                                 "\"order\":[{\"path\":\"due\"}],\"limit\":10}'");
  query->add_option("json", a->body, "The query (docs/queries.md)")->required();
  query->add_flag("--explain", a->explain, "Say how SQLite runs it, and whether a declared index serves it");
  add("count", "How many records match a query (JSON, as for query)")->add_option("json", a->body)->required();
  add("outbox", "List the mutations not yet acknowledged, in ULID order");
  add("status", "Pending count, oldest pending age, rejections and conflicts");
  add("sync", "One push and pull round with the server (exit 0 done, 2 transient failures left, 3 unreachable)");
  CLI::App* resolve = add("resolve", "Settle a conflict: keep-mine, take-server, or edit JSON");
  resolve->add_option("mutation", a->mutation, "The conflicting mutation's ULID")->required();
  resolve->add_option("resolution", a->resolution, "keep-mine | take-server | edit")->required();
  resolve->add_option("json", a->body, "With edit: the edited record");
  CLI::App* sign_in = add("sign-in", "Bind the store to a user and keep their tokens (from POST /oauth/token)");
  sign_in->add_option("--user", a->user, "Who signs in")->required();
  sign_in->add_option("--access-token", a->access_token, "The access token")->required();
  sign_in->add_option("--refresh-token", a->refresh_token, "The refresh token");
  add("sign-out", "Wipe the local data, outbox included, after saying how many unsent mutations it discards");
  add("discard", "Remove one mutation from the outbox; the view is recomputed")
      ->add_option("mutation", a->mutation, "The mutation's ULID")
      ->required();
  add_attachment_commands(add, {put, patch}, a->attachments);

  return [client, a]() -> int {
    for (CLI::App* sub : client->get_subcommands()) {
      if (sub->parsed()) return run(sub, *a);
    }
    return fail(Status::invalid_argument(
        "no client command given (put, patch, remove, get, list, query, count, outbox, status, sync, resolve, discard, sign-in, "
        "sign-out, attach, attachment, download; see --help)"));
  };
}

}  // namespace offsync::cli
