// How the `offsync` command prints offsync's values: JSON for --json, lines for people.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "engine/client/json_forms.h"
#include "offsync/client.h"

namespace offsync::cli {

using offsync::to_json;  // Mutation and SyncReport: engine/client/json_forms.h
nlohmann::json to_json(const Record& r);
nlohmann::json to_json(const OutboxSummary& s, int64_t now_ms);
// "2m 5s", "3h 0m", "12s"
std::string format_age(int64_t ms);
// One outbox line: "01J...  upsert  notes/n1  pending  attempts=0"
std::string describe(const Mutation& m);
// Prints "offsync: <reason>" to stderr and returns the exit code for a failed command.
int fail(const Status& status);

}  // namespace offsync::cli
