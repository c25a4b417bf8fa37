// A temporary directory for one benchmark run, removed afterwards.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

namespace offsync::bench {

class Scratch {
 public:
  Scratch() : dir_(std::filesystem::temp_directory_path() / ("offsync-bench-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  ~Scratch() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  // A path for a database of that name, with any earlier one removed.
  std::string fresh(const std::string& name) {
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(dir_ / (name + suffix));
    return (dir_ / name).string();
  }

 private:
  std::filesystem::path dir_;
};

}  // namespace offsync::bench
