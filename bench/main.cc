// offsync-bench NAME --json: one benchmark, one JSON object with its figures and ratios against
// a baseline run side by side in this process.
#include <CLI/CLI.hpp>
#include <iostream>

#include "bench/local_write.h"
#include "bench/server_apply.h"

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
  offsync::bench::ServerApplyConfig apply;
  CLI::App* server_apply = app.add_subcommand("server-apply", "Server::handle with idempotency against raw SQLite");
  server_apply->add_flag("--json", json, "Print one JSON object (the only format)");
  server_apply->add_option("--single", apply.single, "Mutations through the single endpoint per round");
  server_apply->add_option("--batched", apply.batched, "Mutations through the batch endpoint per round");
  server_apply->add_option("--batch-size", apply.batch_size, "Mutations per batch request");
  server_apply->add_option("--rounds", apply.rounds, "Rounds; the best of each side is kept");
  CLI11_PARSE(app, argc, argv);
  try {
    nlohmann::json result;
    if (local_write->parsed()) result = offsync::bench::run_local_write(local);
    if (server_apply->parsed()) result = offsync::bench::run_server_apply(apply);
    std::cout << (json ? result.dump() : result.dump(2)) << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "offsync-bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
