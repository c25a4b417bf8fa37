#include "bench/sync_bench.h"

#include <curl/curl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <stdexcept>
#include <thread>

#include "bench/live_server.h"
#include "bench/scratch.h"
#include "offsync/client.h"
#include "offsync/server.h"
#include "offsync/transport.h"
#include "offsync/ulid.h"
#include "offsync/listener.h"

namespace offsync::bench {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

json note(int i) { return {{"title", "note " + std::to_string(i)}, {"body", "written offline"}, {"done", false}}; }

std::unique_ptr<Client> client_for(const std::string& db, const std::string& url, bool fill_fast = false,
                                   int batch_size = 0) {
  auto transport = make_curl_transport({.base_url = url});
  if (!transport) throw std::runtime_error(transport.status().to_string());
  ClientOptions options{.path = db, .durability = fill_fast ? Durability::kNormal : Durability::kFull};
  options.sync.transport = std::shared_ptr<Transport>(std::move(*transport));
  options.sync.background = false;
  if (batch_size > 0) options.sync.batch_size = batch_size;
  auto client = Client::open(options);
  if (!client) throw std::runtime_error(client.status().to_string());
  return std::move(*client);
}

void fill(const std::string& db, int n) {
  auto client = Client::open({.path = db, .durability = Durability::kNormal});
  if (!client) throw std::runtime_error(client.status().to_string());
  for (int i = 0; i < n; ++i) {
    if (!(*client)->put("notes", "n" + std::to_string(i), note(i))) throw std::runtime_error("fill failed");
  }
}

// The baseline: what an app without offsync would do: one POST per mutation, keep-alive.
double hand_written_loop(const std::string& url, int n) {
  CURL* curl = curl_easy_init();
  UlidGenerator keys(system_clock(), system_random());
  std::string sink;
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    std::string key = "Idempotency-Key: " + keys.generate()->to_string();
    curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
    headers = curl_slist_append(headers, key.c_str());
    std::string body = json{{"collection", "notes"}, {"record", "h" + std::to_string(i)}, {"op", "upsert"},
                            {"fields", note(i)}, {"base", nullptr}}.dump();
    curl_easy_setopt(curl, CURLOPT_URL, (url + "/v1/mutations").c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, +[](char*, size_t size, size_t count, void*) { return size * count; });
    CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) throw std::runtime_error(curl_easy_strerror(rc));
  }
  double rate = n / seconds_since(start);
  curl_easy_cleanup(curl);
  return rate;
}

long peak_rss_kib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

}  // namespace

int drain_child(const std::string& db, const std::string& url) {
  auto client = client_for(db, url);
  auto report = client->sync_once();
  if (!report || report->transient_left > 0 || !report->reached) return 1;
  std::cout << peak_rss_kib() << std::endl;
  return 0;
}

json run_drain(const DrainConfig& c) {
  Scratch scratch;
  json out = {{"benchmark", "drain"}};
  {
    LiveServer server(scratch.fresh("server.db"));
    std::string db = scratch.fresh("client.db");
    fill(db, c.mutations);
    auto client = client_for(db, server.url, false, c.batch_size);
    auto start = Clock::now();
    auto report = client->sync_once();
    double seconds = seconds_since(start);
    if (!report || report->applied != c.mutations) throw std::runtime_error("drain did not apply everything");
    double engine = c.mutations / seconds;
    double loop = hand_written_loop(server.url, c.baseline);
    out["mutations"] = c.mutations;
    out["batch_size"] = c.batch_size > 0 ? c.batch_size : SyncOptions{}.batch_size;
    out["engine_mutations_per_s"] = std::round(engine);
    out["hand_written_loop_mutations_per_s"] = std::round(loop);
    out["ratio_engine_over_loop"] = std::round(engine / loop * 100) / 100;
  }
  if (c.rss_mutations > 0) {
    LiveServer server(scratch.fresh("rss-server.db"));
    std::string db = scratch.fresh("rss-client.db");
    fill(db, c.rss_mutations);
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0) throw std::runtime_error("pipe");
    pid_t pid = fork();
    if (pid == 0) {
      dup2(pipe_fds[1], 1);
      execl(c.self.c_str(), c.self.c_str(), "drain-child", db.c_str(), server.url.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(pipe_fds[1]);
    std::string text;
    char buf[64];
    ssize_t n;
    while ((n = read(pipe_fds[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
    close(pipe_fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error("the RSS child failed");
    out["rss_mutations"] = c.rss_mutations;
    out["peak_rss_mib_draining"] = std::round(std::stod(text) / 1024.0 * 10) / 10;
  }
  return out;
}

json run_pull(const PullConfig& c) {
  Scratch scratch;
  LiveServer server(scratch.fresh("server.db"));
  // Server-side records, written through the batch endpoint in this process.
  auto load = [&](int from, int to) {
    UlidGenerator keys(system_clock(), system_random());
    for (int i = from; i < to; i += 500) {
      json items = json::array();
      for (int j = i; j < std::min(to, i + 500); ++j) {
        items.push_back({{"idempotency_key", keys.generate()->to_string()}, {"collection", "notes"},
                         {"record", "s" + std::to_string(j)}, {"op", "upsert"}, {"fields", note(j)}, {"base", nullptr}});
      }
      HttpRequest r{.method = "POST", .target = "/v1/mutations:batch"};
      r.headers.add("Content-Type", "application/json");
      r.body = json{{"mutations", items}}.dump();
      if (server.server->handle(r).status != 200) throw std::runtime_error("load failed");
    }
  };
  json out = {{"benchmark", "pull"}};
  load(0, c.changes);
  {
    auto client = client_for(scratch.fresh("pull.db"), server.url);
    auto start = Clock::now();
    auto report = client->sync_once();
    double seconds = seconds_since(start);
    if (!report || report->pulled != c.changes) throw std::runtime_error("pull did not bring everything");
    out["changes"] = c.changes;
    out["changes_per_s"] = std::round(c.changes / seconds);
  }
  // One change into a store of `size` records: the cost must follow the change, not the store.
  auto one_change_ms = [&](int size, const std::string& name) {
    load(c.changes, std::max(c.changes, size));
    auto client = client_for(scratch.fresh(name), server.url, true);
    if (!client->sync_once()) throw std::runtime_error("initial pull failed");
    double best = 1e9;
    for (int round = 0; round < 5; ++round) {
      load(size + round, size + round + 1);
      auto start = Clock::now();
      auto report = client->sync_once();
      best = std::min(best, seconds_since(start) * 1000);
      if (!report || report->pulled != 1) throw std::runtime_error("one-change pull failed");
    }
    return best;
  };
  double small = one_change_ms(c.small_store, "small.db");
  double large = one_change_ms(c.large_store, "large.db");
  out["one_change_ms_small_store"] = std::round(small * 100) / 100;
  out["one_change_ms_large_store"] = std::round(large * 100) / 100;
  out["small_store_records"] = c.small_store;
  out["large_store_records"] = c.large_store;
  out["ratio_large_over_small"] = std::round(large / small * 100) / 100;
  return out;
}

}  // namespace offsync::bench
