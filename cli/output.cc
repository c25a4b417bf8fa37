#include "cli/output.h"

#include <cstdio>

namespace offsync::cli {

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
  if (m.idempotency_key != m.id) out["idempotency_key"] = m.idempotency_key;
  if (!m.server_record.is_null()) out["server"] = m.server_record;
  return out;
}

nlohmann::json to_json(const Record& r) {
  return {{"collection", r.collection}, {"record", r.id}, {"fields", r.fields}};
}

nlohmann::json to_json(const OutboxSummary& s, int64_t now_ms) {
  nlohmann::json out = {{"pending", s.pending}, {"rejected", s.rejected}, {"conflicts", s.conflicts}};
  out["oldest_pending_age_s"] =
      s.oldest_pending_created_at_ms ? nlohmann::json((now_ms - *s.oldest_pending_created_at_ms) / 1000)
                                     : nlohmann::json();
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

std::string format_age(int64_t ms) {
  int64_t s = ms < 0 ? 0 : ms / 1000;
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "m " + std::to_string(s % 60) + "s";
  if (s < 86400) return std::to_string(s / 3600) + "h " + std::to_string(s / 60 % 60) + "m";
  return std::to_string(s / 86400) + "d " + std::to_string(s / 3600 % 24) + "h";
}

std::string describe(const Mutation& m) {
  std::string target = m.op == MutationOp::kRequest ? m.module + "/" + m.action + " " + m.payload.value("method", "") +
                                                          " " + m.payload.value("url", "")
                                                    : m.collection + "/" + m.record_id;
  std::string line = m.id + "  " + std::string(mutation_op_name(m.op)) + "  " + target + "  " +
                     std::string(mutation_state_name(m.state)) + "  attempts=" + std::to_string(m.attempts);
  if (!m.last_error.empty()) line += "  error: " + m.last_error;
  return line;
}

int fail(const Status& status) {
  std::fprintf(stderr, "offsync: %s\n", status.to_string().c_str());
  return 1;
}

}  // namespace offsync::cli
