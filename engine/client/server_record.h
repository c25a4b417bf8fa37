// Records as the server sends them (docs/protocol.md: "collection", "record", "op", "fields", "hlc",
// "field_hlc", "attachments"), read from their JSON text straight into the client store's form.
// Internal to the client half.
#pragma once

#include <optional>
#include <string>

#include "engine/common/json_text.h"
#include "offsync/client.h"
#include "storage/client_store.h"

namespace offsync {

struct ServerRecord {
  std::string collection;
  std::string record_id;
  storage::BaseText base;  // fields "{}" for a delete
};

// A pulled change or a conflict's server record: nullopt unless `record` is an object with string
// "collection", "record" and "hlc". Missing or non-object "fields"/"field_hlc" read as {}.
std::optional<ServerRecord> read_server_record(const json_text::Value& record);

// What a 200 answer to a mutation of kind `op` leaves as base: its record, or nullopt when the
// record is null for a delete (the server had no such record). An error names what is unreadable.
Result<std::optional<storage::BaseText>> acknowledged_base(MutationOp op, const json_text::Value& record);

}  // namespace offsync
