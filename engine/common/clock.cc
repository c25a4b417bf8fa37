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

Clock& system_clock() {
  static SystemClock clock;
  return clock;
}

RandomSource& system_random() {
  static OpenSslRandom random;
  return random;
}

}  // namespace offsync
