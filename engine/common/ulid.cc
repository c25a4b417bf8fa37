#include "offsync/ulid.h"

#include <algorithm>

namespace offsync {
namespace {

constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr uint64_t kMaxTime = (uint64_t{1} << 48) - 1;

// Value of one Crockford base32 digit, or -1. Case-insensitive; I, L, O and U are not digits.
int digit_value(char c) {
  if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  const char* end = kAlphabet + 32;
  const char* p = std::find(kAlphabet, end, c);
  return p == end ? -1 : static_cast<int>(p - kAlphabet);
}

}  // namespace

Ulid::Ulid(uint64_t time_ms, const std::array<uint8_t, 10>& random) {
  for (int i = 0; i < 6; ++i) bytes_[i] = static_cast<uint8_t>(time_ms >> (8 * (5 - i)));
  std::copy(random.begin(), random.end(), bytes_.begin() + 6);
}

uint64_t Ulid::time_ms() const {
  uint64_t t = 0;
  for (int i = 0; i < 6; ++i) t = (t << 8) | bytes_[i];
  return t;
}

std::string Ulid::to_string() const {
  // 130 bits of text for 128 bits of value: the first character carries only the top 3 bits.
  std::string out(kTextLength, '0');
  uint64_t hi = 0, lo = 0;
  for (int i = 0; i < 8; ++i) hi = (hi << 8) | bytes_[i];
  for (int i = 8; i < 16; ++i) lo = (lo << 8) | bytes_[i];
  for (int i = static_cast<int>(kTextLength) - 1; i >= 0; --i) {
    out[i] = kAlphabet[lo & 31];
    lo = (lo >> 5) | (hi << 59);
    hi >>= 5;
  }
  return out;
}

Result<Ulid> Ulid::parse(std::string_view text) {
  if (text.size() != kTextLength) {
    return Status::invalid_argument("a ULID has 26 characters, got " + std::to_string(text.size()));
  }
  uint64_t hi = 0, lo = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    int d = digit_value(text[i]);
    if (d < 0) {
      std::string shown = (text[i] >= 0x20 && text[i] < 0x7f) ? std::string(1, text[i]) : "\\x??";
      return Status::invalid_argument("ULID character " + std::to_string(i + 1) + " ('" + shown +
                                      "') is not Crockford base32");
    }
    if (i == 0 && d > 7) {
      return Status::invalid_argument("ULID is above 7ZZZZZZZZZZZZZZZZZZZZZZZZZ (more than 128 bits)");
    }
    hi = (hi << 5) | (lo >> 59);
    lo = (lo << 5) | static_cast<uint64_t>(d);
  }
  std::array<uint8_t, 16> bytes{};
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<uint8_t>(hi >> (8 * (7 - i)));
  for (int i = 0; i < 8; ++i) bytes[8 + i] = static_cast<uint8_t>(lo >> (8 * (7 - i)));
  return Ulid(bytes);
}

Result<Ulid> UlidGenerator::generate() {
  int64_t now = clock_.now_ms();
  if (now < 0 || static_cast<uint64_t>(now) > kMaxTime) {
    return Status::invalid_argument("clock time " + std::to_string(now) + " ms does not fit a ULID");
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (have_last_ && static_cast<uint64_t>(now) <= last_.time_ms()) {
    // Same millisecond, or the clock stepped back: keep the last time, add one to the random part.
    std::array<uint8_t, 16> next = last_.bytes();
    int i = 15;
    for (; i >= 6; --i) {
      if (++next[i] != 0) break;
    }
    if (i < 6) {
      return Status::resource_exhausted("ULID random part overflowed within one millisecond");
    }
    last_ = Ulid(next);
    return last_;
  }
  std::array<uint8_t, 10> random{};
  random_.fill(random);
  last_ = Ulid(static_cast<uint64_t>(now), random);
  have_last_ = true;
  return last_;
}

void UlidGenerator::observe(const Ulid& id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!have_last_ || last_ < id) {
    last_ = id;
    have_last_ = true;
  }
}

}  // namespace offsync
