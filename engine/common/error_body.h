// The protocol's error answer, {"error": {"code", "message"}} (docs/protocol.md), written in one
// place for the server and every transport that answers by itself (listeners, proxy, byte pipe).
// Always JSON: bytes of the message that are not UTF-8 are replaced.
#pragma once

#include <string>

#include "offsync/http.h"

namespace offsync {

std::string error_body(const std::string& code, const std::string& message);
// The same as a whole answer with Content-Type: application/json.
HttpResponse error_response(int status, const std::string& code, const std::string& message);

}  // namespace offsync
