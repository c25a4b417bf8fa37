// Runs a program as a user would and captures what it printed.
#pragma once

#include <string>
#include <vector>

namespace offsync::test {

struct ProcessResult {
  int exit_code = -1;  // -1: killed by a signal
  std::string out;
  std::string err;
};

// Runs argv[0] with argv (no shell), waits for it, returns its exit code and output.
ProcessResult run_process(const std::vector<std::string>& argv);

}  // namespace offsync::test
