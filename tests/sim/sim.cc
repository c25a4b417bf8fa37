// The simulated world (world.h): its actors and the steps of a run. The invariants and healing
// are in sim_checks.cc.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <stdexcept>

#include "offsync/schema.h"
#include "sim/crash_vfs.h"
#include "sim/world.h"

#if OFFSYNC_WITH_POSTGRES
#include <pqxx/pqxx>
#endif

namespace offsync::sim {

namespace {

// Runs SQL on the PostgreSQL the simulation was given.
void run_sql(const std::string& conninfo, const std::string& sql) {
#if OFFSYNC_WITH_POSTGRES
  pqxx::connection c(conninfo);
  pqxx::nontransaction s(c);
  s.exec("SET client_min_messages = warning");
  s.exec(sql);
#else
  (void)conninfo;
  (void)sql;
  throw std::runtime_error("offsync-sim was built without PostgreSQL");
#endif
}

}  // namespace

// The store of a server of this run: a SQLite file under root_, or a fresh PostgreSQL schema.
void World::place_store(ServerOptions& o, const std::string& name) {
  o.db_path = root_ + "/" + name + "/" + name + ".db";
  if (config_.postgres.empty()) return;
  std::string schema = "sim_" + std::filesystem::path(root_).filename().string() + "_" + name;
  for (char& ch : schema) {
    if (ch == '-') ch = '_';
  }
  if (std::find(schemas_.begin(), schemas_.end(), schema) == schemas_.end()) {
    run_sql(config_.postgres, "DROP SCHEMA IF EXISTS " + schema + " CASCADE; CREATE SCHEMA " + schema);
    schemas_.push_back(schema);
  }
  o.postgres = config_.postgres + " options='-c search_path=" + schema + "'";
}

World::World(const Config& config)
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

World::~World() {
  for (auto& c : clients_) {
    c->client.reset();
    CrashVfs::reset(c->dir);
  }
  relay_.reset();
  server_.reset();
  std::error_code ignored;
  std::filesystem::remove_all(root_, ignored);
  for (const auto& schema : schemas_) {
    try {
      run_sql(config_.postgres, "DROP SCHEMA IF EXISTS " + schema + " CASCADE");
    } catch (const std::exception&) {
      // Left for the throwaway cluster's removal.
    }
  }
}

Outcome World::run() {
  for (step_ = 1; step_ <= config_.steps && outcome_.ok; ++step_) one_step();
  if (outcome_.ok) heal();
  if (outcome_.ok) check_final();
  outcome_.applied = network_.delivered;
  return std::move(outcome_);
}

void World::open_server() {
  ServerOptions o{.durability = Durability::kNormal};
  place_store(o, "server");
  o.schema = *Schema::parse(kSchema);
  o.clock = &server_clock_;
  o.random = server_random_.get();
  auto server = Server::open(std::move(o));
  if (!server) return fail("the server did not open: " + server.status().to_string());
  server_ = std::move(*server);
  network_.set_server("cloud", server_.get());
}

void World::open_relay() {
  ServerOptions o{.durability = Durability::kNormal};
  place_store(o, "relay");
  o.schema = *Schema::parse(kSchema);
  o.clock = &relay_clock_;
  o.random = relay_random_.get();
  o.log = [this](LogLevel level, std::string_view component, std::string_view message) {
    if (level >= LogLevel::kWarning) note("relay log: " + std::string(component) + ": " + std::string(message));
  };
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

void World::run_relay() {
  Status s = relay_->run_relay_once();
  note("the relay hands over and syncs: " + s.to_string());
  if (!s) fail("the relay's round failed: " + s.to_string());
}

void World::open_client(SimClient& c) {
  ClientOptions o{.path = c.dir + "app.db", .durability = Durability::kNormal};
  o.clock = &c.clock;
  o.random = c.random.get();
  o.vfs = CrashVfs::name();
  o.sync.transport = c.transport;
  o.sync.background = false;  // the simulation runs every round itself, in one thread
  o.sync.app_version = "1.0.0";
  o.sync.batch_size = 1 + static_cast<int>(rng_() % 8);
  o.sync.attachment_chunk_bytes = 256 + static_cast<int64_t>(rng_() % 1024);  // uploads of several requests
  auto client = Client::open(std::move(o));
  if (!client) return fail("client " + std::to_string(c.index) + " did not open: " + client.status().to_string());
  c.client = std::move(*client);
  // Outcomes stored before a crash are delivered again now.
  Status handled = c.client->register_handler("sim", "event", [this, &c](const RestOutcome& outcome) { on_outcome(c, outcome); });
  note("c" + std::to_string(c.index) + " registers its request handler: " + handled.to_string());
}

bool World::crashed(SimClient& c) {
  if (!CrashVfs::blown(c.dir)) return false;
  c.client.reset();
  CrashVfs::reset(c.dir);
  ++outcome_.crashes;
  note("c" + std::to_string(c.index) + " CRASHED; reopened");
  open_client(c);
  return true;
}

void World::one_step() {
  now_ += static_cast<int64_t>(rng_() % 2000);
  server_clock_.set(now_ + server_offset_);
  relay_clock_.set(now_ + relay_offset_);
  for (auto& c : clients_) c->clock.set(now_ + c->offset);
  SimClient& c = *clients_[rng_() % clients_.size()];
  int roll = static_cast<int>(rng_() % 100);
  if (roll < 36) {
    write(c);
  } else if (roll < 40) {
    request(c);
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

void World::write(SimClient& c) {
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
    WriteOptions options;
    if (rng_() % 4 == 0) {
      // With a file: a photo of the note, uploaded (resumably) before the put is sent.
      std::string bytes;
      size_t size = 1 + rng_() % 2000;
      while (bytes.size() < size) bytes += who + "@" + std::to_string(step_) + ";";
      bytes.resize(size);
      auto attached = c.client->add_attachment(bytes, "application/octet-stream");
      note(who + " adds an attachment of " + std::to_string(size) + " bytes -> " +
           (attached ? *attached : attached.status().to_string()));
      if (CrashVfs::blown(c.dir)) return;
      if (!attached) return fail(who + " could not add an attachment: " + attached.status().to_string());
      attachments_[*attached] = bytes;
      options.attachments = {*attached};
      what += " with " + *attached;
    }
    id = c.client->put(collection, record, fields, options);
  } else if (kind < 80) {
    fields = task ? json{{"status", pick_status()}} : json{{"p", step_}};
    what = "patch " + key + " " + fields.dump();
    id = c.client->patch(collection, record, fields);
  } else {
    what = "remove " + key;
    id = c.client->remove(collection, record);
  }
  note(who + " " + what + " -> " + (id ? (id->empty() ? std::string("(nothing to send)") : *id) : id.status().to_string()));
  bool dying = CrashVfs::blown(c.dir);
  if (!id) {
    if (dying) return;  // failed as the process died: it may or may not be stored, and was not acknowledged
    if (id.status().code() == StatusCode::kNotFound) return;  // no such record here
    return fail(who + " " + what + " failed: " + id.status().to_string());
  }
  // Acknowledged: its transaction committed, even when the process died right after (in a
  // checkpoint, say). Found by seed 5187: a remove that cancelled an unsent put returned, the
  // process died, and the simulation still expected the put.
  ++outcome_.writes;
  // Folded into an unsent mutation, it goes with that one's key (a new one after a resolution).
  std::string sent_as = *id;
  if (!id->empty()) {
    if (auto m = c.client->mutation(*id); m && !m->idempotency_key.empty()) sent_as = m->idempotency_key;
  }
  c.last[key] = {*id, sent_as, false, who + " " + what};
  if (dying) return;  // nothing to read: the process is gone
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

std::string World::pick_status() {
  static const char* kStatuses[] = {"open", "done", "cancelled"};
  return kStatuses[rng_() % 3];
}

void World::sync(SimClient& c) {
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

void World::settle(SimClient& c, bool all) {
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

void World::note(const std::string& line) {
  std::string entry = "[" + std::to_string(step_) + "] " + line;
  if (config_.echo) fprintf(stderr, "%s\n", entry.c_str());
  outcome_.trace.push_back(std::move(entry));
}

void World::fail(const std::string& why) {
  if (!outcome_.ok) return;
  outcome_.ok = false;
  outcome_.failure = why;
  note("INVARIANT BROKEN: " + why);
}

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
