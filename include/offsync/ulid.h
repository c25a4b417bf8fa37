// offsync/ulid.h — Universally Unique Lexicographically Sortable Identifiers.
//
// A ULID is 128 bits: a 48-bit Unix time in milliseconds, then 80 random bits, written as 26
// characters of Crockford base32 (0-9, A-Z without I, L, O, U). Its text sorts as its time does.
//
// Thread safety: Ulid is a value. A UlidGenerator is safe for concurrent use: generate() takes an
// internal lock, so ULIDs from one generator are strictly increasing across all threads.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "offsync/clock.h"
#include "offsync/status.h"

namespace offsync {

class Ulid {
 public:
  static constexpr size_t kTextLength = 26;

  Ulid() = default;  // all zero: "00000000000000000000000000"
  explicit Ulid(const std::array<uint8_t, 16>& bytes) : bytes_(bytes) {}
  Ulid(uint64_t time_ms, const std::array<uint8_t, 10>& random);

  // Parses 26 Crockford base32 characters, case-insensitively. Fails with kInvalidArgument naming
  // the problem: wrong length, a character outside the alphabet (and its position), or a value
  // above 7ZZZZZZZZZZZZZZZZZZZZZZZZZ (more than 128 bits).
  static Result<Ulid> parse(std::string_view text);

  // The 48-bit millisecond timestamp.
  uint64_t time_ms() const;
  const std::array<uint8_t, 16>& bytes() const { return bytes_; }
  // Upper-case canonical text, 26 characters.
  std::string to_string() const;

  friend bool operator==(const Ulid&, const Ulid&) = default;
  friend auto operator<=>(const Ulid&, const Ulid&) = default;

 private:
  std::array<uint8_t, 16> bytes_{};
};

// Makes strictly increasing ULIDs. Within one millisecond (or when the clock steps back) the random
// part of the previous ULID is incremented by one; if that overflows 80 bits, generate() fails with
// kResourceExhausted rather than wrap (2^80 ULIDs in one millisecond cannot happen in practice; a
// clock stuck far in the past could only exhaust it after that many calls).
class UlidGenerator {
 public:
  // The clock and the random source are borrowed and must outlive the generator.
  UlidGenerator(const Clock& clock, RandomSource& random) : clock_(clock), random_(random) {}

  Result<Ulid> generate();
  // Never generate at or below `id` from now on (e.g. the newest id a store holds, so that ids keep
  // increasing across restarts even when the clock stepped back in between).
  void observe(const Ulid& id);

 private:
  const Clock& clock_;
  RandomSource& random_;
  std::mutex mu_;
  Ulid last_;          // GUARDED_BY(mu_)
  bool have_last_ = false;  // GUARDED_BY(mu_)
};

}  // namespace offsync
