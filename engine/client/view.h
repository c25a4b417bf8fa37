// The optimistic view: a record's base with its pending mutations applied in ULID order. The one
// rule used for every write, revert and pull, so that every recompute is exact.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "offsync/client.h"

namespace offsync {

// Whether a mutation in this state is part of what the app sees. Rejected and conflicting
// mutations are not: the view shows what the server holds until the app edits or resolves.
bool shows_in_view(MutationState state);

// Applies one mutation to a record's fields (nullopt: the record does not exist). A patch of a
// record that does not exist leaves it absent.
std::optional<nlohmann::json> apply_mutation(std::optional<nlohmann::json> fields, MutationOp op,
                                             const nlohmann::json& payload);

// base_fields: the base's fields, nullopt when the server has no live record.
std::optional<nlohmann::json> compute_view(std::optional<nlohmann::json> base_fields,
                                           const std::vector<Mutation>& mutations_in_ulid_order);

}  // namespace offsync
