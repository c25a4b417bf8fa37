// Helpers shared by the tests: scratch directories and clients on a manual clock.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "offsync/client.h"

namespace offsync::test {

// A directory made for one test and removed with it.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Polls done() every 10 ms until it says true or timeout_ms passed; its last answer. For work done
// on another thread or in another process (a relay draining), never for timing a result.
bool eventually(const std::function<bool()>& done, int timeout_ms = 30'000);

// Opens a client on `path`, failing the test if it cannot.
std::unique_ptr<Client> open_client(ClientOptions options);

}  // namespace offsync::test
