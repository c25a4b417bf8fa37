// The JSON forms of the client's public values, as the `offsync` command prints them (--json) and
// the C ABI hands them over (include/offsync/offsync.h).
#pragma once

#include <nlohmann/json.hpp>

#include "offsync/client.h"

namespace offsync {

nlohmann::json to_json(const Mutation& m);
nlohmann::json to_json(const SyncReport& r);

}  // namespace offsync
