#include "bench/attachment_bench.h"

#include <curl/curl.h>

#include <chrono>
#include <stdexcept>

#include "bench/live_server.h"
#include "bench/scratch.h"
#include "engine/common/crypto.h"
#include "offsync/client.h"
#include "offsync/transport.h"

namespace offsync::bench {
namespace {

using nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

double seconds_since(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

std::string file_bytes(int64_t size) {
  std::string out(static_cast<size_t>(size), '\0');
  uint32_t x = 12345;
  for (auto& c : out) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return out;
}

size_t discard(char*, size_t size, size_t count, void*) { return size * count; }

// What an app without offsync would do: create the upload, then PUT the whole file at once with
// curl (keep-alive, no Expect round trip). Returns the seconds of the PUT.
double curl_single_put(const std::string& url, const std::string& id, const std::string& bytes, const std::string& sha) {
  CURL* curl = curl_easy_init();
  if (!curl) throw std::runtime_error("curl_easy_init failed");
  long status = 0;
  auto perform = [&](const std::string& target, const char* method, const std::string& body, curl_slist* headers) {
    curl_easy_setopt(curl, CURLOPT_URL, (url + target).c_str());
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    if (curl_easy_perform(curl) != CURLE_OK) throw std::runtime_error("curl failed");
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  };
  curl_slist* create_headers = curl_slist_append(nullptr, "Content-Type: application/json");
  create_headers = curl_slist_append(create_headers, ("Idempotency-Key: " + id).c_str());
  json create = {{"id", id}, {"size", bytes.size()}, {"sha256", sha}, {"content_type", "application/octet-stream"}};
  perform("/v1/attachments", "POST", create.dump(), create_headers);
  if (status != 201) throw std::runtime_error("the baseline could not create its upload: HTTP " + std::to_string(status));
  curl_slist* put_headers = curl_slist_append(
      nullptr, ("Content-Range: bytes 0-" + std::to_string(bytes.size() - 1) + "/" + std::to_string(bytes.size())).c_str());
  put_headers = curl_slist_append(put_headers, "Expect:");
  auto start = SteadyClock::now();
  perform("/v1/attachments/" + id, "PUT", bytes, put_headers);
  double elapsed = seconds_since(start);
  if (status != 201) throw std::runtime_error("the baseline PUT answered HTTP " + std::to_string(status));
  curl_slist_free_all(create_headers);
  curl_slist_free_all(put_headers);
  curl_easy_cleanup(curl);
  return elapsed;
}

}  // namespace

json run_attachments(const AttachmentConfig& config) {
  if (config.megabytes <= 0 || config.chunk_kib <= 0 || config.rounds <= 0) {
    throw std::invalid_argument("--megabytes, --chunk-kib and --rounds must be positive");
  }
  Scratch scratch;
  const int64_t size = config.megabytes << 20;
  const std::string bytes = file_bytes(size);
  const std::string sha = hex(sha256(bytes));
  // The single PUT must fit one request body.
  LiveServer live(ServerOptions{.db_path = scratch.fresh("server.db"), .max_attachment_bytes = size,
                                .max_body_bytes = static_cast<size_t>(size) + 4096});
  double best_curl = 1e300, best_engine = 1e300, add_seconds = 0;
  for (int round = 0; round < config.rounds; ++round) {
    best_curl = std::min(best_curl, curl_single_put(live.url, "baseline-" + std::to_string(round), bytes, sha));

    auto transport = make_curl_transport({.base_url = live.url});
    if (!transport) throw std::runtime_error(transport.status().to_string());
    ClientOptions options{.path = scratch.fresh("client-" + std::to_string(round) + ".db")};
    options.sync.transport = std::shared_ptr<Transport>(std::move(*transport));
    options.sync.background = false;
    options.sync.attachment_chunk_bytes = config.chunk_kib << 10;
    auto client = Client::open(options);
    if (!client) throw std::runtime_error(client.status().to_string());
    auto added_at = SteadyClock::now();
    auto id = (*client)->add_attachment(bytes, "application/octet-stream");
    if (!id) throw std::runtime_error(id.status().to_string());
    add_seconds = seconds_since(added_at);
    if (!(*client)->put("files", "f", {{"name", "bench"}}, {.attachments = {*id}})) throw std::runtime_error("put failed");
    auto start = SteadyClock::now();
    auto report = (*client)->sync_once();
    double elapsed = seconds_since(start);
    if (!report || report->attachments_uploaded != 1 || report->applied != 1) {
      throw std::runtime_error("the engine's upload did not complete");
    }
    best_engine = std::min(best_engine, elapsed);
  }
  double mb = static_cast<double>(size) / (1 << 20);
  double engine_mbps = mb / best_engine, curl_mbps = mb / best_curl;
  return {{"benchmark", "attachments"},
          {"file_mib", config.megabytes},
          {"chunk_kib", config.chunk_kib},
          {"rounds", config.rounds},
          {"engine_upload_mib_per_s", engine_mbps},
          {"curl_single_put_mib_per_s", curl_mbps},
          {"ratio_engine_vs_single_put", engine_mbps / curl_mbps},
          {"goal_ratio", 0.7},
          {"add_attachment_mib_per_s", mb / add_seconds},
          {"note", "engine: POST, resume query, chunked PUTs each durable before its 308, SHA-256 check, then the "
                   "mutation; curl: one PUT of the whole file to the same server (its chunk as one row)"}};
}

}  // namespace offsync::bench
