// What the client accepts from the app: names, payloads and queued REST requests. Every refusal
// is kInvalidArgument with a message naming the offending input, and happens before anything is
// written.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "offsync/client.h"
#include "offsync/status.h"

namespace offsync::client_rules {

constexpr size_t kMaxNameLength = 64;       // collections, modules, actions
constexpr size_t kMaxRecordIdLength = 128;  // record ids and ordering keys

// A collection: a letter, then letters, digits, '_', '-' or '.'; at most 64 characters.
Status check_collection(const std::string& collection);
// A record id: 1 to 128 of A-Z a-z 0-9 and . _ - : ~ @ + (safe in a URL path segment).
Status check_record_id(const std::string& record_id);
// A write's payload: a JSON object whose serialisation is at most max_bytes. Returns the
// serialisation, which the caller stores, so that the JSON is dumped once.
Result<std::string> check_payload(const nlohmann::json& payload, size_t max_bytes, const char* what);
Status check_request(const RestRequest& request, size_t max_body_bytes);

}  // namespace offsync::client_rules
