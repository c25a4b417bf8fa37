// The byte ranges of resumable uploads and ranged downloads (RFC 9110 §14): the Content-Range of an
// upload chunk, the Range of a 308 "resume from here" answer and of a download request. Every
// parser takes hostile text: at most 18 digits per number, nothing but the grammar accepted.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace offsync {

// "bytes START-END/TOTAL" (END inclusive, START <= END < TOTAL is not checked here) or
// "bytes */TOTAL" (no range: a question where to resume).
struct ContentRange {
  bool has_range = false;
  uint64_t first = 0, last = 0;  // inclusive, when has_range
  uint64_t total = 0;
};
std::optional<ContentRange> parse_content_range(std::string_view text);
std::string format_content_range(uint64_t first, uint64_t last, uint64_t total);  // "bytes F-L/T"

// The Range of a 308 answer, "bytes=0-LAST": how many bytes the server holds (LAST + 1).
// nullopt for anything else.
std::optional<uint64_t> parse_received_range(std::string_view text);

// One range of a download request: "bytes=A-B", "bytes=A-" or "bytes=-N" (the last N bytes).
struct RangeRequest {
  enum class Kind { kNone, kMalformed, kRange } kind = Kind::kNone;
  std::optional<uint64_t> first, last, suffix;
};
// kNone for an absent header; kMalformed for anything this server does not serve (several ranges,
// other units), which RFC 9110 lets a server ignore.
RangeRequest parse_range(const std::optional<std::string>& header);
// The inclusive bytes a range asks of a representation of `size` bytes, at most `max_len` long
// (a shorter 206 is allowed); nullopt when unsatisfiable (416).
std::optional<std::pair<uint64_t, uint64_t>> resolve_range(const RangeRequest& r, uint64_t size, uint64_t max_len);

}  // namespace offsync
