// offsync-bench NAME --json: one benchmark, one JSON object with its figures and ratios against
// a baseline run side by side in this process.
#include <CLI/CLI.hpp>
#include <iostream>

#include "bench/attachment_bench.h"
#include "bench/ipc_bench.h"
#include "bench/local_write.h"
#if OFFSYNC_WITH_POSTGRES
#include "bench/load_bench.h"
#endif
#include "bench/query_bench.h"
#include "bench/relay_bench.h"
#include "bench/server_apply.h"
#include "bench/sync_bench.h"

int main(int argc, char** argv) {
  CLI::App app("offsync benchmarks", "offsync-bench");
  app.require_subcommand(1);
  bool json = false;
  offsync::bench::LocalWriteConfig local;
  CLI::App* local_write = app.add_subcommand("local-write", "Client::put against raw SQLite, both durability settings");
  local_write->add_flag("--json", json, "Print one JSON object (the only format)");
  local_write->add_option("--writes-full", local.writes_full, "Writes per round at full durability");
  local_write->add_option("--writes-normal", local.writes_normal, "Writes per round at normal durability");
  local_write->add_option("--rounds", local.rounds, "Rounds; the best of each side is kept");
  offsync::bench::QueryConfig query_config;
  CLI::App* query = app.add_subcommand("query", "Client::query against raw SQLite; live-query and push latency; server memory per waiting device");
  query->add_flag("--json", json, "Print one JSON object (the only format)");
  query->add_option("--records", query_config.records, "Records in the collection");
  query->add_option("--queries", query_config.queries, "Indexed queries per side per round");
  query->add_option("--waiting", query_config.waiting, "Long polls held for the memory figure");
  offsync::bench::ServerApplyConfig apply;
  CLI::App* server_apply = app.add_subcommand("server-apply", "Server::handle with idempotency against raw SQLite");
  server_apply->add_flag("--json", json, "Print one JSON object (the only format)");
  server_apply->add_option("--single", apply.single, "Mutations through the single endpoint per round");
  server_apply->add_option("--batched", apply.batched, "Mutations through the batch endpoint per round");
  server_apply->add_option("--batch-size", apply.batch_size, "Mutations per batch request");
  server_apply->add_option("--rounds", apply.rounds, "Rounds; the best of each side is kept");
  offsync::bench::DrainConfig drain_config;
  drain_config.self = argv[0];
  CLI::App* drain = app.add_subcommand("drain", "A client outbox to a real server over loopback, against a curl loop");
  drain->add_flag("--json", json, "Print one JSON object (the only format)");
  drain->add_option("--mutations", drain_config.mutations, "Mutations drained by the engine");
  drain->add_option("--baseline", drain_config.baseline, "Mutations sent by the hand-written loop");
  drain->add_option("--rss-mutations", drain_config.rss_mutations, "Pending mutations for the peak-RSS run (0: skip)");
  drain->add_option("--batch-size", drain_config.batch_size, "Mutations per batch request (0: the client's default)");
  std::string child_db, child_url;
  CLI::App* child = app.add_subcommand("drain-child", "Internal: the RSS run's client process")->group("");
  child->add_option("db", child_db)->required();
  child->add_option("url", child_url)->required();
  offsync::bench::PullConfig pull_config;
  CLI::App* pull = app.add_subcommand("pull", "Changes/s applied by a pull; one change into a small and a large store");
  pull->add_flag("--json", json, "Print one JSON object (the only format)");
  pull->add_option("--changes", pull_config.changes, "Changes pulled into an empty store");
  pull->add_option("--small", pull_config.small_store, "Records in the small store");
  pull->add_option("--large", pull_config.large_store, "Records in the large store");
  offsync::bench::IpcConfig ipc_config;
  CLI::App* ipc = app.add_subcommand("ipc", "A small request's round trip over a Unix socket vs TCP loopback vs raw");
  ipc->add_flag("--json", json, "Print one JSON object (the only format)");
  ipc->add_option("--requests", ipc_config.requests, "Round trips per side per round");
  ipc->add_option("--rounds", ipc_config.rounds, "Rounds; the best of each side is kept");
  offsync::bench::AttachmentConfig attachment_config;
  CLI::App* attachments = app.add_subcommand("attachments", "A chunked, resumable upload by the worker vs one curl PUT");
  attachments->add_flag("--json", json, "Print one JSON object (the only format)");
  attachments->add_option("--megabytes", attachment_config.megabytes, "The file's size in MiB");
  attachments->add_option("--chunk-kib", attachment_config.chunk_kib, "The client's chunk size in KiB");
  attachments->add_option("--rounds", attachment_config.rounds, "Rounds; the best of each side is kept");
  offsync::bench::RelayConfig relay_config;
  CLI::App* relay = app.add_subcommand("relay", "A client's mutations through a relay to the cloud vs straight to the cloud");
  relay->add_flag("--json", json, "Print one JSON object (the only format)");
  relay->add_option("--mutations", relay_config.mutations, "Mutations drained");
  relay->add_option("--rounds", relay_config.rounds, "Rounds of direct then relayed; medians are reported");
#if OFFSYNC_WITH_POSTGRES
  offsync::bench::LoadConfig load_config;
  load_config.self = argv[0];
  CLI::App* load = app.add_subcommand("load", "Many devices through SQLite (1 process) and PostgreSQL (1 and 2 processes)");
  load->add_flag("--json", json, "Print one JSON object (the only format)");
  load->add_option("--devices", load_config.devices, "Devices");
  load->add_option("--mutations", load_config.mutations, "Mutations per device");
  load->add_option("--threads", load_config.threads, "Devices syncing at once");
  load->add_option("--postgres", load_config.postgres, "A libpq connection string (default: $OFFSYNC_PG_CONNINFO)");
  std::string serve_postgres;
  CLI::App* serve_child = app.add_subcommand("serve-child", "Internal: a server process of the load run")->group("");
  serve_child->add_option("postgres", serve_postgres)->required();
#endif
  CLI11_PARSE(app, argc, argv);
#if OFFSYNC_WITH_POSTGRES
  if (serve_child->parsed()) return offsync::bench::serve_child(serve_postgres);
#endif
  if (child->parsed()) return offsync::bench::drain_child(child_db, child_url);
  try {
    nlohmann::json result;
    if (local_write->parsed()) result = offsync::bench::run_local_write(local);
    if (server_apply->parsed()) result = offsync::bench::run_server_apply(apply);
    if (query->parsed()) result = offsync::bench::run_query(query_config);
    if (drain->parsed()) result = offsync::bench::run_drain(drain_config);
    if (pull->parsed()) result = offsync::bench::run_pull(pull_config);
    if (ipc->parsed()) result = offsync::bench::run_ipc(ipc_config);
    if (attachments->parsed()) result = offsync::bench::run_attachments(attachment_config);
    if (relay->parsed()) result = offsync::bench::run_relay(relay_config);
#if OFFSYNC_WITH_POSTGRES
    if (load->parsed()) result = offsync::bench::run_load(load_config);
#endif
    std::cout << (json ? result.dump() : result.dump(2)) << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "offsync-bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
