#include "bench/ipc_bench.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "bench/scratch.h"
#include "offsync/listener.h"
#include "offsync/server.h"
#include "offsync/transport.h"

namespace offsync::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Microseconds per round trip of `n` GET /v1/health through `transport`.
double http_round_trip_us(Transport& transport, int n) {
  HttpRequest request{.method = "GET", .target = "/v1/health"};
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    auto answer = transport.send(request);
    if (!answer || answer->status != 200) throw std::runtime_error("a health request failed");
  }
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count() / n;
}

// Microseconds per round trip of `n` messages of `size` bytes over a Unix socketpair, echoed by a
// thread: what any IPC over a Unix socket costs at least.
double raw_round_trip_us(int n, size_t request_size, size_t answer_size) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) throw std::runtime_error("socketpair");
  auto read_n = [](int fd, char* buf, size_t size) {
    size_t got = 0;
    while (got < size) {
      ssize_t r = read(fd, buf + got, size - got);
      if (r <= 0) return false;
      got += static_cast<size_t>(r);
    }
    return true;
  };
  std::thread echo([&] {
    std::string in(request_size, '\0'), out(answer_size, 'a');
    while (read_n(fds[1], in.data(), in.size())) {
      if (write(fds[1], out.data(), out.size()) != static_cast<ssize_t>(out.size())) break;
    }
  });
  std::string request(request_size, 'q'), answer(answer_size, '\0');
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    if (write(fds[0], request.data(), request.size()) != static_cast<ssize_t>(request.size())) break;
    if (!read_n(fds[0], answer.data(), answer.size())) break;
  }
  double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count() / n;
  shutdown(fds[0], SHUT_RDWR);
  echo.join();
  close(fds[0]);
  close(fds[1]);
  return us;
}

}  // namespace

nlohmann::json run_ipc(const IpcConfig& c) {
  Scratch scratch;
  auto server = Server::open({.db_path = scratch.fresh("server.db")});
  if (!server) throw std::runtime_error(server.status().to_string());
  auto tcp = Listener::listen_tcp(**server, "127.0.0.1", 0);
  std::string socket = scratch.fresh("api.sock");
  auto unix_listener = Listener::listen_unix(**server, socket);
  if (!tcp || !unix_listener) throw std::runtime_error("cannot listen");
  std::thread tcp_thread([&] { (*tcp)->run(); });
  std::thread unix_thread([&] { (*unix_listener)->run(); });
  auto over_tcp = make_curl_transport({.base_url = (*tcp)->address()});
  auto over_unix = make_curl_transport({.base_url = "http://localhost", .unix_socket = socket});
  if (!over_tcp || !over_unix) throw std::runtime_error("cannot make the transports");
  // The sizes of the HTTP exchange, for the raw ping-pong: about 150 bytes each way.
  double tcp_us = 1e18, ipc_us = 1e18, raw_us = 1e18;
  for (int round = 0; round < c.rounds; ++round) {
    tcp_us = std::min(tcp_us, http_round_trip_us(**over_tcp, c.requests));
    ipc_us = std::min(ipc_us, http_round_trip_us(**over_unix, c.requests));
    raw_us = std::min(raw_us, raw_round_trip_us(c.requests, 150, 150));
  }
  (*tcp)->stop();
  (*unix_listener)->stop();
  tcp_thread.join();
  unix_thread.join();
  auto round2 = [](double v) { return std::round(v * 100) / 100; };
  return {{"benchmark", "ipc"},
          {"requests", c.requests},
          {"tcp_round_trip_us", round2(tcp_us)},
          {"ipc_round_trip_us", round2(ipc_us)},
          {"raw_socket_round_trip_us", round2(raw_us)},
          {"ratio_ipc_over_tcp", round2(ipc_us / tcp_us)},
          {"ratio_ipc_over_raw", round2(ipc_us / raw_us)}};
}

}  // namespace offsync::bench
