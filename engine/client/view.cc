#include "engine/client/view.h"

#include "engine/common/json_patch.h"

namespace offsync {

bool shows_in_view(MutationState state) {
  return state == MutationState::kPending || state == MutationState::kInFlight;
}

std::optional<nlohmann::json> apply_mutation(std::optional<nlohmann::json> fields, MutationOp op,
                                             const nlohmann::json& payload) {
  switch (op) {
    case MutationOp::kUpsert: return payload;
    case MutationOp::kPatch:
      if (!fields) return std::nullopt;
      return apply_merge_patch(*fields, payload);
    case MutationOp::kDelete: return std::nullopt;
    case MutationOp::kRequest: return fields;
  }
  return fields;
}

std::optional<nlohmann::json> compute_view(std::optional<nlohmann::json> base_fields,
                                           const std::vector<Mutation>& mutations) {
  std::optional<nlohmann::json> fields = std::move(base_fields);
  for (const Mutation& m : mutations) {
    if (shows_in_view(m.state)) fields = apply_mutation(std::move(fields), m.op, m.payload);
  }
  return fields;
}

}  // namespace offsync
