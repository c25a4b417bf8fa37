// Client::forward: the mutations a relay applied for its own clients enter the relay's upstream
// outbox under their original Idempotency-Key (docs/architecture.md, "The relay").
#include "engine/client/client_impl.h"
#include "engine/common/input_rules.h"

namespace offsync {

Result<bool> Client::forward(const std::string& idempotency_key, const std::string& collection,
                             const std::string& record_id, MutationOp op, const nlohmann::json& payload,
                             const std::vector<std::string>& attachments) {
  if (idempotency_key.empty()) return Status::invalid_argument("a forwarded mutation needs its Idempotency-Key");
  if (op == MutationOp::kRequest) return Status::invalid_argument("REST requests are not forwarded");
  if (Status s = input_rules::check_collection(collection); !s) return s;
  if (Status s = input_rules::check_record_id(record_id); !s) return s;
  auto queued = impl_->write("forward", [&]() -> Result<bool> {
    auto& store = *impl_->store;
    if (store.has_idempotency_key(idempotency_key)) return false;
    Mutation m = impl_->new_mutation(collection, record_id, op, op == MutationOp::kDelete ? nlohmann::json() : payload);
    m.attachments = attachments;
    store.insert_mutation(m);
    store.set_idempotency_key(m.id, idempotency_key);
    if (op == MutationOp::kDelete) store.insert_tombstone(Tombstone{collection, record_id, m.created_at_ms, m.id});
    impl_->recompute_view(collection, record_id);
    return true;
  });
  if (queued && *queued) impl_->notify_write();
  return queued;
}

}  // namespace offsync
