// Client::forward: the mutations a relay applied for its own clients enter the relay's upstream
// outbox under their original Idempotency-Keys (docs/architecture.md, "The relay").
#include "engine/client/client_impl.h"
#include "engine/common/input_rules.h"
#include "engine/common/json_text.h"

namespace offsync {
namespace {

// The fields a forwarded write changes that upstream changed without the sender seeing it: those
// the relay had changed after the sender's base, and those this store's view (upstream's state
// with the mutations before this one) no longer shows as the sender saw them.
std::vector<std::string> unseen_upstream(storage::ClientStore& store, const Client::Forwarded& f) {
  std::vector<std::string> out;
  const nlohmann::json& view = f.sender_view;
  if (auto unseen = view.find("unseen"); unseen != view.end() && unseen->is_array()) {
    for (const auto& name : *unseen) {
      if (name.is_string()) out.push_back(name.get<std::string>());
    }
  }
  auto seen = view.find("seen");
  if (seen == view.end() || !seen->is_object()) return out;
  std::optional<nlohmann::json> shown = store.view(f.collection, f.record_id);
  const nlohmann::json now = shown && shown->is_object() ? std::move(*shown) : nlohmann::json::object();
  for (const auto& [name, was] : seen->items()) {
    if (!was.is_array() || was.size() > 1) continue;
    auto it = now.find(name);
    bool same = was.empty() ? it == now.end() : it != now.end() && *it == was[0];
    if (!same) out.push_back(name);
  }
  return out;
}

// The base a forwarded mutation goes upstream with: this store's (upstream's newest HLC of the
// record), moved back before upstream's oldest change of a field the sender had not seen; none
// when the sender had none.
std::optional<std::string> upstream_base(storage::ClientStore& store, const Client::Forwarded& f,
                                         std::optional<std::string> base) {
  if (!f.sender_had_base) return std::nullopt;
  if (!base || !f.sender_view.is_object()) return base;
  std::vector<std::string> unseen = unseen_upstream(store, f);
  if (unseen.empty()) return base;
  auto row = store.base(f.collection, f.record_id);
  if (!row) return base;
  // A field upstream has no HLC for is a change upstream has not seen either.
  std::optional<std::string> oldest = oldest_field_hlc(row->field_hlc, unseen, [](const std::string&) { return true; });
  if (!oldest) return base;
  auto before = hlc_just_before(*oldest);
  return before && *before < *base ? before : base;
}

}  // namespace

Result<int64_t> Client::forward(const std::vector<Forwarded>& batch) {
  for (const Forwarded& f : batch) {
    if (f.idempotency_key.empty()) return Status::invalid_argument("a forwarded mutation needs its Idempotency-Key");
    if (f.op == MutationOp::kRequest) return Status::invalid_argument("REST requests are not forwarded");
    if (Status s = input_rules::check_collection(f.collection); !s) return s;
    if (Status s = input_rules::check_record_id(f.record_id); !s) return s;
    if (!f.payload_text.empty()) {
      auto payload = json_text::parse(f.payload_text);
      if (!payload || !payload->is_object()) {
        return Status::invalid_argument("the payload text of the mutation under key " + f.idempotency_key +
                                        " is not a JSON object");
      }
    }
  }
  auto queued = impl_->write("forward", [&]() -> Result<int64_t> {
    auto& store = *impl_->store;
    int64_t n = 0;
    for (const Forwarded& f : batch) {
      if (store.has_idempotency_key(f.idempotency_key)) continue;
      // The payload goes into the store as text; the Mutation carries none.
      Mutation m = impl_->new_mutation(f.collection, f.record_id, f.op, nlohmann::json());
      m.attachments = f.attachments;
      m.idempotency_key = f.idempotency_key;
      std::optional<std::string> newest = m.base_hlc;
      m.base_hlc = upstream_base(store, f, newest);
      std::string text = f.op == MutationOp::kDelete ? std::string("null")
                         : f.payload_text.empty()    ? f.payload.dump()
                                                     : f.payload_text;
      store.insert_mutation(m, &text);
      // Moved back before what its sender had not seen: an earlier mutation's acknowledgement does
      // not move it forward again (the sender had not seen that one either).
      if (m.base_hlc != newest) store.pin_base(m.id);
      if (f.op == MutationOp::kUpsert) {
        // The newest mutation of the record replaces it whole: the view is its fields (as for put).
        store.set_view_text(f.collection, f.record_id, text);
      } else if (f.op == MutationOp::kDelete) {
        store.insert_tombstone(Tombstone{f.collection, f.record_id, m.created_at_ms, m.id});
        store.set_view(f.collection, f.record_id, std::nullopt);
      } else {
        impl_->recompute_view(f.collection, f.record_id);
      }
      ++n;
    }
    return n;
  });
  if (queued && *queued > 0) impl_->notify_write();
  return queued;
}

}  // namespace offsync
