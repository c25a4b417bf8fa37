// SIGTERM and SIGINT for the long-running commands (serve, proxy): taken by one thread with
// sigwait, blocked everywhere else, and turned into a clean stop.
#pragma once

#include <functional>

namespace offsync::cli {

// Blocks SIGTERM and SIGINT in this thread and every thread started after it: call it before
// anything starts threads.
void block_stop_signals();

// Runs `run` (blocking) until it returns by itself or a stop signal arrives, which calls `stop`
// and waits for `run` to finish what is in flight. Returns 0.
int run_until_stopped(const std::function<void()>& run, const std::function<void()>& stop);

}  // namespace offsync::cli
