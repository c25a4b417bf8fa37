// offsync/clock.h — the injectable sources of time and randomness (leveldb's Env).
//
// Tests and the simulation pass their own implementations to control time and chance.
// Thread safety: the system implementations are safe for concurrent use; an implementation passed
// to offsync must be too, since the sync worker calls it from its own thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

namespace offsync {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch (wall time; may step backwards).
  virtual int64_t now_ms() const = 0;
  // Every timed wait of the library (the sync worker's backoff and probes, a relay's schedule): waits
  // on cv with lock held, as std::condition_variable::wait does, until cv is notified or this
  // clock reads deadline_ms or later. It may return early; callers check their condition again. The
  // default waits real time (deadline_ms - now_ms()); a virtual clock wakes its waiters when moved.
  virtual void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, int64_t deadline_ms) const;
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

// A clock that moves only when told to; for tests and the simulation. Moving it (set, advance)
// wakes every wait_until() on it whose deadline it reached, without real sleeping: a test moves a
// background worker 30 minutes ahead in microseconds. It must outlive whatever waits on it.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_ms = 1'700'000'000'000) : now_(start_ms) {}
  int64_t now_ms() const override { return now_.load(); }
  void set(int64_t ms) {
    now_.store(ms);
    wake_waiters();
  }
  void advance(int64_t ms) {
    now_.fetch_add(ms);
    wake_waiters();
  }
  void wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, int64_t deadline_ms) const override;

 private:
  void wake_waiters() const;
  std::atomic<int64_t> now_;
  mutable std::mutex waiters_mu_;
  mutable std::vector<std::condition_variable*> waiters_;  // GUARDED_BY(waiters_mu_)
};

}  // namespace offsync
