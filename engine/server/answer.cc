#include "engine/server/answer.h"

#include <nlohmann/json.hpp>

namespace offsync {

using nlohmann::json;

Answer error(int status, const std::string& code, const std::string& message, std::string failure) {
  return Answer{status, error_body(code, message), false, false, std::nullopt, std::move(failure)};
}

Answer unreadable(const json_text::Problem& problem) {
  return error(400, std::string(problem.code_name()), "the body is " + problem.message());
}

Answer unavailable(const std::string& message) {
  Answer a = error(503, "unavailable", message, "transient");
  a.retry_after_s = 1;
  return a;
}

Answer in_progress() {
  Answer a = error(409, "request_in_progress", "a request with this Idempotency-Key is still running",
                   "request_in_progress");
  a.retry_after_s = 1;
  return a;
}

std::string applied_body(const std::string& record_text, const std::string& hlc) {
  return "{\"hlc\":" + (hlc.empty() ? std::string("null") : json_text::quoted(hlc)) + ",\"record\":" + record_text +
         ",\"status\":\"applied\"}";
}

}  // namespace offsync
