#include "engine/server/mutation_request.h"

#include <algorithm>

#include "engine/common/crypto.h"
#include "engine/common/input_rules.h"
#include "engine/server/server_impl.h"
#include "offsync/hlc.h"
#include "offsync/ulid.h"

namespace offsync {

using nlohmann::json;

// Translates the deprecated v0 mutation shape (docs/protocol.md) into the current one.
bool translate_deprecated(json& body) {
  if (!body.is_object() || body.contains("op") || !body.contains("type") || !body.contains("record_id")) return false;
  json now = json::object();
  if (body.contains("mutation_id")) now["id"] = body["mutation_id"];
  now["op"] = body["type"];
  now["collection"] = body.value("collection", json());
  now["record"] = body["record_id"];
  if (body.contains("data")) now["fields"] = body["data"];
  if (body.contains("base_hlc")) now["base"] = body["base_hlc"];
  body = std::move(now);
  return true;
}

// Checks the shape of a mutation body; on success fills `out`. Errors are 400s with their codes.
std::optional<Answer> parse_mutation(json& body, IncomingMutation* out) {
  if (!body.is_object()) return error(400, "invalid_request", "a mutation must be a JSON object");
  if (auto id = body.find("id"); id != body.end() && !id->is_null()) {
    if (!id->is_string() || !Ulid::parse(id->get<std::string>())) {
      return error(400, "invalid_id", "\"id\" must be a ULID");
    }
  }
  auto collection = body.find("collection");
  if (collection == body.end() || !collection->is_string()) {
    return error(400, "invalid_collection", "\"collection\" must be a string");
  }
  out->collection = collection->get<std::string>();
  if (Status s = input_rules::check_collection(out->collection); !s) return error(400, "invalid_collection", s.message());
  auto record = body.find("record");
  if (record == body.end() || !record->is_string()) return error(400, "invalid_record", "\"record\" must be a string");
  out->record_id = record->get<std::string>();
  if (Status s = input_rules::check_record_id(out->record_id); !s) return error(400, "invalid_record", s.message());
  auto op = body.find("op");
  if (op == body.end() || !op->is_string()) return error(400, "invalid_op", "\"op\" must be upsert, patch or delete");
  if (*op == "upsert") {
    out->op = ServerOp::kUpsert;
  } else if (*op == "patch") {
    out->op = ServerOp::kPatch;
  } else if (*op == "delete") {
    out->op = ServerOp::kDelete;
  } else {
    return error(400, "invalid_op", "\"op\" must be upsert, patch or delete (got " + op->dump() + ")");
  }
  auto fields = body.find("fields");
  if (out->op != ServerOp::kDelete) {
    if (fields == body.end() || !fields->is_object()) {
      return error(400, "invalid_fields", "\"fields\" must be a JSON object for " + op->get<std::string>());
    }
    if (Status s = input_rules::check_fields_depth(*fields, "\"fields\""); !s) {
      return error(400, "fields_too_deep", s.message());
    }
    out->fields = std::move(*fields);
  }
  if (auto base = body.find("base"); base != body.end() && !base->is_null()) {
    if (!base->is_string() || !Hlc::parse(base->get<std::string>())) {
      return error(400, "invalid_base", "\"base\" must be null or an HLC the server issued");
    }
    out->base = base->get<std::string>();
  }
  if (auto att = body.find("attachments"); att != body.end() && !att->is_null()) {
    bool ok = att->is_array();
    for (const auto& a : *att) ok = ok && a.is_string();
    if (!ok) return error(400, "invalid_attachments", "\"attachments\" must be an array of attachment ids");
    out->attachments = *att;
  }
  if (auto at = body.find("client_generated_at"); at != body.end() && !at->is_null() && !at->is_string()) {
    return error(400, "invalid_client_generated_at", "\"client_generated_at\" must be an RFC 3339 string");
  }
  return std::nullopt;
}

// SHA-256 over method, path and the canonical body (nlohmann's dump sorts object keys), without
// "base": what the sender knew of the record is not part of what it asks for, and a mutation a
// relay forwards carries upstream's HLC there while the same mutation sent directly carries the
// relay's (docs/architecture.md, "The relay").
std::string fingerprint(const std::string& path, const std::optional<json>& body, const std::string& raw) {
  if (body && body->is_object() && body->contains("base")) {
    std::string text = "POST\n" + path + "\n{";  // body->dump() without the member (keys are sorted)
    for (const auto& [name, value] : body->items()) {
      if (name == "base") continue;
      if (text.back() != '{') text += ',';
      text += json(name).dump() + ":" + value.dump();
    }
    return hex(sha256(text + "}"));
  }
  return legacy_fingerprint(path, body, raw);
}

std::string legacy_fingerprint(const std::string& path, const std::optional<json>& body, const std::string& raw) {
  return hex(sha256("POST\n" + path + "\n" + (body ? body->dump() : raw)));
}

std::string sender_of(const HttpRequest& r) {
  auto id = r.headers.get("Offsync-Client-Id");
  if (!id) return "";
  auto ulid = Ulid::parse(*id);
  return ulid ? ulid->to_string() : "";
}

bool is_json_content(const HttpRequest& r) {
  auto type = r.headers.get("Content-Type");
  if (!type) return false;
  std::string t = type->substr(0, type->find(';'));
  while (!t.empty() && t.back() == ' ') t.pop_back();
  return iequals(t, "application/json");
}

// Inside the write transaction: apply one parsed mutation for the principal.
Answer Server::Impl::apply(const std::string& principal, const IncomingMutation& m, json* sender) {
  auto current = store->record(principal, m.collection, m.record_id);
  if (current && m.base && *m.base > current->hlc) {
    // A base this server never issued for the record would skip the escalate rule.
    return error(400, "invalid_base", "\"base\" " + *m.base + " is later than the record's HLC " + current->hlc);
  }
  if (m.attachments && !m.attachments->empty()) {
    std::vector<std::string> ids;
    for (const auto& id : *m.attachments) {
      std::string one = id.get<std::string>();
      // A relay keeps records it pulled, not their files: an attachment upstream's record listed
      // stays listable (upstream holds it) without the relay having a copy.
      if (relay && current && !current->deleted && current->attachments.is_array() &&
          std::find(current->attachments.begin(), current->attachments.end(), id) != current->attachments.end() &&
          !store->attachment(principal, one)) {
        continue;
      }
      ids.push_back(std::move(one));
    }
    auto missing = store->reference_attachments(principal, ids);
    if (!missing.empty()) {
      Answer refused = error(422, "attachment_missing",
                             "attachment " + missing.front() + " is not uploaded: POST /v1/attachments, PUT its bytes, "
                             "then send the mutation again with the same key");
      refused.replayable = false;
      return refused;
    }
  }
  int64_t now_ms = clock.now_ms();
  // The receive rule of a hybrid logical clock: this change comes after the record's last one,
  // whichever process made it (several server processes on one database each have a clock).
  if (current) {
    if (auto last = Hlc::parse(current->hlc)) hlc->observe(*last);
  }
  MergeResult result = merge_mutation(options.schema, current, m, hlc->now(), now_ms);
  if (result.kind == MergeResult::Kind::kApplied && !result.record->deleted) {
    if (auto v = options.validators.find(m.collection); v != options.validators.end()) {
      if (auto violation = v->second(result.record->fields)) {
        return error(422, violation->code, violation->message);
      }
    }
  }
  switch (result.kind) {
    case MergeResult::Kind::kApplied: {
      result.record->seq = store->next_seq();
      std::string fields_text = result.record->fields.dump();
      std::string field_hlc_text = result.record->field_hlc.dump();
      const json& attachments = result.record->attachments;
      std::string attachments_text = attachments.empty() ? "[]" : attachments.dump();
      store->put_record(principal, *result.record, fields_text, field_hlc_text, attachments_text);
      store->bump(storage::ServerStore::Counter::kMutationsApplied);
      if (sender) *sender = sender_view(current, m);
      return Answer{200, applied_body(record_text(*result.record, fields_text, field_hlc_text, attachments_text),
                                      result.record->hlc)};
    }
    case MergeResult::Kind::kUnchanged: {
      store->bump(storage::ServerStore::Counter::kMutationsApplied);
      if (!result.record) return Answer{200, applied_body("null", "")};
      return Answer{200, applied_body(record_json(*result.record).dump(), result.record->hlc)};
    }
    case MergeResult::Kind::kConflict: {
      json body = {{"error", {{"code", "conflict"}, {"message", result.message}}},
                   {"server", record_json(*result.record)}};
      return Answer{409, body.dump(), false, false, std::nullopt, "conflict"};
    }
    case MergeResult::Kind::kNotFound: return error(404, result.code, result.message, "not_found");
    case MergeResult::Kind::kInvalid: return error(422, result.code, result.message);
  }
  return error(500, "internal", "unhandled merge result", "transient");
}

}  // namespace offsync
