#include "engine/common/byte_range.h"

#include <algorithm>

namespace offsync {
namespace {

// Reads 1 to 18 decimal digits from the front of s.
std::optional<uint64_t> take_number(std::string_view& s) {
  size_t n = 0;
  uint64_t value = 0;
  while (n < s.size() && s[n] >= '0' && s[n] <= '9') {
    if (n == 18) return std::nullopt;
    value = value * 10 + static_cast<uint64_t>(s[n] - '0');
    ++n;
  }
  if (n == 0) return std::nullopt;
  s.remove_prefix(n);
  return value;
}

bool take(std::string_view& s, std::string_view prefix) {
  if (!s.starts_with(prefix)) return false;
  s.remove_prefix(prefix.size());
  return true;
}

}  // namespace

std::optional<ContentRange> parse_content_range(std::string_view s) {
  ContentRange out;
  if (!take(s, "bytes ")) return std::nullopt;
  if (take(s, "*")) {
    out.has_range = false;
  } else {
    auto first = take_number(s);
    if (!first || !take(s, "-")) return std::nullopt;
    auto last = take_number(s);
    if (!last || *last < *first) return std::nullopt;
    out.has_range = true;
    out.first = *first;
    out.last = *last;
  }
  if (!take(s, "/")) return std::nullopt;
  auto total = take_number(s);
  if (!total || !s.empty()) return std::nullopt;
  out.total = *total;
  return out;
}

std::string format_content_range(uint64_t first, uint64_t last, uint64_t total) {
  return "bytes " + std::to_string(first) + "-" + std::to_string(last) + "/" + std::to_string(total);
}

std::optional<uint64_t> parse_received_range(std::string_view s) {
  if (!take(s, "bytes=0-")) return std::nullopt;
  auto last = take_number(s);
  if (!last || !s.empty()) return std::nullopt;
  return *last + 1;
}

RangeRequest parse_range(const std::optional<std::string>& header) {
  RangeRequest out;
  if (!header) return out;
  out.kind = RangeRequest::Kind::kMalformed;
  std::string_view s = *header;
  if (!take(s, "bytes=")) return out;
  if (take(s, "-")) {
    auto suffix = take_number(s);
    if (!suffix || !s.empty() || *suffix == 0) return out;
    out.suffix = suffix;
  } else {
    auto first = take_number(s);
    if (!first || !take(s, "-")) return out;
    out.first = first;
    if (!s.empty()) {
      auto last = take_number(s);
      if (!last || !s.empty() || *last < *first) return out;
      out.last = last;
    }
  }
  out.kind = RangeRequest::Kind::kRange;
  return out;
}

std::optional<std::pair<uint64_t, uint64_t>> resolve_range(const RangeRequest& r, uint64_t size, uint64_t max_len) {
  if (size == 0 || max_len == 0) return std::nullopt;
  uint64_t first = 0, last = size - 1;
  if (r.suffix) {
    first = size - std::min(*r.suffix, size);
  } else {
    if (!r.first || *r.first >= size) return std::nullopt;
    first = *r.first;
    if (r.last) last = std::min(*r.last, size - 1);
  }
  last = std::min(last, first + max_len - 1);
  return std::make_pair(first, last);
}

}  // namespace offsync
