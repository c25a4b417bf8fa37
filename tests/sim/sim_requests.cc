// Generic REST requests in the simulation (world.h): apps queue calls to their own API, which the
// sync worker sends with their keys; the handlers hear every outcome; the API takes each effect once.
#include <stdexcept>

#include "sim/crash_vfs.h"
#include "sim/world.h"

namespace offsync::sim {

namespace {
constexpr const char* kModule = "sim";
constexpr const char* kAction = "event";
}  // namespace

void World::request(SimClient& c) {
  std::string who = "c" + std::to_string(c.index);
  std::string token = who + "-e" + std::to_string(c.next_token++);
  bool refuse = rng_() % 8 == 0;
  RestRequest r{.module = kModule, .action = kAction, .method = "POST", .url = "/api/events"};
  r.headers = {{"Content-Type", "application/json"}};
  r.body = json{{"token", token}, {"refuse", refuse}}.dump();
  if (int lane = static_cast<int>(rng_() % 3); lane > 0) r.ordering_key = "q" + std::to_string(lane);
  auto id = c.client->enqueue_request(r);
  note(who + " request " + token + (refuse ? " (to be refused)" : "") + " -> " + (id ? *id : id.status().to_string()));
  if (!id) {
    if (CrashVfs::blown(c.dir)) return;  // failed as the process died: not acknowledged
    return fail(who + " could not queue request " + token + ": " + id.status().to_string());
  }
  c.requests[token] = {*id, refuse};
}

void World::on_outcome(SimClient& c, const RestOutcome& outcome) {
  std::string who = "c" + std::to_string(c.index);
  json body = json::parse(outcome.request.value("body", ""), nullptr, false);
  std::string token = body.is_object() ? body.value("token", "") : "";
  json answer = json::parse(outcome.body, nullptr, false);
  bool from_api = (outcome.status == 201 && answer.is_object() && answer.value("token", "") == token) ||
                  (outcome.status == 422 && answer.is_object() && answer.contains("error"));
  note(who + " handler: " + token + " answered " + std::to_string(outcome.status) + (from_api ? "" : " (not the API's answer)"));
  if (from_api) {
    c.outcomes[token] = outcome.status;
    return;
  }
  // Not the API's answer: the request may or may not have reached it. Sent again under the key it
  // went with, the API applies it once either way.
  std::string key = outcome.mutation_id;
  for (const auto& h : outcome.request.value("headers", json::array())) {
    if (h.is_array() && h.size() == 2 && h[0] == "Idempotency-Key") key = h[1].get<std::string>();
  }
  RestRequest again{.module = kModule, .action = kAction, .method = "POST", .url = "/api/events"};
  again.headers = {{"Content-Type", "application/json"}, {"Idempotency-Key", key}};
  again.body = outcome.request.value("body", "");
  auto id = c.client->enqueue_request(again);
  note(who + " sends " + token + " again under " + key + ": " + (id ? *id : id.status().to_string()));
  if (!id) throw std::runtime_error("could not queue the request again: " + id.status().to_string());
}

void World::check_requests() {
  for (auto& c : clients_) {
    std::string who = "c" + std::to_string(c->index);
    SimApi& api = network_.apis[c->target];
    for (const auto& [token, r] : c->requests) {
      int effects = api.effects.count(token) ? api.effects.at(token) : 0;
      int expected = r.refuse ? 422 : 201;
      if (effects != (r.refuse ? 0 : 1)) {
        return fail(who + "'s request " + token + " (key " + r.key + ") took effect " + std::to_string(effects) +
                    " times at the " + c->target + "'s API");
      }
      if (!api.answered.count(token)) return fail(who + "'s request " + token + " never reached the " + c->target + "'s API");
      auto heard = c->outcomes.find(token);
      if (heard == c->outcomes.end() || heard->second != expected) {
        return fail(who + "'s handler never heard the API's answer to " + token + " (expected " + std::to_string(expected) +
                    ")");
      }
    }
  }
}

}  // namespace offsync::sim
