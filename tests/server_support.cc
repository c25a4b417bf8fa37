#include "server_support.h"

#include "engine/common/crypto.h"
#include "pg_support.h"

#include <doctest/doctest.h>

namespace offsync::test {

std::unique_ptr<Server> open_server(ServerOptions options) {
  if (options.postgres.empty() && !options.db_path.empty()) options.postgres = test_postgres_for(options.db_path);
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

HttpRequest post_attachment(const std::string& id, const std::string& bytes, const std::string& content_type,
                            const std::string& token) {
  HttpRequest r;
  r.method = "POST";
  r.target = "/v1/attachments";
  r.headers.add("Content-Type", "application/json");
  r.headers.add("Idempotency-Key", new_key());
  if (!token.empty()) r.headers.add("Authorization", "Bearer " + token);
  r.body = nlohmann::json{{"id", id}, {"size", bytes.size()}, {"sha256", hex(sha256(bytes))}, {"content_type", content_type}}
               .dump();
  return r;
}

HttpRequest put_chunk(const std::string& id, uint64_t first, const std::string& bytes, uint64_t total,
                      const std::string& token) {
  HttpRequest r;
  r.method = "PUT";
  r.target = "/v1/attachments/" + id;
  r.headers.add("Content-Range", "bytes " + std::to_string(first) + "-" + std::to_string(first + bytes.size() - 1) + "/" +
                                     std::to_string(total));
  if (!token.empty()) r.headers.add("Authorization", "Bearer " + token);
  r.body = bytes;
  return r;
}

HttpRequest resume_query(const std::string& id, uint64_t total, const std::string& token) {
  HttpRequest r;
  r.method = "PUT";
  r.target = "/v1/attachments/" + id;
  r.headers.add("Content-Range", "bytes */" + std::to_string(total));
  if (!token.empty()) r.headers.add("Authorization", "Bearer " + token);
  return r;
}

std::string pattern_bytes(size_t size, unsigned seed) {
  std::string out(size, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < size; ++i) {
    x = x * 1664525u + 1013904223u;
    out[i] = static_cast<char>(x >> 24);
  }
  return out;
}

nlohmann::json body_of(const HttpResponse& r) { return nlohmann::json::parse(r.body); }

std::string error_code(const HttpResponse& r) {
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("error")) return "";
  return j["error"].value("code", "");
}

RecordValidator refusing_forbidden_titles() {
  return [](const nlohmann::json& fields) -> std::optional<SchemaViolation> {
    if (fields.value("title", "") == "forbidden") return SchemaViolation{"bad_title", "that title is not allowed"};
    return std::nullopt;
  };
}

nlohmann::json note_upsert(const std::string& id, const nlohmann::json& fields) {
  return {{"collection", "notes"}, {"record", id}, {"op", "upsert"}, {"fields", fields}};
}

}  // namespace offsync::test
