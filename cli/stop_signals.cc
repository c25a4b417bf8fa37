#include "cli/stop_signals.h"

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <iostream>
#include <thread>

namespace offsync::cli {
namespace {

sigset_t stop_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

void block_stop_signals() {
  sigset_t set = stop_set();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int run_until_stopped(const std::function<void()>& run, const std::function<void()>& stop) {
  std::atomic<bool> finished{false};
  std::thread waiter([&] {
    sigset_t set = stop_set();
    int sig = 0;
    sigwait(&set, &sig);
    if (finished) return;  // woken below: `run` returned by itself (an idle exit)
    std::cerr << "offsync: stopping (signal " << sig << "); finishing requests in flight" << std::endl;
    stop();
  });
  run();
  finished = true;
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  std::cerr << "offsync: stopped" << std::endl;
  return 0;
}

}  // namespace offsync::cli
