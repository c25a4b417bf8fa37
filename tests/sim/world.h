// The simulated world of offsync-sim (sim.h): its actors (sim.cc) and its invariants
// (sim_checks.cc). Internal to the simulator.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "offsync/client.h"
#include "offsync/clock.h"
#include "offsync/server.h"
#include "sim/sim.h"

namespace offsync::sim {

using nlohmann::json;

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
  // Generic REST requests the API acknowledged (enqueue_request returned), by token: the key they
  // go with and whether the app's API is asked to refuse it.
  struct Request {
    std::string key;
    bool refuse = false;
  };
  std::map<std::string, Request> requests;
  std::map<std::string, int> outcomes;  // token -> the API's status its handler was given
  int next_token = 0;
};

class World {
 public:
  explicit World(const Config& config);
  ~World();

  Outcome run();

 private:
  // ---- Actors ----
  void place_store(ServerOptions& options, const std::string& name);
  void open_server();

  // The provider app's server half on the device: it serves its local apps and relays to the cloud.
  void open_relay();

  void run_relay();

  void open_client(SimClient& c);

  // A client whose fuse blew is dead: it is dropped and its process started again.
  bool crashed(SimClient& c);

  // ---- The steps ----
  void one_step();

  void write(SimClient& c);

  std::string pick_status();

  // ---- Generic REST requests to the app's own API (sim_requests.cc) ----
  void request(SimClient& c);
  // The app's handler: an answer that is not its API's (a captive portal's page) is sent again
  // under the same Idempotency-Key; throwing keeps the outcome stored for another delivery.
  void on_outcome(SimClient& c, const RestOutcome& outcome);
  // Every acknowledged request took effect once (or was refused), and its handler heard so.
  void check_requests();

  void sync(SimClient& c);

  // An `escalate` field in conflict is never merged: right after a round whose pull completed,
  // the app shows the server's value of a record whose only pending change is in conflict.
  void check_conflicts(SimClient& c);

  // The user settles what waits for them: conflicts resolved, refusals discarded.
  void settle(SimClient& c, bool all);

  // ---- Healing and the final invariants ----
  void heal();

  // Every live record of the server (one shared partition).
  std::map<std::string, json> server_state(Server& from);

  void check_final();

  // Every client lists each live record's attachments as the cloud does, and reads their bytes
  // as they were added (downloading them, through the relay for its apps).
  void check_attachments();
  std::map<std::string, std::string> attachments_;  // id -> bytes, of every attachment added

  void note(const std::string& line);
  void fail(const std::string& why);

  Config config_;
  std::mt19937_64 rng_;
  SimNetwork network_;
  Outcome outcome_;
  std::string root_;
  std::vector<std::string> schemas_;  // PostgreSQL schemas of this run (config_.postgres)
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

}  // namespace offsync::sim
