#include "engine/client/server_record.h"

#include "engine/common/input_rules.h"

namespace offsync {
namespace {

struct Members {
  std::optional<std::string> collection, record_id, hlc, op;
  std::optional<json_text::Value> fields, field_hlc, attachments;
};

Members members_of(const json_text::Value& record) {
  Members m;
  json_text::for_each_member(record, [&](std::string_view key, const json_text::Value& v) {
    if (key == "collection") {
      m.collection = v.is_string() ? std::optional(json_text::string_of(v)) : std::nullopt;
    } else if (key == "record") {
      m.record_id = v.is_string() ? std::optional(json_text::string_of(v)) : std::nullopt;
    } else if (key == "hlc") {
      m.hlc = v.is_string() ? std::optional(json_text::string_of(v)) : std::nullopt;
    } else if (key == "op") {
      m.op = v.is_string() ? std::optional(json_text::string_of(v)) : std::nullopt;
    } else if (key == "fields") {
      m.fields = v;
    } else if (key == "field_hlc") {
      m.field_hlc = v;
    } else if (key == "attachments") {
      m.attachments = v;
    }
    return true;
  });
  return m;
}

storage::BaseText base_of(const Members& m, bool deleted) {
  storage::BaseText base;
  base.deleted = deleted;
  base.hlc = m.hlc.value_or("");
  if (!deleted && m.fields && m.fields->is_object()) base.fields = std::string(m.fields->text);
  if (m.field_hlc && m.field_hlc->is_object()) base.field_hlc = std::string(m.field_hlc->text);
  if (!deleted && m.attachments && m.attachments->is_array()) {
    // Kept only when every element is a valid id: an id names a row and a URL path segment here.
    bool valid = true;
    json_text::for_each_element(*m.attachments, [&](const json_text::Value& id) {
      valid = valid && id.is_string() && input_rules::check_record_id(json_text::string_of(id)).is_ok();
      return valid;
    });
    if (valid) base.attachments = std::string(m.attachments->text);
  }
  return base;
}

}  // namespace

std::optional<ServerRecord> read_server_record(const json_text::Value& record) {
  if (!record.is_object()) return std::nullopt;
  Members m = members_of(record);
  if (!m.collection || !m.record_id || !m.hlc) return std::nullopt;
  return ServerRecord{*m.collection, *m.record_id, base_of(m, m.op == "delete")};
}

Result<std::optional<storage::BaseText>> acknowledged_base(MutationOp op, const json_text::Value& record) {
  bool is_delete = op == MutationOp::kDelete;
  if (record.is_null() && is_delete) return std::optional<storage::BaseText>();
  if (!record.is_object()) return Status::invalid_argument("server record is not a JSON object");
  Members m = members_of(record);
  if (!m.hlc) return Status::invalid_argument("server record has no string \"hlc\"");
  is_delete = is_delete || m.op == "delete";
  if (!is_delete && (!m.fields || !m.fields->is_object())) {
    return Status::invalid_argument("server record has no object \"fields\"");
  }
  return std::optional(base_of(m, is_delete));
}

}  // namespace offsync
