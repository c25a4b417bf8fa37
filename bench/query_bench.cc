#include "bench/query_bench.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "bench/scratch.h"
#include "offsync/client.h"
#include "offsync/listener.h"
#include "offsync/server.h"
#include "offsync/transport.h"

namespace offsync::bench {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
}

int64_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

Query screen(int from) {
  return Query("notes").where(q::field("course") == "math" && q::field("due") >= from).order_by("due").limit(50);
}

// The same query written by hand against the same file: the index's expressions, the fields
// parsed as the engine parses them.
constexpr const char* kRawSql =
    "SELECT record_id, fields FROM view WHERE collection = ?1 AND json_extract(fields, '$.course') = ?2 AND "
    "json_extract(fields, '$.due') >= ?3 ORDER BY json_extract(fields, '$.due'), record_id LIMIT 50";

struct Timed {
  double per_query_us = 0;
  size_t rows = 0;
};

Timed time_engine(Client& client, int n, int records) {
  auto start = Clock::now();
  size_t rows = 0;
  for (int i = 0; i < n; ++i) {
    auto r = client.query(screen((i * 7919) % records));
    if (!r) throw std::runtime_error(r.status().to_string());
    rows += r->size();
  }
  return {ms_since(start) * 1000 / n, rows};
}

Timed time_raw(SQLite::Statement& s, int n, int records) {
  auto start = Clock::now();
  size_t rows = 0;
  for (int i = 0; i < n; ++i) {
    s.reset();
    s.bind(1, "notes");
    s.bind(2, "math");
    s.bind(3, (i * 7919) % records);
    std::vector<std::pair<std::string, json>> out;
    while (s.executeStep()) out.emplace_back(s.getColumn(0).getString(), json::parse(s.getColumn(1).getText()));
    rows += out.size();
  }
  return {ms_since(start) * 1000 / n, rows};
}

json side_by_side(Client& client, const std::string& path, int n, int rounds, int records) {
  SQLite::Database raw(path, SQLite::OPEN_READONLY);
  SQLite::Statement s(raw, kRawSql);
  Timed best_engine{1e18, 0}, best_raw{1e18, 0};
  for (int round = 0; round < rounds; ++round) {
    Timed e = time_engine(client, n, records), r = time_raw(s, n, records);
    if (e.rows != r.rows) throw std::runtime_error("the engine and raw SQLite found different rows");
    if (e.per_query_us < best_engine.per_query_us) best_engine = e;
    if (r.per_query_us < best_raw.per_query_us) best_raw = r;
  }
  return {{"engine_us_per_query", best_engine.per_query_us},
          {"raw_sqlite_us_per_query", best_raw.per_query_us},
          {"ratio_of_raw", best_raw.per_query_us / best_engine.per_query_us},
          {"rows_per_query", static_cast<double>(best_engine.rows) / n}};
}

json live_latency(Client& client, int samples, int records) {
  std::mutex mu;
  std::condition_variable cv;
  int heard = 0;
  Clock::time_point at;
  auto handle = client.watch(screen(records), [&](const std::vector<Record>&, const QueryChange&) {
    std::lock_guard<std::mutex> lock(mu);
    ++heard;
    at = Clock::now();
    cv.notify_all();
  });
  if (!handle) throw std::runtime_error(handle.status().to_string());
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return heard == 1; });
  }
  std::vector<double> latencies;
  for (int i = 0; i < samples; ++i) {
    auto written = Clock::now();
    auto w = client.put("notes", "live" + std::to_string(i % 20), {{"course", "math"}, {"due", records + i}});
    if (!w) throw std::runtime_error(w.status().to_string());
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return heard == i + 2; });
    latencies.push_back(std::chrono::duration<double, std::milli>(at - written).count());
  }
  handle->remove();
  return {{"samples", samples}, {"p50_ms", percentile(latencies, 0.5)}, {"p99_ms", percentile(latencies, 0.99)}};
}

json push_latency(Scratch& scratch, int samples) {
  auto server = Server::open({.db_path = scratch.fresh("push-server.db"), .durability = Durability::kNormal});
  if (!server) throw std::runtime_error(server.status().to_string());
  auto listener = Listener::listen_tcp(**server, "127.0.0.1", 0);
  if (!listener) throw std::runtime_error(listener.status().to_string());
  std::string base = "http://127.0.0.1:" + std::to_string((*listener)->port());
  std::thread serving([&] { (*listener)->run(); });
  auto device = [&](const std::string& name) {
    ClientOptions options{.path = scratch.fresh(name), .durability = Durability::kNormal};
    options.sync.transport = std::shared_ptr<Transport>(std::move(*make_curl_transport({.base_url = base})));
    auto c = Client::open(options);
    if (!c) throw std::runtime_error(c.status().to_string());
    return std::move(*c);
  };
  std::vector<double> latencies;
  {
    auto phone = device("phone.db"), tablet = device("tablet.db");
    std::mutex mu;
    std::condition_variable cv;
    std::set<std::string> seen;
    Clock::time_point at;
    auto handle = tablet->watch(Query("notes"), [&](const std::vector<Record>& result, const QueryChange&) {
      std::lock_guard<std::mutex> lock(mu);
      for (const auto& r : result) seen.insert(r.id);
      at = Clock::now();
      cv.notify_all();
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    for (int i = 0; i < samples; ++i) {
      std::string id = "n" + std::to_string(i);
      auto written = Clock::now();
      if (!phone->put("notes", id, {{"i", i}})) throw std::runtime_error("put failed");
      std::unique_lock<std::mutex> lock(mu);
      if (!cv.wait_for(lock, std::chrono::seconds(10), [&] { return seen.count(id) > 0; })) {
        throw std::runtime_error("a write did not reach the other device within 10 s");
      }
      latencies.push_back(std::chrono::duration<double, std::milli>(at - written).count());
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // idle again: the next poll is held
    }
    handle->remove();
  }
  (*listener)->stop();
  serving.join();
  return {{"samples", samples}, {"p50_ms", percentile(latencies, 0.5)}, {"p99_ms", percentile(latencies, 0.99)}};
}

json waiting_memory(Scratch& scratch, int waiting) {
  auto server = Server::open({.db_path = scratch.fresh("wait-server.db"), .durability = Durability::kNormal});
  if (!server) throw std::runtime_error(server.status().to_string());
  auto listener = Listener::listen_tcp(**server, "127.0.0.1", 0);
  if (!listener) throw std::runtime_error(listener.status().to_string());
  uint16_t port = (*listener)->port();
  std::thread serving([&] { (*listener)->run(); });
  // Warm up: one long poll held and answered, so that lazily made state is not counted.
  auto open_poll = [&]() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw std::runtime_error("connect failed");
    static const std::string request = "GET /v1/sync?wait=60 HTTP/1.1\r\nHost: bench\r\n\r\n";
    if (::write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
      throw std::runtime_error("write failed");
    }
    return fd;
  };
  ::close(open_poll());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  int64_t before = rss_bytes();
  std::vector<int> fds;
  for (int i = 0; i < waiting; ++i) fds.push_back(open_poll());
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  int64_t after = rss_bytes();
  (*listener)->stop();
  serving.join();
  for (int fd : fds) ::close(fd);
  return {{"waiting_devices", waiting},
          {"rss_growth_bytes", after - before},
          {"bytes_per_waiting_device", static_cast<double>(after - before) / waiting}};
}

}  // namespace

json run_query(const QueryConfig& config) {
  Scratch scratch;
  std::string path = scratch.fresh("query.db");
  json out = {{"benchmark", "query"}, {"records", config.records}};
  {
    ClientOptions options{.path = path, .durability = Durability::kNormal};
    options.indexes = std::vector<IndexSpec>{{"notes", {"course", "due"}}};
    auto client = Client::open(options);
    if (!client) throw std::runtime_error(client.status().to_string());
    const char* courses[] = {"math", "art", "biology", "chemistry", "history"};
    Status loaded = (*client)->transaction([&](Client::Transaction& tx) -> Status {
      for (int i = 0; i < config.records; ++i) {
        auto w = tx.put("notes", "n" + std::to_string(i),
                        {{"course", courses[i % 5]}, {"due", i}, {"title", "note " + std::to_string(i)}, {"done", i % 3 == 0}});
        if (!w) return w.status();
      }
      return Status::ok();
    });
    if (!loaded) throw std::runtime_error(loaded.to_string());
    auto plan = (*client)->explain(screen(0));
    out["indexed"] = side_by_side(**client, path, config.queries, config.rounds, config.records);
    out["indexed"]["uses_index"] = plan && plan->uses_index;
    out["live_query"] = live_latency(**client, config.live_samples, config.records);
  }
  {
    // The same store reopened without the index: it is dropped, and the query scans.
    auto client = Client::open({.path = path, .durability = Durability::kNormal});
    if (!client) throw std::runtime_error(client.status().to_string());
    auto plan = (*client)->explain(screen(0));
    out["unindexed_scan"] = side_by_side(**client, path, config.scans, 1, config.records);
    out["unindexed_scan"]["uses_index"] = plan && plan->uses_index;
  }
  out["push"] = push_latency(scratch, config.push_samples);
  out["server_memory"] = waiting_memory(scratch, config.waiting);
  out["goals"] = {{"indexed_ratio_of_raw", ">= 0.7"}, {"live_query_p50_ms", "<= 1"}, {"push_p50_ms", "<= 50"}};
  out["note"] =
      "indexed: a 50-row query (course == math && due >= X, by due) through Client::query against the same SQL "
      "prepared once on a second connection to the same file, both parsing the fields; best of rounds. live_query: "
      "a write to the watched query's callback on the Client's notifier thread. push: a write on one device to the "
      "other's live query, through a server on loopback (TCP, libcurl). server_memory: RSS growth of the server's "
      "process per held long poll (raw sockets).";
  return out;
}

}  // namespace offsync::bench
