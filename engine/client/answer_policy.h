// How the client treats an answer (docs/protocol.md, "How a client classifies an answer") and how long
// it waits before trying again. The table test in tests/unit/client/answer_policy_test.cc holds
// classify() to the protocol's table.
// Internal to the client half.
#pragma once

#include <cstdint>
#include <string>

#include "offsync/clock.h"
#include "offsync/http.h"

namespace offsync {

enum class Outcome { kApplied, kTransient, kConflict, kRejected, kAuth, kUpgrade };

// The class of an answer by its status and its error code ({"error": {"code"}}, "" when none).
// Status 0 stands for no answer (or one that could not be read): transient. A 4xx without an error
// code is not this protocol's answer: transient, never rejected.
Outcome classify(int status, const std::string& error_code);

// Retry-After as delay-seconds or an HTTP-date (RFC 9110), in milliseconds from now_ms, at most
// cap_ms; 0 when absent or unreadable. Never throws, whatever the header holds.
int64_t retry_after_ms(const HttpResponse& r, int64_t now_ms, int64_t cap_ms);

// Full jitter: uniform(0, min(cap, base * 2^(attempts-1))) (docs/architecture.md, "Sync worker").
class Backoff {
 public:
  Backoff(int64_t base_ms, int64_t cap_ms, RandomSource& random) : base_ms_(base_ms), cap_ms_(cap_ms), random_(random) {}
  // The wait after the attempts-th failed attempt.
  int64_t delay_ms(int attempts) const;
  // The ceiling of that wait, without jitter (the offline probe uses it as it is).
  int64_t ceiling_ms(int attempts) const;

 private:
  int64_t base_ms_, cap_ms_;
  RandomSource& random_;
};

}  // namespace offsync
