// Client::forward: the mutations a relay applied for its own clients enter the relay's upstream
// outbox under their original Idempotency-Keys (docs/architecture.md, "The relay").
#include "engine/client/client_impl.h"
#include "engine/common/input_rules.h"
#include "engine/common/json_text.h"

namespace offsync {

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
      std::string text = f.op == MutationOp::kDelete ? std::string("null")
                         : f.payload_text.empty()    ? f.payload.dump()
                                                     : f.payload_text;
      store.insert_mutation(m, &text);
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
