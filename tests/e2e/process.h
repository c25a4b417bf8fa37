// Runs a program as a user would and captures what it printed.
#pragma once

#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "pg_support.h"

namespace offsync::test {

struct ProcessResult {
  int exit_code = -1;  // -1: killed by a signal
  std::string out;
  std::string err;
};

// In a forked child: execs argv[0] with argv (no shell), or exits 127.
[[noreturn]] void exec_argv(const std::vector<std::string>& argv);

// Runs argv[0] with argv (no shell), waits for it, returns its exit code and output.
ProcessResult run_process(const std::vector<std::string>& argv);

}  // namespace offsync::test

namespace offsync::test {

// A long-running child process (a server) whose first stdout line is read at start.
class ChildProcess {
 public:
  explicit ChildProcess(const std::vector<std::string>& argv);
  // With wait_for_first_line false, returns at once and the child's stdout is discarded (a process
  // that prints nothing until something wakes it, as under socket activation).
  ChildProcess(const std::vector<std::string>& argv, bool wait_for_first_line);
  ~ChildProcess();  // SIGKILL if still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  const std::string& first_line() const { return first_line_; }
  int pid() const { return pid_; }
  // Sends the signal and waits; returns the exit code (-1 if killed by a signal).
  int stop(int signal);
  // Waits up to timeout_ms for the child to exit by itself; its exit code, or nullopt if it is still
  // running (-1 if a signal killed it).
  std::optional<int> wait_exit(int timeout_ms);

 private:
  void start_reading_first_line(const std::vector<std::string>& argv);
  int pid_ = -1;
  std::string first_line_;
};

// The http:// address a server printed on its first line (`offsync serve --listen`); fails the
// test when there is none.
std::string http_url_of(const ChildProcess& server);

// A server's address, learnt from a first start (`offsync serve --db db --listen 127.0.0.1:0`),
// which is then stopped: the server is down until start_server_at() starts it on that address.
std::string reserve_server_url(const std::string& db);
// `offsync serve --db db --listen <url's host:port>` (retried while the port is in TIME_WAIT).
std::unique_ptr<ChildProcess> start_server_at(const std::string& db, const std::string& url);

// An HTTP answer as curl printed it with -i.
struct CurlReply {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string header(const std::string& name) const;
};

// Runs curl -s -i with the arguments (a real client nobody here wrote).
CurlReply curl(const std::vector<std::string>& args);

}  // namespace offsync::test
