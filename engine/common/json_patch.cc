#include "engine/common/json_patch.h"

namespace offsync {

nlohmann::json apply_merge_patch(const nlohmann::json& target, const nlohmann::json& patch) {
  nlohmann::json result = target;
  result.merge_patch(patch);  // nlohmann's RFC 7396 MergePatch
  return result;
}

std::optional<nlohmann::json> compose_merge_patches(const nlohmann::json& first, const nlohmann::json& second) {
  nlohmann::json out = first;
  for (const auto& [key, value] : second.items()) {
    auto it = out.find(key);
    if (!value.is_object() || it == out.end()) {
      // A scalar, array or null in `second` sets (or removes) the member whatever came before; an
      // object patch of a member `first` did not touch acts on the target's member directly.
      out[key] = value;
    } else if (it->is_object()) {
      auto inner = compose_merge_patches(*it, value);
      if (!inner) return std::nullopt;
      *it = std::move(*inner);
    } else {
      // `first` replaced or removed the member, `second` patches it as an object: the member
      // becomes exactly apply(value, {}), which a merge patch cannot express over an object.
      return std::nullopt;
    }
  }
  return out;
}

}  // namespace offsync
