// The simulated world (sim.h): its actors, the steps of a run, healing and the invariants.
#include "sim/sim.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>

#include "offsync/client.h"
#include "offsync/clock.h"
#include "offsync/schema.h"
#include "sim/crash_vfs.h"

namespace offsync::sim {

using nlohmann::json;

namespace {

constexpr int64_t kStart = 1'900'000'000'000;
constexpr int kRecords = 6;  // per collection: a small shared set, so that clients collide
constexpr const char* kSchema = R"({"collections": {
  "notes": {},
  "tasks": {"required": ["title"], "fields": {"status": {"type": "string", "merge": "escalate"}}}}})";

// Random bytes from a seed: ULIDs, jitter and HLC node ids replay exactly.
class SeededRandom final : public RandomSource {
 public:
  explicit SeededRandom(uint64_t seed) : gen_(seed) {}
  void fill(std::span<uint8_t> out) override {
    for (auto& b : out) b = static_cast<uint8_t>(gen_() & 0xff);
  }

 private:
  std::mt19937_64 gen_;
};

struct SimClient {
  int index = 0;
  std::string target;  // "cloud", or "relay" (an app of the device the relay runs on)
  std::string dir;
  ManualClock clock;
  int64_t offset = 0;  // its wall clock's error
  std::unique_ptr<SeededRandom> random;
  std::shared_ptr<SimTransport> transport;
  std::unique_ptr<Client> client;
  // Per record ("collection/id"): the last write the API acknowledged, and the key it goes with.
  struct Last {
    std::string id, key;
    bool dropped = false;  // the user discarded it, or took the server's side
    std::string what;
  };
  std::map<std::string, Last> last;
};

class World {
 public:
  explicit World(const Config& config)
      : config_(config),
        rng_(config.seed),
        network_(rng_, [this](const std::string& line) { note(line); }, config.plant) {
    static std::atomic<int> runs{0};
    root_ = (std::filesystem::temp_directory_path() /
             ("offsync-sim-" + std::to_string(getpid()) + "-" + std::to_string(runs++)))
                .string();
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_ + "/server");
    std::filesystem::create_directories(root_ + "/relay");
    server_random_ = std::make_unique<SeededRandom>(rng_());
    relay_random_ = std::make_unique<SeededRandom>(rng_());
    server_clock_.set(kStart);
    relay_clock_.set(kStart);
    open_server();
    open_relay();
    for (int i = 0; i < config.clients; ++i) {
      auto c = std::make_unique<SimClient>();
      c->index = i;
      c->dir = root_ + "/c" + std::to_string(i) + "/";
      std::filesystem::create_directories(c->dir);
      c->clock.set(kStart);
      c->random = std::make_unique<SeededRandom>(rng_());
      // Every third client is an app on the relay's device (with two or more clients, one at least).
      c->target = config.clients >= 2 && i % 3 == 1 ? "relay" : "cloud";
      c->transport = std::make_shared<SimTransport>(network_, i, c->target);
      clients_.push_back(std::move(c));
      open_client(*clients_.back());
    }
  }
  ~World() {
    for (auto& c : clients_) {
      c->client.reset();
      CrashVfs::reset(c->dir);
    }
    relay_.reset();
    server_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(root_, ignored);
  }

  Outcome run() {
    for (step_ = 1; step_ <= config_.steps && outcome_.ok; ++step_) one_step();
    if (outcome_.ok) heal();
    if (outcome_.ok) check_final();
    outcome_.applied = network_.delivered;
    return std::move(outcome_);
  }

 private:
  // ---- Actors ----
  void open_server() {
    ServerOptions o{.db_path = root_ + "/server/server.db", .durability = Durability::kNormal};
    o.schema = *Schema::parse(kSchema);
    o.clock = &server_clock_;
    o.random = server_random_.get();
    auto server = Server::open(std::move(o));
    if (!server) return fail("the server did not open: " + server.status().to_string());
    server_ = std::move(*server);
    network_.set_server("cloud", server_.get());
  }

  // The provider app's server half on the device: it serves its local apps and relays to the cloud.
  void open_relay() {
    ServerOptions o{.db_path = root_ + "/relay/relay.db", .durability = Durability::kNormal};
    o.schema = *Schema::parse(kSchema);
    o.clock = &relay_clock_;
    o.random = relay_random_.get();
    o.upstream.transport = std::make_shared<SimTransport>(network_, SimNetwork::kRelayUplink, "cloud");
    o.upstream.client_path = root_ + "/relay/upstream.db";
    o.upstream.manual = true;  // the simulation runs it, in its one thread
    o.upstream.pull_min_interval_ms = 0;
    o.upstream.sync.batch_size = 1 + static_cast<int>(rng_() % 8);
    auto relay = Server::open(std::move(o));
    if (!relay) return fail("the relay did not open: " + relay.status().to_string());
    relay_ = std::move(*relay);
    network_.set_server("relay", relay_.get());
  }

  void run_relay() {
    Status s = relay_->run_relay_once();
    note("the relay hands over and syncs: " + s.to_string());
    if (!s) fail("the relay's round failed: " + s.to_string());
  }

  void open_client(SimClient& c) {
    ClientOptions o{.path = c.dir + "app.db", .durability = Durability::kNormal};
    o.clock = &c.clock;
    o.random = c.random.get();
    o.vfs = CrashVfs::name();
    o.sync.transport = c.transport;
    o.sync.background = false;  // the simulation runs every round itself, in one thread
    o.sync.app_version = "1.0.0";
    o.sync.batch_size = 1 + static_cast<int>(rng_() % 8);
    auto client = Client::open(std::move(o));
    if (!client) return fail("client " + std::to_string(c.index) + " did not open: " + client.status().to_string());
    c.client = std::move(*client);
  }

  // A client whose fuse blew is dead: it is dropped and its process started again.
  bool crashed(SimClient& c) {
    if (!CrashVfs::blown(c.dir)) return false;
    c.client.reset();
    CrashVfs::reset(c.dir);
    ++outcome_.crashes;
    note("c" + std::to_string(c.index) + " CRASHED; reopened");
    open_client(c);
    return true;
  }

  // ---- The steps ----
  void one_step() {
    now_ += static_cast<int64_t>(rng_() % 2000);
    server_clock_.set(now_ + server_offset_);
    relay_clock_.set(now_ + relay_offset_);
    for (auto& c : clients_) c->clock.set(now_ + c->offset);
    SimClient& c = *clients_[rng_() % clients_.size()];
    int roll = static_cast<int>(rng_() % 100);
    if (roll < 40) {
      write(c);
    } else if (roll < 70) {
      sync(c);
    } else if (roll < 78) {
      settle(c, false);
    } else if (roll < 83) {
      int64_t writes = 1 + static_cast<int64_t>(rng_() % 12);
      CrashVfs::arm(c.dir, writes);
      note("c" + std::to_string(c.index) + " will crash at its " + std::to_string(writes) + "th file write from now");
      if (rng_() % 2) write(c); else sync(c);
    } else if (roll < 87) {
      if (network_.partitioned.erase(c.index) == 0) network_.partitioned.insert(c.index);
      note("c" + std::to_string(c.index) + (network_.partitioned.count(c.index) ? " partitioned" : " reconnected"));
    } else if (roll < 90) {
      int64_t step = (rng_() % 2 ? 1 : -1) * 3600LL * 1000;
      if (rng_() % 4 == 0) {
        server_offset_ += step;
        note("the server's clock steps " + std::to_string(step / 60000) + " min");
      } else if (rng_() % 4 == 0) {
        relay_offset_ += step;
        note("the relay's clock steps " + std::to_string(step / 60000) + " min");
      } else {
        c.offset += step;
        note("c" + std::to_string(c.index) + "'s clock steps " + std::to_string(step / 60000) + " min");
      }
    } else if (roll < 92) {
      note("the server restarts");
      server_.reset();
      network_.set_server("cloud", nullptr);
      ++outcome_.restarts;
      open_server();
    } else if (roll < 93) {
      note("the relay restarts");
      relay_.reset();
      network_.set_server("relay", nullptr);
      ++outcome_.restarts;
      open_relay();
    } else if (roll < 94) {
      int uplink = SimNetwork::kRelayUplink;
      if (network_.partitioned.erase(uplink) == 0) network_.partitioned.insert(uplink);
      note(network_.partitioned.count(uplink) ? "the relay's device goes offline" : "the relay's device is back online");
    } else if (roll < 97) {
      run_relay();
    } else {
      network_.flush_delayed(1 + rng_() % 3);
    }
    if (outcome_.ok) crashed(c);
  }

  void write(SimClient& c) {
    bool task = rng_() % 10 < 3;
    std::string collection = task ? "tasks" : "notes";
    std::string record = "r" + std::to_string(rng_() % kRecords);
    std::string key = collection + "/" + record;
    int kind = static_cast<int>(rng_() % 100);
    std::string who = "c" + std::to_string(c.index);
    Result<std::string> id = Status::internal("unset");
    json fields;
    std::string what;
    if (kind < 45) {
      fields = task ? json{{"title", "t" + std::to_string(step_)}, {"status", pick_status()}}
                    : json{{"v", step_}, {"by", who}};
      if (task && rng_() % 12 == 0) fields.erase("title");  // the server will refuse it
      what = "put " + key + " " + fields.dump();
      id = c.client->put(collection, record, fields);
    } else if (kind < 80) {
      fields = task ? json{{"status", pick_status()}} : json{{"p", step_}};
      what = "patch " + key + " " + fields.dump();
      id = c.client->patch(collection, record, fields);
    } else {
      what = "remove " + key;
      id = c.client->remove(collection, record);
    }
    note(who + " " + what + " -> " + (id ? (id->empty() ? std::string("(nothing to send)") : *id) : id.status().to_string()));
    if (CrashVfs::blown(c.dir)) return;  // it may or may not have been written: not acknowledged
    if (!id) {
      if (id.status().code() == StatusCode::kNotFound) return;  // no such record here
      return fail(who + " " + what + " failed: " + id.status().to_string());
    }
    ++outcome_.writes;
    // Folded into an unsent mutation, it goes with that one's key (a new one after a resolution).
    std::string sent_as = *id;
    if (!id->empty()) {
      if (auto m = c.client->mutation(*id); m && !m->idempotency_key.empty()) sent_as = m->idempotency_key;
    }
    c.last[key] = {*id, sent_as, false, who + " " + what};
    // Read your writes: the app sees what it just wrote.
    auto seen = c.client->get(collection, record);
    if (kind >= 80) {
      if (seen) fail(who + " removed " + key + " and still sees it: " + seen->fields.dump());
      return;
    }
    if (!seen) return fail(who + " wrote " + key + " and does not see it: " + seen.status().to_string());
    for (const auto& [field, value] : fields.items()) {
      if (!seen->fields.contains(field) || seen->fields[field] != value) {
        return fail(who + " wrote " + key + " " + fields.dump() + " and sees " + seen->fields.dump());
      }
    }
  }

  std::string pick_status() {
    static const char* kStatuses[] = {"open", "done", "cancelled"};
    return kStatuses[rng_() % 3];
  }

  void sync(SimClient& c) {
    auto report = c.client->sync_once();
    std::string who = "c" + std::to_string(c.index);
    if (!report) {
      note(who + " sync: " + report.status().to_string());
      return;
    }
    outcome_.conflicts += report->conflicts;
    outcome_.rejected += report->rejected;
    note(who + " sync: sent " + std::to_string(report->sent) + ", applied " + std::to_string(report->applied) +
         ", pulled " + std::to_string(report->pulled) + ", transient " + std::to_string(report->transient_left) +
         (report->reached ? "" : ", unreachable"));
    if (report->pull_complete && report->conflicts > 0) check_conflicts(c);
  }

  // An `escalate` field in conflict is never merged: right after a round whose pull completed,
  // the app shows the server's value of a record whose only pending change is in conflict.
  void check_conflicts(SimClient& c) {
    auto outbox = c.client->outbox();
    if (!outbox) return;
    std::optional<std::map<std::string, json>> server;
    for (const Mutation& m : *outbox) {
      if (m.state != MutationState::kConflict || m.collection != "tasks") continue;
      int of_record = 0;
      for (const Mutation& other : *outbox) of_record += other.record_id == m.record_id && other.collection == m.collection;
      if (of_record > 1) continue;
      if (!server) server = server_state(c.target == "relay" ? *relay_ : *server_);
      auto it = server->find(m.collection + "/" + m.record_id);
      auto seen = c.client->get(m.collection, m.record_id);
      json shown = seen ? seen->fields.value("status", json()) : json("(absent)");
      json held = it != server->end() ? it->second.value("status", json()) : json("(absent)");
      if (shown != held) {
        return fail("c" + std::to_string(c.index) + " merged an escalate field in conflict (" + m.id + "): shows " +
                    shown.dump() + ", the server has " + held.dump());
      }
    }
  }

  // The user settles what waits for them: conflicts resolved, refusals discarded.
  void settle(SimClient& c, bool all) {
    auto outbox = c.client->outbox();
    if (!outbox) return;
    std::string who = "c" + std::to_string(c.index);
    for (const Mutation& m : *outbox) {
      std::string key = m.collection + "/" + m.record_id;
      auto last = c.last.find(key);
      // A refusal a relay passed on comes back under the key it was sent with.
      bool is_last = last != c.last.end() &&
                     (last->second.id == m.id || last->second.key == m.id || last->second.key == m.idempotency_key);
      if (m.state == MutationState::kRejected) {
        Status s = c.client->discard(m.id);
        note(who + " discards " + m.id + " (" + m.last_error + "): " + s.to_string());
        if (s && is_last) last->second.dropped = true;
      } else if (m.state == MutationState::kConflict) {
        int choice = static_cast<int>(rng_() % 3);
        Status s = choice == 0   ? c.client->resolve(m.id, Resolution::kTakeServer)
                   : choice == 1 ? c.client->resolve(m.id, Resolution::kKeepMine)
                                 : c.client->resolve(m.id, Resolution::kEdited,
                                                     json{{"title", "edited"}, {"status", pick_status()}});
        note(who + " resolves " + m.id + (choice == 0 ? " take-server" : choice == 1 ? " keep-mine" : " edit") + ": " +
             s.to_string());
        if (s && is_last) {
          if (choice == 0) {
            last->second.dropped = true;
          } else if (auto now = c.client->mutation(m.id)) {
            last->second.key = now->idempotency_key.empty() ? now->id : now->idempotency_key;
          }
        }
      } else {
        continue;
      }
      if (CrashVfs::blown(c.dir) || !all) return;
    }
  }

  // ---- Healing and the final invariants ----
  void heal() {
    note("HEALING: faults off, partitions healed, delayed requests delivered");
    network_.faults = false;
    network_.partitioned.clear();
    network_.flush_delayed(network_.delayed());
    for (auto& c : clients_) {
      CrashVfs::reset(c->dir);
    }
    // Rounds until one leaves nothing to do: every client pushes and pulls, the relay forwards
    // and pulls, the clients pull again (upstream's outcomes, the others' changes) and settle.
    bool quiet = false;
    for (int round = 0; round < 60 && outcome_.ok; ++round) {
      auto everyone = [&] {
        bool empty = true;
        for (auto& c : clients_) {
          now_ += 1000;
          c->clock.set(now_ + c->offset);
          sync(*c);
          settle(*c, true);
          auto outbox = c->client->outbox();
          if (!outbox) {
            fail("c" + std::to_string(c->index) + "'s outbox cannot be read: " + outbox.status().to_string());
            return false;
          }
          empty = empty && outbox->empty();
        }
        return empty;
      };
      everyone();
      run_relay();
      bool empty = everyone();
      // Done after a round that started with nothing pending anywhere: its pulls saw everything.
      if (empty && !relay_->has_upstream_work() && outcome_.ok) {
        if (quiet) return;
        quiet = true;
      } else {
        quiet = false;
      }
    }
    if (outcome_.ok) {
      fail(std::string("the outboxes did not drain to zero after healing") +
           (relay_->has_upstream_work() ? " (the relay still has mutations to forward)" : ""));
    }
  }

  // Every live record of the server (one shared partition).
  std::map<std::string, json> server_state(Server& from) {
    std::map<std::string, json> live;
    std::string cursor;
    for (int page = 0; page < 1000; ++page) {
      HttpRequest r{.method = "GET", .target = "/v1/sync?limit=100" + (cursor.empty() ? "" : "&cursor=" + cursor)};
      HttpResponse answer = from.handle(r);
      json body = json::parse(answer.body, nullptr, false);
      if (answer.status != 200 || !body.is_object()) {
        fail("the server's change log cannot be read: " + answer.body);
        return live;
      }
      for (const auto& change : body["changes"]) {
        std::string key = change["collection"].get<std::string>() + "/" + change["record"].get<std::string>();
        if (change["op"] == "delete") {
          live.erase(key);
        } else {
          live[key] = change["fields"];
        }
      }
      cursor = body.value("cursor", "");
      if (!body.value("has_more", false)) break;
    }
    return live;
  }

  void check_final() {
    // Exactly one effect per mutation: no retry, duplicate or late delivery applied one twice.
    int64_t total = 0;
    for (const auto& [target, counts] : network_.applied) {
      for (const auto& [id, times] : counts) {
        if (target == "cloud") total += times;
        if (times > 1) return fail("mutation " + id + " was applied " + std::to_string(times) + " times by the " + target);
      }
    }
    auto& on_cloud = network_.applied["cloud"];
    auto stats = server_->stats();
    if (!stats) return fail("server stats: " + stats.status().to_string());
    // No write the API acknowledged is lost: each client's last write of each record was applied
    // (unless the user discarded it or took the server's side).
    for (auto& c : clients_) {
      for (const auto& [record, last] : c->last) {
        if (last.id.empty() || last.dropped) continue;
        if (on_cloud.count(last.key) == 0) {
          return fail("an acknowledged write was lost: " + last.what + " (mutation " + last.id + ", key " + last.key +
                      ") never reached the cloud" + (c->target == "relay" ? " through the relay" : ""));
        }
      }
    }
    // Every client's view is the server's state.
    std::map<std::string, json> server = server_state(*server_);
    if (!outcome_.ok) return;
    for (auto& c : clients_) {
      std::map<std::string, json> seen;
      for (const char* collection : {"notes", "tasks"}) {
        auto listed = c->client->list(collection);
        if (!listed) return fail("c" + std::to_string(c->index) + " list: " + listed.status().to_string());
        for (const Record& r : *listed) seen[std::string(collection) + "/" + r.id] = r.fields;
      }
      if (seen != server) {
        std::string diff;
        for (const auto& [k, v] : server) {
          auto it = seen.find(k);
          if (it == seen.end()) diff += " missing " + k + ";";
          else if (it->second != v) diff += " " + k + " shows " + it->second.dump() + " not " + v.dump() + ";";
        }
        for (const auto& [k, v] : seen) {
          if (!server.count(k)) diff += " " + k + " resurrected (the server has it deleted or never had it);";
        }
        return fail("c" + std::to_string(c->index) + (c->target == "relay" ? " (through the relay)" : "") +
                    " does not converge with the cloud:" + diff);
      }
    }
    note("all invariants hold: " + std::to_string(total) + " mutations applied, " + std::to_string(server.size()) +
         " live records, " + std::to_string(stats->replays) + " replays");
  }

  void note(const std::string& line) {
    std::string entry = "[" + std::to_string(step_) + "] " + line;
    if (config_.echo) fprintf(stderr, "%s\n", entry.c_str());
    outcome_.trace.push_back(std::move(entry));
  }
  void fail(const std::string& why) {
    if (!outcome_.ok) return;
    outcome_.ok = false;
    outcome_.failure = why;
    note("INVARIANT BROKEN: " + why);
  }

  Config config_;
  std::mt19937_64 rng_;
  SimNetwork network_;
  Outcome outcome_;
  std::string root_;
  int step_ = 0;
  int64_t now_ = kStart;
  ManualClock server_clock_;
  int64_t server_offset_ = 0;
  std::unique_ptr<SeededRandom> server_random_;
  ManualClock relay_clock_;
  int64_t relay_offset_ = 0;
  std::unique_ptr<SeededRandom> relay_random_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<Server> relay_;  // declared after server_: goes first
  std::vector<std::unique_ptr<SimClient>> clients_;
};

}  // namespace

Outcome run(const Config& config) {
  World world(config);
  return world.run();
}

std::vector<std::string> plant_names() { return {"none", "no-idempotency", "phantom-delete-ack", "skipped-change"}; }

bool parse_plant(const std::string& name, Plant* out) {
  static const std::map<std::string, Plant> kPlants = {{"none", Plant::kNone},
                                                        {"no-idempotency", Plant::kNoIdempotency},
                                                        {"phantom-delete-ack", Plant::kPhantomDeleteAck},
                                                        {"skipped-change", Plant::kSkippedChange}};
  auto it = kPlants.find(name);
  if (it == kPlants.end()) return false;
  *out = it->second;
  return true;
}

}  // namespace offsync::sim
