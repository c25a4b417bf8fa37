// The base a later edit of a record starts from once an earlier one is acknowledged, and the HLC
// arithmetic a relay's hand-over shares with it (engine/client/forward.cc).
#include "engine/client/client_impl.h"
#include "offsync/hlc.h"

namespace offsync {

std::optional<std::string> hlc_just_before(const std::string& text) {
  auto hlc = Hlc::parse(text);
  if (!hlc) return std::nullopt;
  for (Hlc before : {Hlc{hlc->physical_ms, hlc->logical, "0"}, Hlc{hlc->physical_ms, hlc->logical - 1, "0"},
                     Hlc{hlc->physical_ms - 1, 0, "0"}}) {
    if (before.physical_ms >= 0 && before.logical <= hlc->logical && before.to_string() < text) return before.to_string();
  }
  return std::nullopt;
}

std::optional<std::string> oldest_field_hlc(const nlohmann::json& field_hlc, const std::vector<std::string>& names,
                                            const std::function<bool(const std::string&)>& counts) {
  std::optional<std::string> oldest;
  if (!field_hlc.is_object()) return oldest;
  for (const auto& name : names) {
    auto hlc = field_hlc.find(name);
    if (hlc == field_hlc.end() || !hlc->is_string()) continue;
    const std::string& at = hlc->get_ref<const std::string&>();
    if (counts(at) && (!oldest || at < *oldest)) oldest = at;
  }
  return oldest;
}

void Client::Impl::rebase_later_edits_locked(const std::string& collection, const std::string& record_id,
                                             const std::string& acked_hlc, const storage::BaseText& base) {
  // The server's text, as stored; unreadable, it tells nothing (every edit moves to base.hlc).
  nlohmann::json fields = nlohmann::json::parse(base.fields, nullptr, false);
  nlohmann::json field_hlc = nlohmann::json::parse(base.field_hlc, nullptr, false);
  if (!fields.is_object()) fields = nlohmann::json::object();
  if (!field_hlc.is_object()) field_hlc = nlohmann::json::object();
  for (const Mutation& m : store->mutations_of(collection, record_id)) {
    if (m.attempts > 0 || m.state != MutationState::kPending) continue;  // sent: frozen
    // The fields it touches: a patch's members; an upsert's and those it removes; a delete's all.
    std::vector<std::string> touched;
    if (m.op == MutationOp::kPatch || m.op == MutationOp::kUpsert) {
      if (m.payload.is_object()) {
        for (const auto& [name, value] : m.payload.items()) touched.push_back(name);
      }
    }
    if (m.op == MutationOp::kUpsert || m.op == MutationOp::kDelete) {
      for (const auto& [name, value] : fields.items()) touched.push_back(name);
    }
    // A change of one of them after its base, and not the acknowledged mutation's own: another
    // device's, which it had not seen. It starts just before the oldest such change.
    std::optional<std::string> unseen = oldest_field_hlc(field_hlc, touched, [&](const std::string& at) {
      return at != acked_hlc && (!m.base_hlc || at > *m.base_hlc);
    });
    std::string from = base.hlc;
    if (unseen) {
      auto before = hlc_just_before(*unseen);
      if (!before) continue;
      from = m.base_hlc && *before < *m.base_hlc ? *m.base_hlc : *before;
    }
    store->rebase_unsent_mutation(m.id, from);
  }
}

}  // namespace offsync
