#include "engine/client/answer_policy.h"

#include <algorithm>
#include <ctime>
#include <span>

namespace offsync {

Outcome classify(int status, const std::string& error_code) {
  if (status >= 200 && status < 300) return Outcome::kApplied;
  if (status == 401) return Outcome::kAuth;
  if (status == 426) return Outcome::kUpgrade;
  if (status == 409) return error_code == "conflict" ? Outcome::kConflict : Outcome::kTransient;
  if (status == 408 || status == 429 || status >= 500 || status < 200) return Outcome::kTransient;
  // 3xx is not an answer the protocol gives to a mutation: a proxy's redirect, retried.
  if (status < 400) return Outcome::kTransient;
  // Only a 4xx with an error code is the server's verdict (docs/protocol.md); one without (a proxy's or
  // a captive portal's page) says nothing about the mutation, which must not be rejected for it.
  if (error_code.empty()) return Outcome::kTransient;
  return Outcome::kRejected;
}

int64_t retry_after_ms(const HttpResponse& r, int64_t now_ms, int64_t cap_ms) {
  auto value = r.headers.get("Retry-After");
  if (!value || value->empty()) return 0;
  if (std::all_of(value->begin(), value->end(), [](char c) { return c >= '0' && c <= '9'; })) {
    // More digits than fit the cap in seconds cannot be less than the cap.
    if (value->size() > 12) return std::max<int64_t>(0, cap_ms);
    int64_t seconds = std::stoll(*value);
    return std::clamp<int64_t>(seconds * 1000, 0, std::max<int64_t>(0, cap_ms));
  }
  std::tm tm{};
  const char* end = strptime(value->c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end != '\0') return 0;
  int64_t at_ms = static_cast<int64_t>(timegm(&tm)) * 1000;
  return std::clamp<int64_t>(at_ms - now_ms, 0, std::max<int64_t>(0, cap_ms));
}

int64_t Backoff::ceiling_ms(int attempts) const {
  if (attempts > 40) return cap_ms_;
  return std::min(cap_ms_, base_ms_ << std::max(0, attempts - 1));
}

int64_t Backoff::delay_ms(int attempts) const {
  int64_t ceiling = ceiling_ms(attempts);
  uint64_t r = 0;
  random_.fill(std::span<uint8_t>(reinterpret_cast<uint8_t*>(&r), sizeof r));
  return ceiling <= 0 ? 0 : static_cast<int64_t>(r % static_cast<uint64_t>(ceiling + 1));
}

}  // namespace offsync
