#include <openssl/rand.h>

#include <chrono>
#include <cstdlib>

#include "offsync/clock.h"

namespace offsync {
namespace {

class SystemClock final : public Clock {
 public:
  int64_t now_ms() const override {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  }
};

class OpenSslRandom final : public RandomSource {
 public:
  void fill(std::span<uint8_t> out) override {
    if (out.empty()) return;
    if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
      // No secure randomness means no safe ids, cursor keys or jitter: continuing would be worse.
      // The library writes nothing to stderr (docs/architecture.md, "The library boundary"); the abort is the report.
      std::abort();
    }
  }
};

}  // namespace

void Clock::wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, int64_t deadline_ms) const {
  int64_t wait_ms = deadline_ms - now_ms();
  if (wait_ms <= 0) return;
  cv.wait_for(lock, std::chrono::milliseconds(wait_ms));
}

void ManualClock::wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, int64_t deadline_ms) const {
  {
    std::lock_guard<std::mutex> guard(waiters_mu_);
    waiters_.push_back(&cv);
  }
  if (now_ms() < deadline_ms) {
    // A move between the check above and the wait below notifies before this thread waits; the
    // short real timeout bounds what such a lost wake-up costs (the caller checks again).
    cv.wait_for(lock, std::chrono::milliseconds(50));
  }
  std::lock_guard<std::mutex> guard(waiters_mu_);
  for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
    if (*it == &cv) {
      waiters_.erase(it);
      break;
    }
  }
}

void ManualClock::wake_waiters() const {
  // Under waiters_mu_, so that no waiter unregisters (and goes) while it is notified.
  std::lock_guard<std::mutex> guard(waiters_mu_);
  for (std::condition_variable* cv : waiters_) cv->notify_all();
}

Clock& system_clock() {
  static SystemClock clock;
  return clock;
}

RandomSource& system_random() {
  static OpenSslRandom random;
  return random;
}

}  // namespace offsync
