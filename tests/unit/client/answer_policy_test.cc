// docs/protocol.md's table "How a client classifies an answer", row by row, and Retry-After read
// defensively.
#include <doctest/doctest.h>

#include "engine/client/answer_policy.h"

using namespace offsync;

namespace {

HttpResponse with_retry_after(const std::string& value) {
  HttpResponse r;
  r.status = 503;
  r.headers.add("Retry-After", value);
  return r;
}

constexpr int64_t kCap = 12LL * 3600 * 1000;
constexpr int64_t kNow = 1'445'412'480'000;  // Wed, 21 Oct 2015 07:28:00 GMT

}  // namespace

TEST_CASE("every answer is classified as docs/protocol.md's table says") {
  struct Row {
    int status;
    const char* code;
    Outcome expected;
  };
  const Row table[] = {
      {200, "", Outcome::kApplied},          {201, "", Outcome::kApplied},
      {0, "", Outcome::kTransient},          // network error, timeout, unreadable answer
      {500, "internal", Outcome::kTransient}, {503, "unavailable", Outcome::kTransient},
      {429, "", Outcome::kTransient},        {409, "request_in_progress", Outcome::kTransient},
      {409, "conflict", Outcome::kConflict}, {401, "unauthenticated", Outcome::kAuth},
      {426, "upgrade_required", Outcome::kUpgrade},
      {400, "invalid_op", Outcome::kRejected}, {403, "forbidden", Outcome::kRejected},
      {404, "not_found", Outcome::kRejected},  {413, "body_too_large", Outcome::kRejected},
      {422, "idempotency_key_reused", Outcome::kRejected},
      {302, "", Outcome::kTransient},        // a proxy's redirect is no answer of the protocol
      {403, "", Outcome::kTransient},        // a 4xx without an error code: a proxy's or portal's page
      {400, "", Outcome::kTransient},
  };
  for (const Row& row : table) {
    CAPTURE(row.status);
    CAPTURE(row.code);
    CHECK(classify(row.status, row.code) == row.expected);
  }
}

TEST_CASE("Retry-After is read as seconds or an HTTP-date, capped, and never throws") {
  CHECK(retry_after_ms(with_retry_after("120"), kNow, kCap) == 120'000);
  CHECK(retry_after_ms(with_retry_after("Wed, 21 Oct 2015 07:30:00 GMT"), kNow, kCap) == 120'000);
  CHECK(retry_after_ms(with_retry_after("Wed, 21 Oct 2015 07:00:00 GMT"), kNow, kCap) == 0);  // past
  CHECK(retry_after_ms(with_retry_after("99999999999999999999"), kNow, kCap) == kCap);
  CHECK(retry_after_ms(with_retry_after("9999999999"), kNow, kCap) == kCap);
  CHECK(retry_after_ms(with_retry_after("Fri, 31 Dec 9999 23:59:59 GMT"), kNow, kCap) == kCap);
  for (const char* junk : {"", "-5", "soon", "1.5", "12abc", "Wed, 21 Oct 2015 07:30:00 GMT trailing"}) {
    CAPTURE(junk);
    CHECK(retry_after_ms(with_retry_after(junk), kNow, kCap) == 0);
  }
  CHECK(retry_after_ms(HttpResponse{}, kNow, kCap) == 0);
}
