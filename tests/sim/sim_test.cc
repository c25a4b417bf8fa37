// The simulator in CI (issue 12): a few hundred seeds pass on the real code, a seed replays
// exactly, and the bugs planted on purpose are each found within those seeds.
#include <doctest/doctest.h>

#include "sim/sim.h"

using namespace offsync::sim;

namespace {

// The first seed in [1, seeds] whose run breaks an invariant; 0 when all hold.
uint64_t first_failing(Plant plant, uint64_t seeds, int clients, int steps, std::string* why) {
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    Outcome out = run({seed, clients, steps, plant, false});
    if (!out.ok) {
      *why = out.failure;
      return seed;
    }
  }
  return 0;
}

}  // namespace

TEST_CASE("sim: 200 seeds of 3 clients x 200 steps keep every invariant on the real code") {
  std::string why;
  uint64_t failing = first_failing(Plant::kNone, 200, 3, 200, &why);
  if (failing) {
    Outcome out = run({failing, 3, 200, Plant::kNone, false});
    for (const auto& line : out.trace) MESSAGE(line);
  }
  CHECK_MESSAGE(failing == 0, "seed " << failing << ": " << why);
}

TEST_CASE("sim: a seed replays exactly") {
  Outcome a = run({7, 4, 250, Plant::kNone, false});
  Outcome b = run({7, 4, 250, Plant::kNone, false});
  CHECK(a.ok);
  CHECK(a.trace == b.trace);
  CHECK(a.crashes + a.restarts > 0);
}

TEST_CASE("sim: a server that ignores idempotency keys is caught") {
  std::string why;
  CHECK(first_failing(Plant::kNoIdempotency, 200, 3, 200, &why) != 0);
  MESSAGE(why);
}

TEST_CASE("sim: a delete acknowledged without an answer from the server is caught") {
  std::string why;
  CHECK(first_failing(Plant::kPhantomDeleteAck, 200, 3, 200, &why) != 0);
  MESSAGE(why);
}

TEST_CASE("sim: a sync page that loses a change on the way is caught") {
  std::string why;
  CHECK(first_failing(Plant::kSkippedChange, 200, 3, 200, &why) != 0);
  MESSAGE(why);
}
