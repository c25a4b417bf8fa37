#include <curl/curl.h>

#include <atomic>
#include <mutex>

#include "offsync/transport.h"

namespace offsync {
namespace {

size_t collect_body(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

size_t collect_header(char* data, size_t size, size_t n, void* out) {
  std::string line(data, size * n);
  auto* headers = static_cast<HttpHeaders*>(out);
  if (line.rfind("HTTP/", 0) == 0) {
    *headers = HttpHeaders();  // a new response (after a redirect or 100 Continue): start over
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.pop_back();
    headers->add(line.substr(0, colon), value);
  }
  return size * n;
}

class CurlTransport final : public Transport {
 public:
  explicit CurlTransport(CurlTransportOptions options) : options_(std::move(options)) {
    static std::once_flag global;
    std::call_once(global, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    curl_ = curl_easy_init();
  }
  ~CurlTransport() override {
    if (curl_) curl_easy_cleanup(curl_);
  }

  bool ok() const { return curl_ != nullptr; }

  std::unique_ptr<Transport> open_another() override {
    auto other = std::make_unique<CurlTransport>(options_);
    if (!other->ok()) return nullptr;
    return other;
  }
  void cancel() override { cancelled_ = true; }

  Result<HttpResponse> send(const HttpRequest& request) override {
    std::string url = request.target.rfind("http://", 0) == 0 || request.target.rfind("https://", 0) == 0
                          ? request.target
                          : options_.base_url + request.target;
    curl_easy_reset(curl_);  // keeps the connection cache, forgets the previous request's options
    HttpResponse response;
    curl_slist* headers = nullptr;
    for (const auto& [name, value] : request.headers.fields()) {
      headers = curl_slist_append(headers, (name + ": " + value).c_str());
    }
    headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    if (request.method == "HEAD") curl_easy_setopt(curl_, CURLOPT_NOBODY, 1L);
    if (!request.body.empty() || request.method == "POST" || request.method == "PUT" || request.method == "PATCH") {
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, request.body.data());
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    }
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &response.body);
    curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, collect_header);
    curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &response.headers);
    curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT_MS, options_.connect_timeout_ms);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, options_.total_timeout_ms);
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYPEER, options_.verify_tls ? 1L : 0L);
    curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYHOST, options_.verify_tls ? 2L : 0L);
    if (!options_.ca_file.empty()) curl_easy_setopt(curl_, CURLOPT_CAINFO, options_.ca_file.c_str());
    if (!options_.unix_socket.empty()) curl_easy_setopt(curl_, CURLOPT_UNIX_SOCKET_PATH, options_.unix_socket.c_str());
    // cancel(): libcurl asks at least once a second whether to go on.
    curl_easy_setopt(curl_, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl_, CURLOPT_XFERINFOFUNCTION, &CurlTransport::keep_going);
    curl_easy_setopt(curl_, CURLOPT_XFERINFODATA, this);
    if (cancelled_) {
      curl_slist_free_all(headers);
      return Status::transient("cancelled");
    }
    CURLcode rc = curl_easy_perform(curl_);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
      return Status::transient(std::string(request.method) + " " + url + ": " + curl_easy_strerror(rc));
    }
    long status = 0;
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
    response.status = static_cast<int>(status);
    return response;
  }

 private:
  CurlTransportOptions options_;
  static int keep_going(void* self, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    return static_cast<CurlTransport*>(self)->cancelled_ ? 1 : 0;
  }

  CURL* curl_ = nullptr;
  std::atomic<bool> cancelled_{false};
};

}  // namespace

Result<std::unique_ptr<Transport>> make_curl_transport(const CurlTransportOptions& options) {
  if (options.base_url.rfind("http://", 0) != 0 && options.base_url.rfind("https://", 0) != 0) {
    return Status::invalid_argument("server URL '" + options.base_url + "' must start with http:// or https://");
  }
  CurlTransportOptions trimmed = options;
  while (trimmed.base_url.size() > 8 && trimmed.base_url.back() == '/') trimmed.base_url.pop_back();
  auto transport = std::make_unique<CurlTransport>(std::move(trimmed));
  if (!transport->ok()) return Status::internal("libcurl could not make a handle");
  return std::unique_ptr<Transport>(std::move(transport));
}


}  // namespace offsync
