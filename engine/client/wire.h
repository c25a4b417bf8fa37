// The client's side of the wire format (docs/protocol.md): mutation bodies as the single and batch
// endpoints take them, and readers of the server's answers and sync pages. Readers take text that
// may come from a broken or hostile server: they never throw, and what they cannot read they say
// so (nullopt or a Status), for the caller to treat as no answer.
// Internal to the client half.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/client/server_record.h"
#include "engine/common/json_text.h"
#include "offsync/client.h"
#include "offsync/http.h"

namespace offsync::wire {

// The mutation as the single endpoint takes it, built as text (no JSON tree of the payload);
// with_key adds the batch item's "idempotency_key".
std::string mutation_body(const Mutation& m, const std::string& payload_text, bool with_key);

// {"error": {"code", "message"}} of an answer body: the code, or "".
std::string error_code_of(const json_text::Value& body);
// The message, or "HTTP <status>" when the body has none.
std::string error_message_of(const json_text::Value& body, int status);

// The record of a 2xx answer to a mutation: the body must be {"status": "applied", "record": ...}
// (the record may be null). Anything else (a captive portal's page, a body cut short) is no answer.
Result<json_text::Value> applied_record(const json_text::Value& body);

// A sync page: its readable changes, its cursor, and whether more follow.
// What upstream answered a relay about a mutation of this client that the relay had accepted
// (docs/protocol.md, "Relays").
struct RelayedOutcome {
  std::string mutation;  // the mutation's id (its Idempotency-Key)
  bool conflict = false; // else rejected
  std::string message;
  nlohmann::json server; // the relay's record now (conflict), or null
  std::string collection, record_id;
  MutationOp op = MutationOp::kUpsert;
  nlohmann::json fields;  // the mutation's payload
};

struct Page {
  std::vector<ServerRecord> changes;
  std::vector<RelayedOutcome> outcomes;  // only from a relay; malformed ones are skipped
  size_t count = 0;  // every change on the page, readable or not
  std::string cursor;
  bool has_more = false;
};
// A cursor is opaque, stored and echoed as it came, at most this long.
constexpr size_t kMaxCursorBytes = 4096;
// The cursor percent-encoded for the query string (RFC 3986 unreserved characters kept).
std::string cursor_query(std::string_view cursor);
// A 200 answer to GET /v1/sync read; an error says what was wrong with it.
Result<Page> read_page(const HttpResponse& answer);

}  // namespace offsync::wire
