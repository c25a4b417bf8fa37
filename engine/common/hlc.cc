#include "offsync/hlc.h"

#include <charconv>
#include <cstdio>

namespace offsync {

std::string Hlc::to_string() const {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%015lld-%010u-", static_cast<long long>(physical_ms), logical);
  return buf + node;
}

Result<Hlc> Hlc::parse(std::string_view text) {
  auto bad = [&] { return Status::invalid_argument("'" + std::string(text.substr(0, 64)) + "' is not an HLC"); };
  if (text.size() < 28 || text[15] != '-' || text[26] != '-') return bad();
  Hlc out;
  auto p = std::from_chars(text.data(), text.data() + 15, out.physical_ms);
  if (p.ec != std::errc() || p.ptr != text.data() + 15 || out.physical_ms < 0) return bad();
  auto l = std::from_chars(text.data() + 16, text.data() + 26, out.logical);
  if (l.ec != std::errc() || l.ptr != text.data() + 26) return bad();
  out.node = std::string(text.substr(27));
  if (out.node.empty()) return bad();
  return out;
}

void HlcClock::observe(const Hlc& floor) {
  std::lock_guard<std::mutex> lock(mu_);
  if (floor.physical_ms > last_physical_ || (floor.physical_ms == last_physical_ && floor.logical > last_logical_)) {
    last_physical_ = floor.physical_ms;
    last_logical_ = floor.logical;
  }
}

Hlc HlcClock::now() {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t wall = clock_.now_ms();
  if (wall > last_physical_) {
    last_physical_ = wall;
    last_logical_ = 0;
  } else {
    ++last_logical_;  // same millisecond, or the wall clock stepped back
  }
  return Hlc{last_physical_, last_logical_, node_};
}

}  // namespace offsync
