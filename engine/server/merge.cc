#include "engine/server/merge.h"

#include "engine/common/json_patch.h"
#include "engine/common/json_text.h"

namespace offsync {
namespace {

using storage::StoredRecord;

MergeResult conflict(const StoredRecord& current, std::string message) {
  return {MergeResult::Kind::kConflict, current, "conflict", std::move(message)};
}

// Whether the server changed `field` after the client's base (null base: the server ever wrote it).
bool changed_since(const StoredRecord& current, const std::string& field, const std::optional<std::string>& base) {
  auto it = current.field_hlc.find(field);
  if (it == current.field_hlc.end() || !it->is_string()) return false;
  return !base || it->get<std::string>() > *base;
}

// The first escalate field this write would change although the server changed it after base.
std::optional<std::string> escalated_field(const CollectionSpec& spec, const StoredRecord& current,
                                           const nlohmann::json& next, const std::optional<std::string>& base) {
  for (const auto& [name, fs] : spec.fields) {
    if (fs.merge != MergePolicy::kEscalate) continue;
    auto before = current.fields.find(name);
    auto after = next.find(name);
    bool same = (before == current.fields.end() && after == next.end()) ||
                (before != current.fields.end() && after != next.end() && *before == *after);
    if (!same && changed_since(current, name, base)) return name;
  }
  return std::nullopt;
}

// The fields whose value or presence differs from `before` to `after` (set, replaced, removed).
std::vector<std::string> changed_fields(const nlohmann::json& before, const nlohmann::json& after) {
  std::vector<std::string> out;
  for (const auto& [k, v] : after.items()) {
    auto it = before.find(k);
    if (it == before.end() || *it != v) out.push_back(k);
  }
  for (const auto& [k, v] : before.items()) {
    if (!after.contains(k)) out.push_back(k);
  }
  return out;
}

// Per-field HLCs after a write from `before` to `after`: every changed field gets `hlc`; removed
// fields keep an entry, so that a removal also counts as a change.
nlohmann::json next_field_hlc(const nlohmann::json& old_hlc, const nlohmann::json& before, const nlohmann::json& after,
                              const std::string& hlc) {
  nlohmann::json out = old_hlc.is_object() ? old_hlc : nlohmann::json::object();
  for (const auto& k : changed_fields(before, after)) out[k] = hlc;
  return out;
}

}  // namespace

nlohmann::json sender_view(const std::optional<StoredRecord>& current, const IncomingMutation& m) {
  nlohmann::json unseen = nlohmann::json::array(), seen = nlohmann::json::object();
  const nlohmann::json none = nlohmann::json::object();
  bool live = current && !current->deleted;
  const nlohmann::json& before = live ? current->fields : none;
  nlohmann::json next = m.op == ServerOp::kDelete  ? nlohmann::json::object()
                        : m.op == ServerOp::kPatch ? apply_merge_patch(before, m.fields)
                                                   : m.fields;
  for (const auto& name : changed_fields(before, next)) {
    auto was = before.find(name);
    if (live && changed_since(*current, name, m.base)) {
      unseen.push_back(name);
    } else {
      seen[name] = was == before.end() ? nlohmann::json::array() : nlohmann::json::array({*was});
    }
  }
  return {{"unseen", std::move(unseen)}, {"seen", std::move(seen)}};
}

nlohmann::json record_json(const StoredRecord& r) {
  return {{"collection", r.collection}, {"record", r.record_id}, {"op", r.deleted ? "delete" : "upsert"},
          {"fields", r.fields},         {"hlc", r.hlc},          {"field_hlc", r.field_hlc},
          {"attachments", r.attachments}};
}

std::string record_text(const StoredRecord& r, const std::string& fields_text, const std::string& field_hlc_text,
                        const std::string& attachments_text) {
  // Keys in the order nlohmann's dump writes them (sorted), so both forms read alike.
  std::string out = "{\"attachments\":" + attachments_text;
  out += ",\"collection\":";
  json_text::append_string(out, r.collection);
  out += ",\"field_hlc\":" + field_hlc_text;
  out += ",\"fields\":" + fields_text;
  out += ",\"hlc\":";
  json_text::append_string(out, r.hlc);
  out += r.deleted ? ",\"op\":\"delete\"" : ",\"op\":\"upsert\"";
  out += ",\"record\":";
  json_text::append_string(out, r.record_id);
  out += '}';
  return out;
}

MergeResult merge_mutation(const Schema& schema, const std::optional<StoredRecord>& current,
                           const IncomingMutation& m, const Hlc& now, int64_t now_ms) {
  const CollectionSpec* spec = schema.collection(m.collection);
  if (!spec) {
    return {MergeResult::Kind::kInvalid, std::nullopt, "unknown_collection",
            "the schema has no collection \"" + m.collection + "\""};
  }
  const std::string hlc = now.to_string();
  bool live = current && !current->deleted;

  if (m.op == ServerOp::kDelete) {
    if (!live) return {MergeResult::Kind::kUnchanged, current, "", ""};
    if (spec->on_delete == DeleteRule::kUpdateWins && (!m.base || current->hlc > *m.base)) {
      return conflict(*current, "the record changed on the server since the delete's base (rule update_wins)");
    }
    StoredRecord next = *current;
    next.field_hlc = next_field_hlc(current->field_hlc, current->fields, nlohmann::json::object(), hlc);
    next.fields = nlohmann::json::object();
    next.deleted = true;
    next.hlc = hlc;
    next.changed_at_ms = now_ms;
    return {MergeResult::Kind::kApplied, std::move(next), "", ""};
  }

  nlohmann::json fields;
  if (m.op == ServerOp::kPatch) {
    if (!current) {
      return {MergeResult::Kind::kNotFound, std::nullopt, "not_found",
              "no record " + m.collection + "/" + m.record_id + " to patch"};
    }
    if (current->deleted) return conflict(*current, "the record was deleted on the server");
    fields = apply_merge_patch(current->fields, m.fields);
  } else {
    fields = m.fields;  // an upsert replaces the whole record, and recreates a deleted one
  }

  if (live) {
    if (auto field = escalated_field(*spec, *current, fields, m.base)) {
      return conflict(*current, "field \"" + *field + "\" changed on the server since the client's base");
    }
  }
  if (auto violation = schema.check(m.collection, fields)) {
    return {MergeResult::Kind::kInvalid, std::nullopt, violation->code, violation->message};
  }

  StoredRecord next;
  next.collection = m.collection;
  next.record_id = m.record_id;
  nlohmann::json before = live ? current->fields : nlohmann::json::object();
  next.field_hlc = next_field_hlc(current ? current->field_hlc : nlohmann::json::object(), before, fields, hlc);
  next.fields = std::move(fields);
  next.hlc = hlc;
  next.deleted = false;
  if (m.attachments) {
    next.attachments = *m.attachments;
  } else if (m.op == ServerOp::kPatch) {
    next.attachments = current->attachments;
  }
  next.changed_at_ms = now_ms;
  return {MergeResult::Kind::kApplied, std::move(next), "", ""};
}

}  // namespace offsync
