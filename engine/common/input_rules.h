// What either half accepts from outside (the client from the app, the server from requests): names, payloads and queued REST requests. Every refusal
// is kInvalidArgument with a message naming the offending input, and happens before anything is
// written.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "offsync/client.h"
#include "offsync/limits.h"
#include "offsync/status.h"

namespace offsync::input_rules {

using limits::kMaxNameLength;
using limits::kMaxRecordIdLength;

// A collection: a letter, then letters, digits, '_', '-' or '.'; at most 64 characters.
Status check_collection(const std::string& collection);
// A record id: 1 to 128 of A-Z a-z 0-9 and . _ - : ~ @ + (safe in a URL path segment).
Status check_record_id(const std::string& record_id);
// How deep a value nests: 0 for a scalar, 1 for an object or array of scalars, and so on; looks at
// most `cap` levels down (a deeper value answers cap + 1), so any tree is measured safely.
int json_depth(const nlohmann::json& value, int cap);
// A record's fields nest at most limits::kMaxFieldsDepth deep.
Status check_fields_depth(const nlohmann::json& fields, const char* what);
// A write's payload: a JSON object whose serialisation is at most max_bytes. Returns the
// serialisation, which the caller stores, so that the JSON is dumped once.
Result<std::string> check_payload(const nlohmann::json& payload, size_t max_bytes, const char* what);
Status check_request(const RestRequest& request, size_t max_body_bytes);

}  // namespace offsync::input_rules
