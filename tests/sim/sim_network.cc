#include "sim/sim_network.h"

#include <nlohmann/json.hpp>

namespace offsync::sim {

using nlohmann::json;

std::string SimNetwork::fresh_key() {
  static const char* kAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  std::string key = "01";
  for (int i = 0; i < 24; ++i) key += kAlphabet[std::uniform_int_distribution<int>(0, 31)(rng_)];
  return key;
}

HttpResponse SimNetwork::deliver(const std::string& target, const HttpRequest& original) {
  Server* server = servers_[target];
  if (!server) {
    HttpResponse down;  // nothing listens: what a proxy in front of a stopped server answers
    down.status = 502;
    return down;
  }
  HttpRequest request = original;
  if (plant_ == Plant::kNoIdempotency && request.method == "POST") {
    // Planted: every delivery looks new to the server.
    if (request.headers.get("Idempotency-Key")) request.headers.set("Idempotency-Key", fresh_key());
    json body = json::parse(request.body, nullptr, false);
    if (body.is_object() && body.contains("mutations") && body["mutations"].is_array()) {
      for (auto& item : body["mutations"]) {
        if (item.is_object() && item.contains("idempotency_key")) item["idempotency_key"] = fresh_key();
      }
      request.body = body.dump();
    }
  }
  ++delivered;
  if (request.path().starts_with("/api/")) return apis[target].handle(request);
  HttpResponse response = server->handle(request);
  observe(target, request, response);
  return response;
}

void SimNetwork::observe(const std::string& target, const HttpRequest& request, const HttpResponse& response) {
  auto& counts = applied[target];
  if (request.method != "POST") return;
  std::string path = request.path();
  json body = json::parse(request.body, nullptr, false);
  if (!body.is_object()) return;
  if (path == "/v1/mutations") {
    if (response.status == 200 && !response.headers.get("Idempotent-Replayed") && body.contains("id")) {
      ++counts[body["id"].get<std::string>()];
      trace_("  " + target + " applied " + body["id"].get<std::string>());
    }
    return;
  }
  if (path != "/v1/mutations:batch" || response.status != 200) return;
  json answer = json::parse(response.body, nullptr, false);
  if (!answer.is_object() || !answer.contains("results") || !body.contains("mutations")) return;
  const json& items = body["mutations"];
  const json& results = answer["results"];
  for (size_t i = 0; i < items.size() && i < results.size(); ++i) {
    std::string id = items[i].value("id", "");
    int status = results[i].value("status", 0);
    bool replayed = results[i].value("replayed", false);
    if (status == 200 && !replayed && !id.empty()) ++counts[id];
    trace_("  " + target + " " + id + " " + items[i].value("op", "") + " " + items[i].value("collection", "") + "/" +
           items[i].value("record", "") + ": " + std::to_string(status) + (replayed ? " (replayed)" : ""));
  }
}

Result<HttpResponse> SimNetwork::send(int from, const std::string& target, const HttpRequest& request) {
  std::string what = (from == kRelayUplink ? std::string("relay") : "c" + std::to_string(from)) + " " + request.method +
                     " " + target + request.path();
  if (partitioned.count(from)) {
    trace_(what + ": partitioned");
    return Status::transient("network unreachable (simulated partition)");
  }
  if (plant_ == Plant::kPhantomDeleteAck && request.path() == "/v1/mutations:batch" && chance(0.3)) {
    // Planted: the deletes of the batch are answered "applied" without reaching the server.
    json body = json::parse(request.body, nullptr, false);
    if (body.is_object() && body.contains("mutations")) {
      json kept = json::array();
      std::vector<bool> is_delete;
      for (const auto& item : body["mutations"]) {
        is_delete.push_back(item.value("op", "") == "delete");
        if (!is_delete.back()) kept.push_back(item);
      }
      if (kept.size() < is_delete.size()) {
        HttpRequest rest = request;
        rest.body = json{{"mutations", kept}}.dump();
        json results = json::array();
        json real_results = json::array();
        if (!kept.empty()) {
          HttpResponse r = deliver(target, rest);
          json parsed = json::parse(r.body, nullptr, false);
          if (r.status != 200 || !parsed.is_object()) return r;
          real_results = parsed["results"];
        }
        size_t next = 0;
        for (bool deleted : is_delete) {
          if (deleted) {
            results.push_back({{"body", json::parse(R"({"hlc":null,"record":null,"status":"applied"})")}, {"status", 200}});
          } else {
            results.push_back(real_results.at(next++));
          }
        }
        trace_(what + ": PLANTED deletes answered without reaching the server");
        HttpResponse fake;
        fake.headers.set("Content-Type", "application/json");
        fake.body = json{{"results", results}}.dump();
        return fake;
      }
    }
  }
  if (faults) {
    double roll = std::uniform_real_distribution<double>(0, 1)(rng_);
    if (roll < 0.05) {
      trace_(what + ": request lost");
      return Status::transient("request lost (simulated)");
    }
    if (roll < 0.10) {
      deliver(target, request);
      trace_(what + ": applied, answer lost");
      return Status::transient("answer lost (simulated)");
    }
    if (roll < 0.13) {
      deliver(target, request);
      trace_(what + ": duplicated");
      return deliver(target, request);
    }
    if (roll < 0.16) {
      delayed_.emplace_back(target, request);
      trace_(what + ": delayed (delivered later)");
      return Status::transient("timed out (simulated delay)");
    }
    if (roll < 0.19) {
      trace_(what + ": 503");
      HttpResponse busy;
      busy.status = 503;
      busy.headers.set("Content-Type", "application/json");
      busy.body = R"({"error":{"code":"unavailable","message":"simulated"}})";
      return busy;
    }
    if (roll < 0.21) {
      trace_(what + ": 429");
      HttpResponse slow;
      slow.status = 429;
      slow.headers.set("Retry-After", "2");
      return slow;
    }
    if (roll < 0.23) {
      bool applied_first = chance(0.5);
      if (applied_first) deliver(target, request);
      trace_(what + ": garbage 200" + (applied_first ? " after applying" : ""));
      HttpResponse garbage;
      garbage.headers.set("Content-Type", "text/html");
      garbage.body = "<html><body>Sign in to the hotel Wi-Fi</body></html>";
      return garbage;
    }
  }
  HttpResponse response = deliver(target, request);
  if (plant_ == Plant::kSkippedChange && request.path() == "/v1/sync" && response.status == 200 && chance(0.2)) {
    json page = json::parse(response.body, nullptr, false);
    if (page.is_object() && page.contains("changes") && page["changes"].is_array() && !page["changes"].empty()) {
      page["changes"].erase(page["changes"].begin());
      response.body = page.dump();
      trace_(what + ": PLANTED a change dropped from the page");
    }
  }
  trace_(what + ": " + std::to_string(response.status));
  return response;
}

void SimNetwork::flush_delayed(size_t n) {
  while (n-- > 0 && !delayed_.empty()) {
    auto [target, late] = std::move(delayed_.front());
    delayed_.erase(delayed_.begin());
    HttpResponse r = deliver(target, late);
    trace_("late delivery of " + late.method + " " + target + late.path() + ": " + std::to_string(r.status));
  }
}

}  // namespace offsync::sim
