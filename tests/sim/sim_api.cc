#include "sim/sim_api.h"

#include <nlohmann/json.hpp>

namespace offsync::sim {

namespace {

HttpResponse json_answer(int status, const std::string& body) {
  HttpResponse r;
  r.status = status;
  r.headers.set("Content-Type", "application/json");
  r.body = body;
  return r;
}

}  // namespace

HttpResponse SimApi::handle(const HttpRequest& request) {
  if (request.path() != "/api/events" || request.method != "POST") {
    return json_answer(404, R"({"error":{"code":"not_found","message":"no such endpoint"}})");
  }
  auto key = request.headers.get("Idempotency-Key");
  if (!key || key->empty()) {
    return json_answer(400, R"({"error":{"code":"idempotency_key_missing","message":"an Idempotency-Key is required"}})");
  }
  if (auto it = by_key_.find(*key); it != by_key_.end()) {
    HttpResponse replay = json_answer(it->second.status, it->second.body);
    replay.headers.set("Idempotent-Replayed", "true");
    return replay;
  }
  nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
  if (!body.is_object() || !body.contains("token") || !body["token"].is_string()) {
    return json_answer(400, R"({"error":{"code":"invalid_request","message":"a token is required"}})");
  }
  std::string token = body["token"].get<std::string>();
  Stored answer;
  if (body.value("refuse", false)) {
    answer = {422, nlohmann::json{{"error", {{"code", "invalid_event"}, {"message", "event " + token + " refused"}}}}.dump()};
  } else {
    ++effects[token];
    answer = {201, nlohmann::json{{"token", token}}.dump()};
  }
  answered[token] = answer.status;
  by_key_[*key] = answer;
  return json_answer(answer.status, answer.body);
}

}  // namespace offsync::sim
