// libFuzzer target: the byte pipe, both ways. Arbitrary bytes given to serve_http_bytes are always
// answered with one well-formed HTTP/1.1 response; arbitrary bytes coming back to the client side
// are an answer or a transient error, never a crash.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "offsync/byte_pipe.h"

namespace {

offsync::Server& server() {
  static offsync::Server* s = [] {
    static std::string dir = std::filesystem::temp_directory_path() / ("offsync-fuzz-pipe-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    auto opened = offsync::Server::open({.db_path = dir + "/s.db", .durability = offsync::Durability::kNormal});
    if (!opened) std::abort();
    std::atexit([] { std::filesystem::remove_all(dir); });
    return opened->release();
  }();
  return *s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  std::string response = offsync::serve_http_bytes(server(), bytes, 1 << 16);
  // The provider's answer, read back by the client side, is always one whole response.
  auto echo = offsync::make_byte_pipe_transport([&](const std::string&) -> offsync::Result<std::string> { return response; });
  auto answer = echo->send(offsync::HttpRequest{.method = "GET", .target = "/v1/health"});
  if (!answer) std::abort();
  // Arbitrary bytes as the answer: read or refused.
  auto raw = offsync::make_byte_pipe_transport([&](const std::string&) -> offsync::Result<std::string> { return bytes; });
  (void)raw->send(offsync::HttpRequest{.method = "POST", .target = "/v1/mutations", .body = "{}"});
  return 0;
}
