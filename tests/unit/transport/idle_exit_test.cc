// The listener's idle exit measures on the injected clock (issue 12: virtual time everywhere).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "offsync/clock.h"
#include "offsync/listener.h"
#include "support.h"

using namespace offsync;

TEST_CASE("a listener's idle exit runs on the injected clock: 30 idle minutes pass in no real time") {
  ManualClock clock;
  ListenerOptions options;
  options.idle_exit_ms = 30LL * 60 * 1000;
  options.clock = &clock;
  std::atomic<bool> busy{true};
  std::atomic<bool> asked{false};
  options.busy = [&] {
    asked = true;
    return busy.load();
  };
  auto handler = [](const HttpRequest&) { return HttpResponse{}; };
  auto listener = Listener::listen_tcp(handler, "127.0.0.1", 0, options);
  REQUIRE(listener.is_ok());
  std::atomic<bool> returned{false};
  std::thread runner([&] {
    (*listener)->run();
    returned = true;
  });
  // Real time passes, virtual time does not: still up.
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  CHECK_FALSE(returned.load());
  CHECK_FALSE(asked.load());  // not idle long enough to ask
  // Thirty minutes later, while it says it is busy (a relay still forwarding), it stays up.
  clock.advance(options.idle_exit_ms);
  CHECK(test::eventually([&] { return asked.load(); }, 5'000));
  CHECK_FALSE(returned.load());
  busy = false;
  CHECK(test::eventually([&] { return returned.load(); }, 5'000));
  runner.join();
}
