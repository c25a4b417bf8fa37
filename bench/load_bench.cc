#include "bench/load_bench.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <map>
#include <pqxx/pqxx>
#include <stdexcept>
#include <thread>
#include <vector>

#include "bench/live_server.h"
#include "bench/scratch.h"
#include "offsync/client.h"
#include "offsync/transport.h"

namespace offsync::bench {
namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

// A server process started from this program (serve-child), stopped by closing its stdin.
class ServerProcess {
 public:
  ServerProcess(const std::string& self, const std::string& postgres) {
    // Close-on-exec: a second server process must not hold the first one's stdin open.
    int out[2], in[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      dup2(in[0], 0);
      close(out[0]);
      close(in[1]);
      execl(self.c_str(), self.c_str(), "serve-child", postgres.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(out[1]);
    close(in[0]);
    stdin_ = in[1];
    std::string line;
    char c;
    while (read(out[0], &c, 1) == 1 && c != '\n') line += c;
    close(out[0]);
    if (line.rfind("http://", 0) != 0) throw std::runtime_error("a server process did not start: " + line);
    url = line;
  }
  ~ServerProcess() {
    close(stdin_);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  std::string url;

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
};

// A fresh schema of the database for one run, dropped afterwards.
class Schema {
 public:
  Schema(const std::string& base, const std::string& name) : base_(base), name_(name) {
    exec("DROP SCHEMA IF EXISTS " + name_ + " CASCADE; CREATE SCHEMA " + name_);
    conninfo = base + " options='-c search_path=" + name_ + "'";
  }
  ~Schema() {
    try {
      exec("DROP SCHEMA IF EXISTS " + name_ + " CASCADE");
    } catch (...) {
    }
  }
  std::string conninfo;

 private:
  void exec(const std::string& sql) {
    pqxx::connection c(base_);
    pqxx::nontransaction t(c);
    t.exec("SET client_min_messages = warning");
    t.exec(sql);
  }
  std::string base_, name_;
};

struct Run {
  double seconds = 0;
  int64_t applied = 0;
};

// The devices write, sync at once (timed), sync again, and are checked against `server`.
Run drive(Scratch& scratch, const std::string& tag, const std::vector<std::string>& urls, Server& server,
          const LoadConfig& c) {
  std::vector<std::unique_ptr<Client>> devices;
  for (int d = 0; d < c.devices; ++d) {
    auto transport = make_curl_transport({.base_url = urls[static_cast<size_t>(d) % urls.size()]});
    if (!transport) throw std::runtime_error(transport.status().to_string());
    ClientOptions o{.path = scratch.fresh(tag + "-device" + std::to_string(d) + ".db"), .durability = Durability::kNormal};
    o.sync.transport = std::shared_ptr<Transport>(std::move(*transport));
    o.sync.background = false;
    o.coalesce = false;  // every write is a mutation of its own
    auto client = Client::open(o);
    if (!client) throw std::runtime_error(client.status().to_string());
    for (int j = 0; j < c.mutations; ++j) {
      if (!(*client)->put("notes", "r" + std::to_string(j), {{"device", d}, {"n", j}})) throw std::runtime_error("write failed");
    }
    devices.push_back(std::move(*client));
  }
  auto all_sync = [&] {
    std::atomic<size_t> next{0};
    std::atomic<int> failed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < c.threads; ++t) {
      threads.emplace_back([&] {
        for (size_t i = next++; i < devices.size(); i = next++) {
          auto report = devices[i]->sync_once();
          if (!report || !report->reached) ++failed;
        }
      });
    }
    for (auto& t : threads) t.join();
    if (failed > 0) throw std::runtime_error(std::to_string(failed.load()) + " devices could not sync");
  };
  auto start = SteadyClock::now();
  all_sync();
  Run run;
  run.seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  all_sync();  // every device hears the others' last writes
  // Exactly once: every mutation applied, none twice.
  auto stats = server.stats();
  if (!stats) throw std::runtime_error(stats.status().to_string());
  run.applied = stats->mutations_applied;
  int64_t expected = static_cast<int64_t>(c.devices) * c.mutations;
  if (run.applied != expected) {
    throw std::runtime_error(tag + ": " + std::to_string(run.applied) + " mutations applied, not " + std::to_string(expected));
  }
  // Convergence: every device shows the server's records, with empty outboxes.
  std::map<std::string, json> state;
  std::string cursor;
  for (int page = 0; page < 10000; ++page) {
    HttpRequest r{.method = "GET", .target = "/v1/sync?limit=500" + (cursor.empty() ? "" : "&cursor=" + cursor)};
    json body = json::parse(server.handle(r).body);
    for (const auto& change : body["changes"]) state[change["record"].get<std::string>()] = change["fields"];
    cursor = body.value("cursor", "");
    if (!body.value("has_more", false)) break;
  }
  for (size_t d = 0; d < devices.size(); ++d) {
    auto outbox = devices[d]->outbox();
    if (!outbox || !outbox->empty()) throw std::runtime_error(tag + ": device " + std::to_string(d) + " kept unsent mutations");
    auto listed = devices[d]->list("notes");
    if (!listed) throw std::runtime_error(listed.status().to_string());
    std::map<std::string, json> seen;
    for (const auto& r : *listed) seen[r.id] = r.fields;
    if (seen != state) throw std::runtime_error(tag + ": device " + std::to_string(d) + " does not show the server's state");
  }
  return run;
}

json figures(const LoadConfig& c, const Run& r) {
  return {{"seconds", std::round(r.seconds * 100) / 100},
          {"mutations_per_s", std::round(static_cast<double>(c.devices) * c.mutations / r.seconds)},
          {"applied_exactly_once", r.applied}};
}

}  // namespace

int serve_child(const std::string& postgres) {
  try {
    LiveServer server(ServerOptions{.postgres = postgres, .durability = Durability::kNormal});
    std::cout << server.url << std::endl;
    char c;
    while (read(0, &c, 1) > 0) {
    }
    return 0;
  } catch (const std::exception& e) {
    std::cout << "error: " << e.what() << std::endl;
    return 1;
  }
}

json run_load(const LoadConfig& config) {
  LoadConfig c = config;
  if (c.devices <= 0 || c.mutations <= 0 || c.threads <= 0) throw std::invalid_argument("--devices, --mutations and --threads must be positive");
  if (c.postgres.empty()) {
    const char* env = std::getenv("OFFSYNC_PG_CONNINFO");
    if (env) c.postgres = env;
  }
  if (c.postgres.empty()) {
    throw std::invalid_argument("needs a PostgreSQL database: --postgres CONNINFO or OFFSYNC_PG_CONNINFO (scripts/pg-cluster start)");
  }
  Scratch scratch;
  json out = {{"benchmark", "load"}, {"devices", c.devices}, {"mutations_per_device", c.mutations},
              {"syncing_at_once", c.threads}};
  {
    LiveServer sqlite(ServerOptions{.db_path = scratch.fresh("load-server.db"), .durability = Durability::kNormal});
    out["sqlite_1_process"] = figures(c, drive(scratch, "sqlite", {sqlite.url}, *sqlite.server, c));
  }
  for (int processes : {1, 2}) {
    Schema schema(c.postgres, "offsync_load_" + std::to_string(getpid()) + "_" + std::to_string(processes));
    auto checker = Server::open(ServerOptions{.postgres = schema.conninfo});
    if (!checker) throw std::runtime_error(checker.status().to_string());
    std::vector<std::unique_ptr<ServerProcess>> servers;
    std::vector<std::string> urls;
    for (int p = 0; p < processes; ++p) {
      servers.push_back(std::make_unique<ServerProcess>(c.self, schema.conninfo));
      urls.push_back(servers.back()->url);
    }
    out["postgres_" + std::to_string(processes) + (processes == 1 ? "_process" : "_processes")] =
        figures(c, drive(scratch, "pg" + std::to_string(processes), urls, **checker, c));
  }
  out["note"] = "every device writes the same records (last writer wins), all devices sync at once through the "
                "server processes (round robin), then again; checked: applied exactly once, every outbox empty, "
                "every device equal to the server. Durability normal on every store; PostgreSQL on a local cluster "
                "over its Unix socket";
  return out;
}

}  // namespace offsync::bench
