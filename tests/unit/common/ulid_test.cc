#include <doctest/doctest.h>
#include <rapidcheck.h>

#include <set>
#include <thread>

#include "offsync/ulid.h"

using offsync::ManualClock;
using offsync::RandomSource;
using offsync::StatusCode;
using offsync::Ulid;
using offsync::UlidGenerator;

namespace {

// Returns the same bytes every time, so tests can force increments and overflow.
class FixedRandom final : public RandomSource {
 public:
  explicit FixedRandom(uint8_t byte) : byte_(byte) {}
  void fill(std::span<uint8_t> out) override { std::fill(out.begin(), out.end(), byte_); }

 private:
  uint8_t byte_;
};

bool crockford_only(const std::string& s) {
  return s.find_first_not_of("0123456789ABCDEFGHJKMNPQRSTVWXYZ") == std::string::npos;
}

}  // namespace

TEST_CASE("100,000 ULIDs from one generator are strictly increasing, 26 Crockford characters") {
  UlidGenerator gen(offsync::system_clock(), offsync::system_random());
  std::string previous;
  for (int i = 0; i < 100'000; ++i) {
    auto id = gen.generate();
    REQUIRE(id.is_ok());
    std::string text = id->to_string();
    REQUIRE(text.size() == 26);
    REQUIRE(crockford_only(text));
    REQUIRE(text > previous);
    previous = text;
  }
}

TEST_CASE("ULIDs stay strictly increasing across threads sharing a generator") {
  UlidGenerator gen(offsync::system_clock(), offsync::system_random());
  std::vector<std::vector<Ulid>> per_thread(4);
  std::vector<std::thread> threads;
  for (auto& out : per_thread) {
    threads.emplace_back([&gen, &out] {
      for (int i = 0; i < 5000; ++i) out.push_back(*gen.generate());
    });
  }
  for (auto& t : threads) t.join();
  std::set<Ulid> all;
  for (const auto& out : per_thread) {
    for (size_t i = 1; i < out.size(); ++i) REQUIRE(out[i - 1] < out[i]);
    all.insert(out.begin(), out.end());
  }
  CHECK(all.size() == 20'000);
}

TEST_CASE("within one millisecond the random part is incremented, and the time is extractable") {
  ManualClock clock(1'469'918'176'385);
  FixedRandom random(0);
  UlidGenerator gen(clock, random);
  Ulid a = *gen.generate();
  Ulid b = *gen.generate();
  CHECK(a.time_ms() == 1'469'918'176'385);
  CHECK(a.to_string() == "01ARYZ6S410000000000000000");
  CHECK(b.to_string() == "01ARYZ6S410000000000000001");
}

TEST_CASE("a clock stepping back never makes a smaller ULID") {
  ManualClock clock(2'000'000);
  UlidGenerator gen(clock, offsync::system_random());
  Ulid a = *gen.generate();
  clock.set(1'000'000);
  Ulid b = *gen.generate();
  CHECK(a < b);
  CHECK(b.time_ms() == 2'000'000);
}

TEST_CASE("overflowing the random part within one millisecond is an error, not a wrap") {
  ManualClock clock(5'000);
  FixedRandom random(0xff);
  UlidGenerator gen(clock, random);
  Ulid max = *gen.generate();
  CHECK(max.to_string().substr(10) == "ZZZZZZZZZZZZZZZZ");
  auto next = gen.generate();
  REQUIRE_FALSE(next.is_ok());
  CHECK(next.status().code() == StatusCode::kResourceExhausted);
  clock.advance(1);
  CHECK(gen.generate().is_ok());
}

TEST_CASE("parsing is case-insensitive and round-trips") {
  auto upper = Ulid::parse("01ARZ3NDEKTSV4RRFFQ69G5FAV");
  auto lower = Ulid::parse("01arz3ndektsv4rrffq69g5fav");
  REQUIRE(upper.is_ok());
  REQUIRE(lower.is_ok());
  CHECK(*upper == *lower);
  CHECK(lower->to_string() == "01ARZ3NDEKTSV4RRFFQ69G5FAV");
  CHECK(Ulid::parse("7ZZZZZZZZZZZZZZZZZZZZZZZZZ").is_ok());
}

TEST_CASE("parsing rejects bad ULIDs with a message naming the problem") {
  auto too_short = Ulid::parse("01ARZ3NDEK");
  CHECK(too_short.status().code() == StatusCode::kInvalidArgument);
  CHECK(too_short.status().message().find("26 characters, got 10") != std::string::npos);

  auto bad_char = Ulid::parse("01ARZ3NDEKTSV4RRFFQ69G5FAU");
  CHECK(bad_char.status().message().find("character 26 ('U')") != std::string::npos);
  CHECK_FALSE(Ulid::parse("01ARZ3NDEKTSV4RRFFQ69G5FAI").is_ok());
  CHECK_FALSE(Ulid::parse("01ARZ3NDEKTSV4RRFFQ69G5FA-").is_ok());

  auto too_big = Ulid::parse("80000000000000000000000000");
  CHECK(too_big.status().message().find("above 7ZZZZZZZZZZZZZZZZZZZZZZZZZ") != std::string::npos);
}

TEST_CASE("property: every 128-bit value round-trips through text, and text order is byte order") {
  bool ok = rc::check("ulid text round trip", [](const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& b) {
    Ulid x(a), y(b);
    auto parsed = Ulid::parse(x.to_string());
    RC_ASSERT(parsed.is_ok());
    RC_ASSERT(*parsed == x);
    RC_ASSERT((x.to_string() < y.to_string()) == (x < y));
  });
  CHECK(ok);
}
