// A query as JSON, for the C ABI and the bindings (include/offsync/offsync.h):
//   {"collection": "notes",
//    "where": [{"path": "course", "op": "==", "value": "math"},
//              {"or": [{"path": "due", "op": "<", "value": 5}, {"path": "due", "op": "missing"}]}],
//    "order": [{"path": "due"}, {"path": "title", "desc": true}],
//    "limit": 50, "after": {"id": "n7", "fields": {...}}}
// ops: == < <= > >= in (value: an array) prefix matches is_null missing present; {"and": [...]} too.
#pragma once

#include <nlohmann/json.hpp>

#include "offsync/client.h"
#include "offsync/query.h"

namespace offsync {

// kInvalidArgument naming what is wrong.
Result<Query> query_from_json(const nlohmann::json& spec);
nlohmann::json to_json(const QueryChange& change);
nlohmann::json to_json(const std::vector<Record>& records);

}  // namespace offsync
