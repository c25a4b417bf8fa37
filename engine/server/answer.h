// An answer of the server before it becomes an HttpResponse, and the answers every part of the
// server gives alike (errors, 503, 409 request_in_progress, the applied body).
// Internal to the server half.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/common/error_body.h"
#include "engine/common/json_text.h"

namespace offsync {

// Status, JSON body and the protocol's extra headers.
struct Answer {
  int status = 200;
  std::string body;
  bool replayed = false;
  bool deprecated = false;
  std::optional<int> retry_after_s;
  std::string failure;  // metrics category when not applied
  std::vector<std::pair<std::string, std::string>> headers;  // more headers (Location, Cache-Control)
  std::string content_type = "application/json";
  // Stored under its Idempotency-Key and replayed; false for a refusal the client can cure and
  // retry with the same key (an attachment it has not uploaded yet).
  bool replayable = true;
  // GET /v1/sync: a page with no change (what a long poll waits past).
  bool empty_page = false;
};

Answer error(int status, const std::string& code, const std::string& message, std::string failure = "validation");
// 400 for a body that is not JSON within the limits, with the precise code (json_text::Problem).
Answer unreadable(const json_text::Problem& problem);
// 503 with Retry-After: 1: nothing was applied, the client retries.
Answer unavailable(const std::string& message);
// 409 request_in_progress: another request holds the same key; the client retries shortly.
Answer in_progress();
// {"hlc", "record", "status": "applied"}, keys sorted as nlohmann writes them. An empty hlc is null.
std::string applied_body(const std::string& record_text, const std::string& hlc);

}  // namespace offsync
