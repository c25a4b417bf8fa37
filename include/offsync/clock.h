// offsync/clock.h — the injectable sources of time and randomness (leveldb's Env).
//
// Tests and the simulation pass their own implementations to control time and chance.
// Thread safety: the system implementations are safe for concurrent use; an implementation passed
// to offsync must be too, since the sync worker calls it from its own thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

namespace offsync {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch (wall time; may step backwards).
  virtual int64_t now_ms() const = 0;
};

class RandomSource {
 public:
  virtual ~RandomSource() = default;
  // Fills out with random bytes. The system source is a CSPRNG (OpenSSL RAND_bytes); it aborts the
  // process if the CSPRNG cannot be seeded, since predictable ids are worse than none.
  virtual void fill(std::span<uint8_t> out) = 0;
};

// The process's wall clock and OpenSSL's CSPRNG. Both live for the whole process.
Clock& system_clock();
RandomSource& system_random();

// A clock that moves only when told to; for tests and the simulation.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_ms = 1'700'000'000'000) : now_(start_ms) {}
  int64_t now_ms() const override { return now_.load(); }
  void set(int64_t ms) { now_.store(ms); }
  void advance(int64_t ms) { now_.fetch_add(ms); }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace offsync
