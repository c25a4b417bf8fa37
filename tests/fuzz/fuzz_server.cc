// libFuzzer target: Server::handle on arbitrary requests to every endpoint. The first byte picks
// the endpoint and method (attachments: chunks resumed out of order, ranges of downloads), the second how the Idempotency-Key is spelt; the rest is the body. No
// request may crash the server, answer 500, or answer a body that is not JSON.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "offsync/server.h"

namespace {

offsync::Server& server() {
  static offsync::Server* s = [] {
    static std::string dir = std::filesystem::temp_directory_path() / ("offsync-fuzz-server-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    offsync::ServerOptions o{.db_path = dir + "/s.db", .durability = offsync::Durability::kNormal};
    o.schema = *offsync::Schema::parse(
        R"({"collections": {"notes": {}, "orders": {"required": ["title"], "fields": {"title": {"type": "string"},
            "status": {"type": "string", "merge": "escalate"}}}}})");
    o.max_body_bytes = 1 << 20;
    auto opened = offsync::Server::open(std::move(o));
    if (!opened) std::abort();
    if (!(*opened)->register_oauth_client({"org.example.math", {"x:/cb"}})) std::abort();
    std::atexit([] { std::filesystem::remove_all(dir); });
    return opened->release();
  }();
  return *s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  static const char* const kTargets[] = {"/v1/mutations", "/v1/mutations:batch", "/v1/sync", "/v1/health",
                                         "/v1/sync?cursor=", "/v1/sync?limit=", "/nowhere", "/metrics",
                                         "/oauth/token", "/oauth/authorize?=", "/v1/attachments", "/v1/attachments/a1",
                                         "/v1/attachments/a1"};
  const char* target = kTargets[data[0] % 13];
  offsync::HttpRequest r;
  r.method = (data[0] & 0x80) ? "GET" : "POST";
  std::string body(reinterpret_cast<const char*>(data + 2), size - 2);
  r.target = target;
  if (r.target == "/oauth/authorize?=") {
    r.target = "/oauth/authorize?" + body.substr(0, 1024);  // the whole query from the fuzzer
  } else if (r.target.back() == '=') {
    // Query endpoints take the fuzz text in the query string instead of the body.
    r.method = "GET";
    r.target += body.substr(0, 512);
  } else if (r.target == "/v1/attachments/a1") {
    // A chunk or a download: the text up to the first newline is its Content-Range or Range.
    size_t nl = body.find('\n');
    std::string range = body.substr(0, std::min<size_t>(nl, 64));
    r.method = (data[0] & 0x80) ? "GET" : "PUT";
    r.headers.add(r.method == "GET" ? "Range" : "Content-Range", range);
    if (nl != std::string::npos) r.body = body.substr(nl + 1);
  } else {
    r.body = body;
  }
  r.headers.add("Content-Type", r.target == "/oauth/token" ? "application/x-www-form-urlencoded" : "application/json");
  static const char* const kKeys[] = {"01HZY8G4Q6F3T9M2N7K5R1D0XB", "01hzy8g4q6f3t9m2n7k5r1d0xb", "", "not-a-key"};
  uint8_t k = data[1];
  if (k % 5 < 4) r.headers.add("Idempotency-Key", kKeys[k % 5]);
  if (k & 0x40) r.headers.add("Offsync-App-Version", body.substr(0, 12));
  if (k & 0x80) r.headers.add("Offsync-Outbox", body.substr(0, 40));
  offsync::HttpResponse answer = server().handle(r);
  if (answer.status == 500) std::abort();
  // Every answer is JSON, but the metrics page and a redirect (302 from /oauth/authorize).
  // and a download's bytes.
  bool download = r.method == "GET" && r.target == "/v1/attachments/a1" && (answer.status == 200 || answer.status == 206);
  bool json_answer = r.target != "/metrics" && answer.status != 302 && !download;
  if (json_answer && !nlohmann::json::accept(answer.body)) std::abort();
  return 0;
}
