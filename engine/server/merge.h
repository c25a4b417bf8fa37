// The server's per-field merge: one mutation against the record's current state, decided by the
// collection's schema (docs/merge-policies.md). Pure: no I/O, no clock of its own.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "offsync/hlc.h"
#include "offsync/schema.h"
#include "storage/server_store.h"

namespace offsync {

enum class ServerOp { kUpsert, kPatch, kDelete };

// A mutation as the server received it, already checked for shape.
struct IncomingMutation {
  std::string collection;
  std::string record_id;
  ServerOp op = ServerOp::kUpsert;
  nlohmann::json fields = nlohmann::json::object();  // upsert: the record; patch: a merge patch
  std::optional<std::string> base;                    // the record HLC the client edited from
  std::optional<nlohmann::json> attachments;          // array of ids, when given
};

struct MergeResult {
  enum class Kind {
    kApplied,    // record holds the new state; a change to log
    kUnchanged,  // 200 without a change: a delete of a missing or already deleted record
    kConflict,   // 409 `conflict`; record holds the server's current state
    kNotFound,   // 404: a patch of a record that never existed
    kInvalid,    // 422: the result breaks the schema (code, message)
  };
  Kind kind = Kind::kApplied;
  std::optional<storage::StoredRecord> record;
  std::string code;
  std::string message;
};

MergeResult merge_mutation(const Schema& schema, const std::optional<storage::StoredRecord>& current,
                           const IncomingMutation& m, const Hlc& now, int64_t now_ms);

// What the writer of `m` had seen of the fields it changes (sets, replaces or removes; a delete:
// every field): {"unseen": [names the store changed after the writer's base], "seen": {name:
// [value] or [] when absent, for the others}}. A relay hands it upstream with the mutation, so that
// upstream's rules judge the write as if the writer had sent it there (engine/client/forward.cc).
nlohmann::json sender_view(const std::optional<storage::StoredRecord>& current, const IncomingMutation& m);

// A record as docs/protocol.md writes it: {"collection", "record", "op", "fields", "hlc", "field_hlc",
// "attachments"}.
nlohmann::json record_json(const storage::StoredRecord& r);
// The same record as JSON text, built around its already serialised JSON members (the apply path
// serialises them once for the store and the answer; sync copies them from the store unparsed).
std::string record_text(const storage::StoredRecord& r, const std::string& fields_text,
                        const std::string& field_hlc_text, const std::string& attachments_text);

}  // namespace offsync
