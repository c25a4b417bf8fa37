// Client::forward: the mutations a relay applied for its own clients enter the relay's upstream
// outbox under their original Idempotency-Keys (docs/architecture.md, "The relay").
#include "engine/client/client_impl.h"
#include "engine/common/input_rules.h"

namespace offsync {

Result<int64_t> Client::forward(const std::vector<Forwarded>& batch) {
  for (const Forwarded& f : batch) {
    if (f.idempotency_key.empty()) return Status::invalid_argument("a forwarded mutation needs its Idempotency-Key");
    if (f.op == MutationOp::kRequest) return Status::invalid_argument("REST requests are not forwarded");
    if (Status s = input_rules::check_collection(f.collection); !s) return s;
    if (Status s = input_rules::check_record_id(f.record_id); !s) return s;
  }
  auto queued = impl_->write("forward", [&]() -> Result<int64_t> {
    auto& store = *impl_->store;
    int64_t n = 0;
    for (const Forwarded& f : batch) {
      if (store.has_idempotency_key(f.idempotency_key)) continue;
      Mutation m = impl_->new_mutation(f.collection, f.record_id, f.op,
                                       f.op == MutationOp::kDelete ? nlohmann::json() : f.payload);
      m.attachments = f.attachments;
      store.insert_mutation(m);
      store.set_idempotency_key(m.id, f.idempotency_key);
      if (f.op == MutationOp::kDelete) store.insert_tombstone(Tombstone{f.collection, f.record_id, m.created_at_ms, m.id});
      impl_->recompute_view(f.collection, f.record_id);
      ++n;
    }
    return n;
  });
  if (queued && *queued > 0) impl_->notify_write();
  return queued;
}

}  // namespace offsync
