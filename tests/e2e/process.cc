#include "e2e/process.h"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

namespace offsync::test {

// In a forked child: becomes argv[0] with argv, or exits 127.
[[noreturn]] void exec_argv(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(args[0], args.data());
  _exit(127);
}

ProcessResult run_process(const std::vector<std::string>& argv) {
  int out_pipe[2], err_pipe[2];
  if (pipe(out_pipe) != 0 || pipe(err_pipe) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    close(out_pipe[0]);
    close(err_pipe[0]);
    close(out_pipe[1]);
    close(err_pipe[1]);
    exec_argv(argv);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  ProcessResult result;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  char buf[4096];
  while (open_fds > 0 && poll(fds, 2, -1) > 0) {
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace offsync::test

#include <signal.h>

#include <cstdio>
#include <chrono>
#include <sstream>
#include <thread>

#include "offsync/http.h"

namespace offsync::test {

ChildProcess::ChildProcess(const std::vector<std::string>& argv, bool wait_for_first_line) {
  if (wait_for_first_line) {
    start_reading_first_line(argv);
    return;
  }
  pid_ = fork();
  if (pid_ == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    exec_argv(argv);
  }
}

std::optional<int> ChildProcess::wait_exit(int timeout_ms) {
  if (pid_ <= 0) return -1;
  for (int waited = 0; waited <= timeout_ms; waited += 10) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    usleep(10'000);
  }
  return std::nullopt;
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv) { start_reading_first_line(argv); }

void ChildProcess::start_reading_first_line(const std::vector<std::string>& argv) {
  int out[2];
  if (pipe(out) != 0) return;
  pid_ = fork();
  if (pid_ == 0) {
    dup2(out[1], 1);
    close(out[0]);
    exec_argv(argv);
  }
  close(out[1]);
  char c;
  while (read(out[0], &c, 1) == 1 && c != '\n') first_line_ += c;
  close(out[0]);
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) stop(SIGKILL);
}

int ChildProcess::stop(int signal) {
  if (pid_ <= 0) return -1;
  kill(pid_, signal);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string CurlReply::header(const std::string& name) const {
  for (const auto& [n, v] : headers) {
    if (iequals(n, name)) return v;
  }
  return "";
}

std::string http_url_of(const ChildProcess& server) {
  size_t at = server.first_line().find("http://");
  REQUIRE_MESSAGE(at != std::string::npos, server.first_line());
  return server.first_line().substr(at);
}

std::string reserve_server_url(const std::string& db) {
  ChildProcess probe({OFFSYNC_BIN, "serve", store_flag(), store_arg(db), "--listen", "127.0.0.1:0"});
  std::string url = http_url_of(probe);
  probe.stop(SIGTERM);
  return url;
}

std::unique_ptr<ChildProcess> start_server_at(const std::string& db, const std::string& url) {
  std::string host_port = url.substr(std::string("http://").size());
  for (int attempt = 0; attempt < 50; ++attempt) {
    auto server = std::make_unique<ChildProcess>(std::vector<std::string>{OFFSYNC_BIN, "serve", store_flag(), store_arg(db), "--listen", host_port});
    if (server->first_line().find("http://") != std::string::npos) return server;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the port is still in TIME_WAIT
  }
  FAIL("no server could listen on " << host_port);
  return nullptr;
}

CurlReply curl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/curl", "-s", "-i", "--max-time", "20"};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessResult p = run_process(argv);
  CurlReply reply;
  // Interim answers (100 Continue) come first, each with its own head: the last head is the answer.
  while (p.out.starts_with("HTTP/1.1 1")) {
    size_t interim_end = p.out.find("\r\n\r\n");
    if (interim_end == std::string::npos) break;
    p.out.erase(0, interim_end + 4);
  }
  size_t head_end = p.out.find("\r\n\r\n");
  if (head_end == std::string::npos) return reply;
  std::istringstream head(p.out.substr(0, head_end));
  std::string line;
  std::getline(head, line);
  std::sscanf(line.c_str(), "HTTP/%*s %d", &reply.status);
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    reply.headers.emplace_back(line.substr(0, colon), value);
  }
  reply.body = p.out.substr(head_end + 4);
  return reply;
}

}  // namespace offsync::test
