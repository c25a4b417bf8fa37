#include "engine/common/error_body.h"

#include <nlohmann/json.hpp>

namespace offsync {

std::string error_body(const std::string& code, const std::string& message) {
  using nlohmann::json;
  return json{{"error", {{"code", code}, {"message", message}}}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

HttpResponse error_response(int status, const std::string& code, const std::string& message) {
  HttpResponse r;
  r.status = status;
  r.headers.set("Content-Type", "application/json");
  r.body = error_body(code, message);
  return r;
}

}  // namespace offsync
