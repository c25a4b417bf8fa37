#include "server_support.h"

#include <doctest/doctest.h>

namespace offsync::test {

std::unique_ptr<Server> open_server(ServerOptions options) {
  auto server = Server::open(std::move(options));
  REQUIRE_MESSAGE(server.is_ok(), server.status().to_string());
  return std::move(server).value();
}

std::string new_key() {
  static UlidGenerator gen(system_clock(), system_random());
  return gen.generate()->to_string();
}

HttpRequest post_mutation(const nlohmann::json& body, const std::string& key, const std::string& token) {
  HttpRequest r;
  r.method = "POST";
  r.target = "/v1/mutations";
  r.headers.add("Content-Type", "application/json");
  if (!key.empty()) r.headers.add("Idempotency-Key", key);
  if (!token.empty()) r.headers.add("Authorization", "Bearer " + token);
  r.body = body.dump();
  return r;
}

HttpRequest post_batch_text(const std::string& body) {
  HttpRequest r = post_mutation(nlohmann::json::object(), "");
  r.target = "/v1/mutations:batch";
  r.body = body;
  return r;
}

HttpRequest post_batch(const nlohmann::json& items) { return post_batch_text(nlohmann::json{{"mutations", items}}.dump()); }

HttpRequest get_sync(const std::string& cursor, int limit, const std::string& token) {
  HttpRequest r;
  r.method = "GET";
  r.target = "/v1/sync";
  std::string sep = "?";
  if (!cursor.empty()) {
    r.target += sep + "cursor=" + cursor;
    sep = "&";
  }
  if (limit > 0) r.target += sep + "limit=" + std::to_string(limit);
  if (!token.empty()) r.headers.add("Authorization", "Bearer " + token);
  return r;
}

nlohmann::json body_of(const HttpResponse& r) { return nlohmann::json::parse(r.body); }

std::string error_code(const HttpResponse& r) {
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("error")) return "";
  return j["error"].value("code", "");
}

}  // namespace offsync::test
