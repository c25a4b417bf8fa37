#include "cli/output.h"

#include <cstdio>

namespace offsync::cli {

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
