#include "engine/client/json_forms.h"

namespace offsync {

nlohmann::json to_json(const Mutation& m) {
  nlohmann::json out = {{"id", m.id},
                        {"op", mutation_op_name(m.op)},
                        {"payload", m.payload},
                        {"base", m.base_hlc ? nlohmann::json(*m.base_hlc) : nlohmann::json()},
                        {"attempts", m.attempts},
                        {"state", mutation_state_name(m.state)},
                        {"next_attempt_at_ms", m.next_attempt_at_ms},
                        {"created_at_ms", m.created_at_ms},
                        {"attachments", m.attachments}, {"urgent", m.urgent}};
  if (m.op == MutationOp::kRequest) {
    out["module"] = m.module;
    out["action"] = m.action;
    out["ordering_key"] = m.record_id;
  } else {
    out["collection"] = m.collection;
    out["record"] = m.record_id;
  }
  if (!m.last_error.empty()) out["last_error"] = m.last_error;
  if (!m.error_code.empty()) out["error_code"] = m.error_code;
  if (m.http_status != 0) out["http_status"] = m.http_status;
  if (m.idempotency_key != m.id) out["idempotency_key"] = m.idempotency_key;
  if (!m.server_record.is_null()) out["server"] = m.server_record;
  return out;
}

nlohmann::json to_json(const SyncReport& r) {
  return {{"reached", r.reached},     {"sent", r.sent},           {"applied", r.applied},
          {"rejected", r.rejected},   {"conflicts", r.conflicts}, {"transient", r.transient},
          {"pulled", r.pulled},       {"full_refresh", r.full_refresh}, {"paused", r.paused},
          {"pause_reason", r.pause_reason}, {"transient_left", r.transient_left},
          {"pull_complete", r.pull_complete}, {"pull_failure", r.pull_failure},
          {"attachments_uploaded", r.attachments_uploaded}, {"attachments_waiting", r.attachments_waiting}};
}

}  // namespace offsync
