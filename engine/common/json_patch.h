// JSON merge patches (RFC 7396) and their composition.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>

namespace offsync {

// The result of applying `patch` to `target` (RFC 7396 MergePatch). An object patch applied to a
// non-object target treats the target as {}.
nlohmann::json apply_merge_patch(const nlohmann::json& target, const nlohmann::json& patch);

// One merge patch with the same effect on every target as applying `first`, then `second`; or
// nullopt when no merge patch has that effect. (A merge patch cannot say "replace this member by
// an object" when the target's member is itself an object; `first` setting a member to a scalar
// or removing it, followed by `second` patching it as an object, needs exactly that.)
// Both patches must be objects.
std::optional<nlohmann::json> compose_merge_patches(const nlohmann::json& first, const nlohmann::json& second);

}  // namespace offsync
