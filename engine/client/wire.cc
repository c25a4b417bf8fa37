#include "engine/client/wire.h"

#include <nlohmann/json.hpp>

#include "engine/common/input_rules.h"
#include "offsync/ulid.h"

namespace offsync::wire {

std::string mutation_body(const Mutation& m, const std::string& payload_text, bool with_key) {
  std::string out = "{";
  if (!m.attachments.empty()) out += "\"attachments\":" + nlohmann::json(m.attachments).dump() + ",";
  out += "\"base\":" + (m.base_hlc ? json_text::quoted(*m.base_hlc) : std::string("null"));
  out += ",\"collection\":";
  json_text::append_string(out, m.collection);
  if (m.op != MutationOp::kDelete) out += ",\"fields\":" + payload_text;
  // The key it is sent under (a ULID: nothing to escape): its id, or the key a relay forwards it
  // with or a resolution renewed it with, so that the same mutation has one fingerprint on every route.
  out += ",\"id\":\"" + (m.idempotency_key.empty() ? m.id : m.idempotency_key) + "\"";
  if (with_key) out += ",\"idempotency_key\":\"" + m.idempotency_key + "\"";
  out += ",\"op\":\"" + std::string(mutation_op_name(m.op)) + "\"";
  out += ",\"record\":";
  json_text::append_string(out, m.record_id);
  out += '}';
  return out;
}

namespace {

std::string error_member(const json_text::Value& body, std::string_view key) {
  auto error = json_text::member(body, "error");
  auto value = error ? json_text::member(*error, key) : std::nullopt;
  return value && value->is_string() ? json_text::string_of(*value) : "";
}

}  // namespace

std::string error_code_of(const json_text::Value& body) { return error_member(body, "code"); }

std::string error_message_of(const json_text::Value& body, int status) {
  std::string message = error_member(body, "message");
  if (message.size() > 1000) message = message.substr(0, 1000) + "...";  // shown to people, stored per mutation
  return message.empty() ? "HTTP " + std::to_string(status) : message;
}

Result<json_text::Value> applied_record(const json_text::Value& body) {
  if (!body.is_object()) return Status::transient("the answer is not a JSON object");
  auto status = json_text::member(body, "status");
  if (!status || !status->is_string() || json_text::string_of(*status) != "applied") {
    return Status::transient("the answer has no \"status\": \"applied\"");
  }
  auto record = json_text::member(body, "record");
  if (!record) return Status::transient("the answer has no \"record\"");
  return *record;
}

std::string cursor_query(std::string_view cursor) { return percent_encode(cursor); }

namespace {

std::string string_member(const json_text::Value& object, std::string_view key) {
  auto v = json_text::member(object, key);
  return v && v->is_string() ? json_text::string_of(*v) : "";
}

std::optional<RelayedOutcome> read_outcome(const json_text::Value& item) {
  if (!item.is_object()) return std::nullopt;
  RelayedOutcome o;
  o.mutation = string_member(item, "mutation");
  std::string state = string_member(item, "state");
  auto request = json_text::member(item, "request");
  if (!Ulid::parse(o.mutation) || (state != "rejected" && state != "conflict") || !request || !request->is_object()) {
    return std::nullopt;
  }
  o.mutation = Ulid::parse(o.mutation)->to_string();
  o.conflict = state == "conflict";
  if (auto error = json_text::member(item, "error"); error && error->is_object()) o.message = string_member(*error, "message");
  if (o.message.empty()) o.message = o.conflict ? "upstream has a conflicting change" : "upstream refused it";
  if (auto server = json_text::member(item, "server"); server && server->is_object()) o.server = json_text::to_json(*server);
  o.collection = string_member(*request, "collection");
  o.record_id = string_member(*request, "record");
  std::string op = string_member(*request, "op");
  if (!input_rules::check_collection(o.collection) || !input_rules::check_record_id(o.record_id)) return std::nullopt;
  if (op == "upsert") {
    o.op = MutationOp::kUpsert;
  } else if (op == "patch") {
    o.op = MutationOp::kPatch;
  } else if (op == "delete") {
    o.op = MutationOp::kDelete;
  } else {
    return std::nullopt;
  }
  auto fields = json_text::member(*request, "fields");
  if (o.op != MutationOp::kDelete) {
    if (!fields || !fields->is_object()) return std::nullopt;
    o.fields = json_text::to_json(*fields);
  }
  return o;
}

}  // namespace

Result<Page> read_page(const HttpResponse& answer) {
  json_text::Document document(answer.body);
  if (!document.valid()) return Status::transient("the sync page is " + document.problem().message());
  json_text::Value body = document.root();
  auto changes = json_text::member(body, "changes");
  auto cursor = json_text::member(body, "cursor");
  if (!changes || !changes->is_array()) return Status::transient("the sync page has no \"changes\" array");
  if (!cursor || !cursor->is_string()) return Status::transient("the sync page has no string \"cursor\"");
  Page page;
  page.cursor = json_text::string_of(*cursor);
  if (page.cursor.size() > kMaxCursorBytes) return Status::transient("the sync page's cursor is over 4 KiB");
  auto more = json_text::member(body, "has_more");
  page.has_more = more && more->kind == json_text::Kind::kTrue;
  json_text::for_each_element(*changes, [&](const json_text::Value& change) {
    ++page.count;
    if (auto record = read_server_record(change)) page.changes.push_back(std::move(*record));
    return true;
  });
  if (auto outcomes = json_text::member(body, "outcomes"); outcomes && outcomes->is_array()) {
    json_text::for_each_element(*outcomes, [&](const json_text::Value& item) {
      if (auto outcome = read_outcome(item)) page.outcomes.push_back(std::move(*outcome));
      return page.outcomes.size() < 10'000;
    });
  }
  return page;
}

}  // namespace offsync::wire
