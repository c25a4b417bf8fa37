// A mutation request: the deprecated v0 shape translated, the body checked and read into an
// IncomingMutation, the request's fingerprint; and the mutation applied (merge, the app's
// validators, the store).
// Internal to the server half.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "engine/server/answer.h"
#include "engine/server/merge.h"
#include "offsync/http.h"

namespace offsync {

// Translates the deprecated v0 mutation shape (docs/protocol.md) into the current one; false when
// the body is not in that shape.
bool translate_deprecated(nlohmann::json& body);
// Checks the shape of a mutation body; on success fills `out` (moving its fields out of `body`).
// Errors are 400s with their codes.
std::optional<Answer> parse_mutation(nlohmann::json& body, IncomingMutation* out);
// SHA-256 over method, path and the canonical body (nlohmann's dump sorts object keys); the raw
// text when the body is not JSON.
std::string fingerprint(const std::string& path, const std::optional<nlohmann::json>& body, const std::string& raw);
// The fingerprint answers stored before "base" was left out of it carry.
std::string legacy_fingerprint(const std::string& path, const std::optional<nlohmann::json>& body,
                               const std::string& raw);
bool is_json_content(const HttpRequest& r);
// The client's Offsync-Client-Id (a ULID, canonical), or "" when absent or malformed.
std::string sender_of(const HttpRequest& r);

}  // namespace offsync
