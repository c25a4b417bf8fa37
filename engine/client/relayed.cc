// Outcomes a relay passes on (docs/protocol.md, "Relays"): upstream refused, or conflicted on, a
// mutation that the relay had accepted from this client. The client shows it exactly as if upstream
// had answered it directly: rejected with the message, or in conflict with the server's record, so
// that discard and resolve work as usual.
#include "engine/client/client_impl.h"
#include "engine/client/wire.h"

namespace offsync {

std::optional<Mutation> Client::Impl::reinstate_locked(const wire::RelayedOutcome& o) {
  auto existing = store->mutation(o.mutation);
  if (!existing) {
    // The relay's 200 removed it from the outbox: it comes back, frozen (it was sent), in its
    // place in its record's order (its id is its original ULID).
    Mutation m;
    m.id = o.mutation;
    m.collection = o.collection;
    m.record_id = o.record_id;
    m.op = o.op;
    m.payload = o.op == MutationOp::kDelete ? nlohmann::json() : o.fields;
    m.attempts = 1;
    m.created_at_ms = clock.now_ms();
    store->insert_mutation(m);
    existing = store->mutation(o.mutation);
    if (!existing) return std::nullopt;
  } else if (existing->state == MutationState::kRejected || existing->state == MutationState::kConflict) {
    return std::nullopt;  // told before (a page read twice)
  }
  if (o.conflict) {
    store->set_conflict(existing->id, o.message, o.server);
  } else {
    store->update_mutation_state(existing->id, MutationState::kRejected, std::max(existing->attempts, 1), 0, o.message);
  }
  recompute_view(existing->collection, existing->record_id);
  return store->mutation(existing->id);
}

}  // namespace offsync
