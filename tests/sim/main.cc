// offsync-sim --seed N --clients C --steps S [--seeds A..B] [--plant NAME] [--trace]
// One deterministic simulation per seed (tests/sim/sim.h); exit 0 when every invariant holds. A
// failing seed prints its trace and replays exactly with the same arguments.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <iostream>

#include "sim/sim.h"

int main(int argc, char** argv) {
  CLI::App app{"offsync-sim: deterministic simulation of clients, a server and a hostile network"};
  uint64_t seed = 1;
  std::string seeds, plant_name = "none";
  int clients = 3, steps = 300;
  bool trace = false, json = false;
  app.add_option("--seed", seed, "The seed of one run")->capture_default_str();
  app.add_option("--seeds", seeds, "A range of seeds, A..B (inclusive), instead of --seed");
  app.add_option("--clients", clients, "Clients")->check(CLI::Range(1, 64))->capture_default_str();
  app.add_option("--steps", steps, "Steps before healing")->check(CLI::Range(0, 10'000'000))->capture_default_str();
  app.add_option("--plant", plant_name, "A bug planted on purpose: none, no-idempotency, phantom-delete-ack, skipped-change")
      ->capture_default_str();
  std::string postgres;
  bool postgres_from_env = false;
  app.add_option("--postgres", postgres,
                 "A libpq connection string: the server and the relay store in PostgreSQL (a fresh schema each, "
                 "dropped after the run)");
  app.add_flag("--postgres-from-env", postgres_from_env,
               "--postgres from OFFSYNC_PG_CONNINFO (the test cluster of scripts/test); exit 77 when unset");
  app.add_flag("--trace", trace, "Print every step as it happens");
  app.add_flag("--json", json, "Print a JSON summary line");
  CLI11_PARSE(app, argc, argv);
  if (postgres_from_env) {
    const char* conninfo = std::getenv("OFFSYNC_PG_CONNINFO");
    if (!conninfo || !*conninfo) {
      std::cerr << "skipped: no PostgreSQL test cluster (OFFSYNC_PG_CONNINFO)\n";
      return 77;
    }
    postgres = conninfo;
  }
  offsync::sim::Plant plant;
  if (!offsync::sim::parse_plant(plant_name, &plant)) {
    std::cerr << "offsync-sim: unknown --plant '" << plant_name << "'\n";
    return 2;
  }
  uint64_t first = seed, last = seed;
  if (!seeds.empty()) {
    auto dots = seeds.find("..");
    try {
      if (dots == std::string::npos) throw std::invalid_argument(seeds);
      first = std::stoull(seeds.substr(0, dots));
      last = std::stoull(seeds.substr(dots + 2));
    } catch (const std::exception&) {
      std::cerr << "offsync-sim: --seeds takes A..B, not '" << seeds << "'\n";
      return 2;
    }
    if (last < first) {
      std::cerr << "offsync-sim: --seeds " << seeds << " is empty\n";
      return 2;
    }
  }
  auto start = std::chrono::steady_clock::now();
  int failed = 0;
  int64_t crashes = 0, restarts = 0, conflicts = 0, writes = 0;
  for (uint64_t s = first; s <= last; ++s) {
    offsync::sim::Outcome out = offsync::sim::run({s, clients, steps, plant, trace, postgres});
    crashes += out.crashes;
    restarts += out.restarts;
    conflicts += out.conflicts;
    writes += out.writes;
    if (!out.ok) {
      ++failed;
      if (!trace) {
        size_t from = out.trace.size() > 300 ? out.trace.size() - 300 : 0;
        for (size_t i = from; i < out.trace.size(); ++i) std::cout << out.trace[i] << "\n";
      }
      std::cout << "seed " << s << " FAILED: " << out.failure << "\n  replay: offsync-sim --seed " << s << " --clients "
                << clients << " --steps " << steps << " --plant " << plant_name << " --trace\n";
      if (seeds.empty() || failed >= 3) break;
    }
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (json) {
    std::printf("{\"seeds\":%llu,\"failed\":%d,\"clients\":%d,\"steps\":%d,\"writes\":%lld,\"crashes\":%lld,"
                "\"restarts\":%lld,\"conflicts\":%lld,\"seconds\":%.1f}\n",
                static_cast<unsigned long long>(last - first + 1), failed, clients, steps, static_cast<long long>(writes),
                static_cast<long long>(crashes), static_cast<long long>(restarts), static_cast<long long>(conflicts), seconds);
  } else {
    std::printf("%s: seeds %llu..%llu, %d clients x %d steps: %lld writes, %lld crashes, %lld server restarts, %lld conflicts, %.1f s\n",
                failed ? "FAILED" : "ok", static_cast<unsigned long long>(first), static_cast<unsigned long long>(last),
                clients, steps, static_cast<long long>(writes), static_cast<long long>(crashes),
                static_cast<long long>(restarts), static_cast<long long>(conflicts), seconds);
  }
  return failed ? 1 : 0;
}
