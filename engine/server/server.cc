#include "offsync/server.h"

#include <charconv>
#include <chrono>
#include <mutex>
#include <set>

#include "engine/common/input_rules.h"
#include "engine/common/crypto.h"
#include "engine/common/json_text.h"
#include "engine/server/cursor.h"
#include "engine/server/merge.h"
#include "engine/server/metrics.h"
#include "offsync/hlc.h"
#include "offsync/ulid.h"
#include "storage/server_store.h"

namespace offsync {

using nlohmann::json;
using storage::guarded;
using storage::ServerTransaction;

namespace {

constexpr const char* kMutationsPath = "/v1/mutations";
constexpr const char* kBatchPath = "/v1/mutations:batch";
constexpr const char* kSyncPath = "/v1/sync";
constexpr const char* kHealthPath = "/v1/health";
constexpr const char* kMetricsPath = "/metrics";
constexpr int64_t kSweepEveryMs = 3600 * 1000;

// An answer before it becomes an HttpResponse: status, JSON body and the protocol's extra headers.
struct Answer {
  int status = 200;
  std::string body;
  bool replayed = false;
  bool deprecated = false;
  std::optional<int> retry_after_s;
  std::string failure;  // metrics category when not applied
};

// The message may quote the request (a name, a record id): bytes that are not UTF-8 are replaced,
// so that the answer is always JSON.
std::string error_body(const std::string& code, const std::string& message) {
  return json{{"error", {{"code", code}, {"message", message}}}}.dump(-1, ' ', false, json::error_handler_t::replace);
}


Answer error(int status, const std::string& code, const std::string& message, std::string failure = "validation") {
  return Answer{status, error_body(code, message), false, false, std::nullopt, std::move(failure)};
}

// 400 for a body that is not JSON within the limits, with the precise code (json_text::Problem).
Answer unreadable(const json_text::Problem& problem) {
  return error(400, std::string(problem.code_name()), "the body is " + problem.message());
}

Answer unavailable(const std::string& message) {
  Answer a = error(503, "unavailable", message, "transient");
  a.retry_after_s = 1;
  return a;
}

// 409 request_in_progress: another request holds the same key; the client retries shortly.
Answer in_progress() {
  Answer a = error(409, "request_in_progress", "a request with this Idempotency-Key is still running",
                   "request_in_progress");
  a.retry_after_s = 1;
  return a;
}

// {"hlc", "record", "status": "applied"}, keys sorted as nlohmann writes them. An empty hlc is null.
std::string applied_body(const std::string& record_text, const std::string& hlc) {
  return "{\"hlc\":" + (hlc.empty() ? std::string("null") : json_text::quoted(hlc)) + ",\"record\":" + record_text +
         ",\"status\":\"applied\"}";
}

// Offsync-Outbox: "pending=3, oldest_age_s=540, rejected=1" (unknown keys and bad numbers ignored).
ServerMetrics::Telemetry telemetry_of(const HttpRequest& r) {
  ServerMetrics::Telemetry t;
  t.app_version = r.headers.get("Offsync-App-Version").value_or("");
  t.os_version = r.headers.get("Offsync-OS-Version").value_or("");
  std::string outbox = r.headers.get("Offsync-Outbox").value_or("");
  size_t pos = 0;
  while (pos < outbox.size()) {
    size_t comma = outbox.find(',', pos);
    std::string part = outbox.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? outbox.size() : comma + 1;
    size_t eq = part.find('=');
    if (eq == std::string::npos) continue;
    std::string key = part.substr(0, eq);
    key.erase(0, key.find_first_not_of(' '));
    int64_t value = 0;
    std::string text = part.substr(eq + 1);
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < 0) continue;
    if (key == "pending") t.pending = value;
    if (key == "oldest_age_s") t.oldest_age_s = value;
    if (key == "rejected") t.rejected = value;
  }
  return t;
}

std::string route_of(const std::string& path) {
  for (const char* route : {kMutationsPath, kBatchPath, kSyncPath, kHealthPath, kMetricsPath}) {
    if (path == route) return route;
  }
  return "other";
}

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

// SHA-256 over method, path and the canonical body (nlohmann's dump sorts object keys).
std::string fingerprint(const std::string& path, const std::optional<json>& body, const std::string& raw) {
  return hex(sha256("POST\n" + path + "\n" + (body ? body->dump() : raw)));
}

bool is_json_content(const HttpRequest& r) {
  auto type = r.headers.get("Content-Type");
  if (!type) return false;
  std::string t = type->substr(0, type->find(';'));
  while (!t.empty() && t.back() == ' ') t.pop_back();
  return iequals(t, "application/json");
}

}  // namespace

struct Server::Impl {
  ServerOptions options;
  const Clock& clock;
  RandomSource& random;
  std::unique_ptr<HlcClock> hlc;
  ServerMetrics metrics;

  std::mutex db_mu;
  std::unique_ptr<storage::ServerStore> store;  // GUARDED_BY(db_mu)
  int64_t last_sweep_ms = 0;                    // GUARDED_BY(db_mu)

  std::mutex keys_mu;
  std::set<std::pair<std::string, std::string>> in_flight;  // GUARDED_BY(keys_mu)

  Impl(ServerOptions o, std::unique_ptr<storage::ServerStore> s)
      : options(std::move(o)),
        clock(options.clock ? *options.clock : system_clock()),
        random(options.random ? *options.random : system_random()),
        store(std::move(s)) {}

  // Holds (principal, key) for one request; `held` is false when another request has it.
  struct KeyClaim {
    Impl* impl = nullptr;
    std::pair<std::string, std::string> key;
    bool held = false;
    KeyClaim(Impl* i, std::string principal, std::string k) : impl(i), key(std::move(principal), std::move(k)) {
      std::lock_guard<std::mutex> lock(impl->keys_mu);
      held = impl->in_flight.insert(key).second;
    }
    ~KeyClaim() {
      if (!held) return;
      std::lock_guard<std::mutex> lock(impl->keys_mu);
      impl->in_flight.erase(key);
    }
    KeyClaim(const KeyClaim&) = delete;
    KeyClaim& operator=(const KeyClaim&) = delete;
  };

  std::optional<Answer> gate(const HttpRequest& r) {
    std::optional<std::string> min = options.min_app_version ? options.min_app_version : options.schema.min_app_version();
    auto version = r.headers.get("Offsync-App-Version");
    if (!min || !version) return std::nullopt;  // a missing version is admitted
    auto cmp = compare_versions(*version, *min);
    if (!cmp) return error(400, "invalid_app_version", "Offsync-App-Version must be a dotted version like 1.4.2");
    if (*cmp < 0) {
      return error(426, "upgrade_required", "app version " + *version + " is below the minimum " + *min, "upgrade");
    }
    return std::nullopt;
  }

  std::optional<std::string> principal_of(const HttpRequest& r) {
    if (!options.authenticate) return std::string();
    return options.authenticate(r);
  }

  // Inside the write transaction: apply one parsed mutation for the principal.
  Answer apply(const std::string& principal, const IncomingMutation& m) {
    auto current = store->record(principal, m.collection, m.record_id);
    if (current && m.base && *m.base > current->hlc) {
      // A base this server never issued for the record would skip the escalate rule.
      return error(400, "invalid_base", "\"base\" " + *m.base + " is later than the record's HLC " + current->hlc);
    }
    int64_t now_ms = clock.now_ms();
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

  // Inside the write transaction: the idempotent wrapper around apply(). `body` is nullopt when
  // the raw body was not JSON; `problem` then says why.
  Answer process(const std::string& principal, const std::string& key, std::optional<json> body,
                 const std::string& raw, const json_text::Problem& problem) {
    int64_t now = clock.now_ms();
    bool deprecated = body && translate_deprecated(*body);
    std::string fp = fingerprint(kMutationsPath, body, raw);
    if (auto stored = store->answer(principal, key);
        stored && stored->created_at_ms >= now - options.idempotency_retention_ms) {
      if (stored->fingerprint != fp) {
        return error(422, "idempotency_key_reused",
                     "Idempotency-Key " + key + " was used before with a different request", "key_reused");
      }
      store->bump(storage::ServerStore::Counter::kReplays);
      Answer a{stored->status, stored->body, true, deprecated};
      if (stored->status == 409) a.failure = "conflict";
      return a;
    }
    Answer answer;
    IncomingMutation m;
    if (!body) {
      answer = unreadable(problem);
    } else if (auto bad = parse_mutation(*body, &m)) {
      answer = *bad;
    } else {
      answer = apply(principal, m);
    }
    answer.deprecated = deprecated;
    // Every answer but a server fault is stored with its effect: a retry gets it again.
    if (answer.status < 500) store->put_answer(principal, key, {fp, answer.status, answer.body, now});
    return answer;
  }

  void maybe_sweep() {
    int64_t now = clock.now_ms();
    if (now - last_sweep_ms < kSweepEveryMs) return;
    last_sweep_ms = now;
    store->sweep_answers(now - options.idempotency_retention_ms);
  }

  Answer single_mutation(const HttpRequest& r, const std::string& principal) {
    auto key = r.headers.get("Idempotency-Key");
    if (!key || key->empty()) {
      return error(400, "idempotency_key_missing", "POST /v1/mutations needs an Idempotency-Key header");
    }
    auto ulid = Ulid::parse(*key);
    if (!ulid) return error(400, "invalid_idempotency_key", "Idempotency-Key must be a ULID");
    // Crockford base32 is case-insensitive: the canonical text is the key (PROTOCOL.md).
    std::string canonical = ulid->to_string();
    // Read as the batch endpoint reads its items, so that both answer a body alike.
    json_text::Document document(r.body);
    std::optional<json> body;
    if (document.valid()) body = json_text::to_json(document.root());
    KeyClaim claim(this, principal, canonical);
    if (!claim.held) {
      return in_progress();
    }
    std::lock_guard<std::mutex> lock(db_mu);
    return guarded_answer([&] {
      maybe_sweep();
      ServerTransaction tx(*store);
      Answer a = process(principal, canonical, std::move(body), r.body, document.problem());
      tx.commit();
      return a;
    });
  }

  Answer batch(const HttpRequest& r, const std::string& principal) {
    // Read with json_text (faster than nlohmann's parser, and bounded), each item then made the
    // same tree nlohmann would make.
    json_text::Document document(r.body);
    if (!document.valid()) return unreadable(document.problem());
    std::optional<json_text::Value> list;  // the last "mutations" when repeated, as nlohmann reads it
    json_text::for_each_member(document.root(), [&](std::string_view key, const json_text::Value& v) {
      if (key == "mutations") list = v;
      return true;
    });
    if (!list || !list->is_array()) return error(400, "invalid_request", "a batch is {\"mutations\": [...]}");
    // The items as the trees nlohmann would make of them, stopping one past `limit`.
    auto read_items = [&](size_t limit) {
      std::vector<json> out;
      json_text::for_each_element(*list, [&](const json_text::Value& item) {
        out.push_back(json_text::to_json(item));
        return out.size() <= limit;
      });
      return out;
    };
    std::vector<json> items = read_items(options.max_batch_items);
    if (items.size() > options.max_batch_items) {
      return error(413, "batch_too_large",
                   "a batch holds at most " + std::to_string(options.max_batch_items) + " mutations");
    }
    std::vector<std::unique_ptr<KeyClaim>> claims;
    std::vector<Answer> answers(items.size());
    std::lock_guard<std::mutex> lock(db_mu);
    Answer failed = guarded_answer([&] {
      maybe_sweep();
      // The whole batch in one transaction, first without a savepoint per item: their journals
      // cost more than the items. A store fault rolls it all back, and the batch is applied again
      // with a savepoint per item, so that the fault undoes that item only (answered 503).
      try {
        ServerTransaction tx(*store);
        for (size_t i = 0; i < items.size(); ++i) {
          answers[i] = batch_item(principal, std::move(items[i]), claims, Atomicity::kWholeBatch);
        }
        tx.commit();
        return Answer{};
      } catch (const SQLite::Exception&) {
        // Applied again below, item by item; the keys claimed stay claimed by this batch.
      }
      items = read_items(SIZE_MAX);
      ServerTransaction tx(*store);
      for (size_t i = 0; i < items.size(); ++i) {
        answers[i] = batch_item(principal, std::move(items[i]), claims, Atomicity::kEachItem);
      }
      tx.commit();
      return Answer{};
    });
    if (failed.status >= 500) return failed;
    // Each item's body is already JSON text: splice it in rather than parse and dump it again.
    std::string results = "{\"results\":[";
    for (size_t i = 0; i < answers.size(); ++i) {
      const Answer& a = answers[i];
      count_outcome(kBatchPath, a);
      if (i > 0) results += ',';
      results += "{\"body\":" + a.body;
      if (a.deprecated) results += ",\"deprecated\":true";
      if (a.replayed) results += ",\"replayed\":true";
      results += ",\"status\":" + std::to_string(a.status) + "}";
    }
    results += "]}";
    return Answer{200, std::move(results)};
  }

  enum class Atomicity { kWholeBatch, kEachItem };

  // One batch item, answered as the single endpoint would. kEachItem makes it atomic on its own (a
  // savepoint); with kWholeBatch a store fault escapes and the caller undoes the whole batch.
  Answer batch_item(const std::string& principal, json item, std::vector<std::unique_ptr<KeyClaim>>& claims,
                    Atomicity atomicity) {
    if (!item.is_object()) return error(400, "invalid_request", "a batch item must be a JSON object");
    auto key_it = item.find("idempotency_key");
    if (key_it == item.end() || !key_it->is_string() || key_it->get<std::string>().empty()) {
      return error(400, "idempotency_key_missing", "every batch item needs an \"idempotency_key\"");
    }
    auto ulid = Ulid::parse(key_it->get<std::string>());
    if (!ulid) return error(400, "invalid_idempotency_key", "idempotency_key must be a ULID");
    std::string key = ulid->to_string();  // the canonical text is the key
    item.erase(key_it);
    auto claim = std::make_unique<KeyClaim>(this, principal, key);
    bool mine = claim->held;
    if (!mine) {
      // Held by this same batch (a repeated key) is fine: the stored answer replays. Held by another
      // request is not.
      for (const auto& c : claims) mine = mine || (c->key == claim->key);
    }
    if (!mine) {
      return in_progress();
    }
    claims.push_back(std::move(claim));
    if (atomicity == Atomicity::kWholeBatch) return process(principal, key, std::move(item), "", json_text::Problem{});
    // A savepoint makes the item atomic on its own: a store fault undoes this item only, which
    // then answers 503 (not stored), and the batch goes on.
    store->savepoint();
    try {
      Answer a = process(principal, key, std::move(item), "", json_text::Problem{});
      store->release_savepoint();
      return a;
    } catch (const SQLite::Exception& e) {
      store->rollback_to_savepoint();
      return unavailable(std::string("the store failed: ") + e.what());
    }
  }

  Answer sync(const HttpRequest& r, const std::string& principal) {
    int64_t limit = options.default_sync_limit;
    if (auto text = r.query("limit")) {
      try {
        size_t used = 0;
        limit = std::stoll(*text, &used);
        if (used != text->size() || limit < 1) throw std::invalid_argument("limit");
      } catch (const std::exception&) {
        return error(400, "invalid_limit", "limit must be a whole number from 1 to " + std::to_string(options.max_sync_limit));
      }
      limit = std::min(limit, options.max_sync_limit);
    }
    std::lock_guard<std::mutex> lock(db_mu);
    return guarded_answer([&]() -> Answer {
      CursorCodec codec = load_codec();
      int64_t after = 0;
      if (auto text = r.query("cursor"); text && !text->empty()) {
        CursorPosition pos;
        switch (codec.decode(*text, principal, &pos)) {
          case CursorCheck::kTampered: return error(400, "invalid_cursor", "the cursor is not one this server issued");
          case CursorCheck::kRetired:
            return error(410, "cursor_expired", "the cursor's encoding was retired: refresh fully", "cursor");
          case CursorCheck::kValid: break;
        }
        int64_t compacted = std::stoll(store->meta("compacted_seq").value_or("0"));
        if (pos.seq < compacted) {
          return error(410, "cursor_expired", "the change log was compacted past this cursor: refresh fully", "cursor");
        }
        after = pos.seq;
      }
      auto changes = store->changes_after_text(principal, after, limit + 1);
      bool has_more = static_cast<int64_t>(changes.size()) > limit;
      if (has_more) changes.pop_back();
      // The stored JSON members are spliced in as they are: a page is never parsed and re-dumped.
      std::string page = "{\"changes\":[";
      for (size_t i = 0; i < changes.size(); ++i) {
        if (i > 0) page += ',';
        const auto& c = changes[i];
        page += record_text(c.record, c.fields, c.field_hlc, c.attachments);
      }
      int64_t position = changes.empty() ? after : changes.back().record.seq;
      page += "],\"cursor\":" + json(codec.encode(position, principal)).dump() +
              ",\"has_more\":" + (has_more ? "true" : "false") + "}";
      return Answer{200, std::move(page)};
    });
  }

  // Cursor keys are read per request: `offsync admin rotate-cursor` may run in another process.
  CursorCodec load_codec() {
    std::map<uint32_t, std::string> secrets;
    std::map<uint32_t, bool> retired;
    uint32_t current = 0;
    for (const auto& k : store->cursor_keys()) {
      secrets[k.version] = k.secret;
      retired[k.version] = k.retired;
      current = std::max(current, k.version);
    }
    return CursorCodec(std::move(secrets), current, std::move(retired));
  }

  void add_cursor_key(uint32_t version) {
    std::string secret(32, '\0');
    random.fill(std::span<uint8_t>(reinterpret_cast<uint8_t*>(secret.data()), secret.size()));
    store->add_cursor_key({version, secret, false});
    store->retire_cursor_keys_below(version);
  }

  void count_outcome(const std::string& route, const Answer& a) {
    if (a.replayed) {
      metrics.count_replay(route);
    } else if (a.status == 200) {
      metrics.count_applied(route);
    } else if (!a.failure.empty()) {
      metrics.count_failure(route, a.failure);
    }
  }

  template <typename Fn>
  Answer guarded_answer(Fn&& fn) {
    try {
      return fn();
    } catch (const SQLite::Exception& e) {
      return unavailable(std::string("the store failed: ") + e.what());
    } catch (const std::exception& e) {
      return unavailable(std::string("internal error: ") + e.what());
    }
  }

  Answer dispatch(const HttpRequest& r, const std::string& route) {
    if (route == kHealthPath) {
      if (r.method != "GET") return error(405, "method_not_allowed", "use GET");
      return Answer{200, json{{"status", "ok"}, {"protocol", 1}, {"batch", true}, {"node", hlc->node()}}.dump()};
    }
    if (route == "other") return error(404, "not_found", "no endpoint " + r.method + " " + r.path(), "not_found");
    bool mutating = route == kMutationsPath || route == kBatchPath;
    if (mutating && r.method != "POST") return error(405, "method_not_allowed", "use POST");
    if (route == kSyncPath && r.method != "GET") return error(405, "method_not_allowed", "use GET");
    if (r.body.size() > options.max_body_bytes) {
      return error(413, "body_too_large", "the body is over " + std::to_string(options.max_body_bytes) + " bytes");
    }
    if (mutating && !is_json_content(r)) {
      return error(415, "unsupported_media_type", "send the body as Content-Type: application/json");
    }
    if (auto refused = gate(r)) return *refused;
    auto principal = principal_of(r);
    if (!principal) return error(401, "unauthenticated", "sign in: no valid bearer token", "auth");
    if (route == kMutationsPath) return single_mutation(r, *principal);
    if (route == kBatchPath) return batch(r, *principal);
    return sync(r, *principal);
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

Result<std::unique_ptr<Server>> Server::open(ServerOptions options) {
  auto store = storage::ServerStore::open({options.db_path, options.durability});
  if (!store) return store.status();
  auto impl = std::make_unique<Impl>(std::move(options), std::move(*store));
  Status ready = guarded("open server store", [&]() -> Status {
    ServerTransaction tx(*impl->store);
    std::string node = impl->options.node_id;
    if (node.empty()) {
      auto stored = impl->store->meta("node_id");
      if (!stored) {
        std::array<uint8_t, 4> bytes{};
        impl->random.fill(bytes);
        stored = hex(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
        impl->store->set_meta("node_id", *stored);
      }
      node = *stored;
    }
    impl->hlc = std::make_unique<HlcClock>(impl->clock, node);
    if (auto newest = impl->store->max_hlc()) {
      if (auto parsed = Hlc::parse(*newest)) impl->hlc->observe(*parsed);
    }
    if (impl->store->cursor_keys().empty()) impl->add_cursor_key(1);
    tx.commit();
    return Status::ok();
  });
  if (!ready) return ready;
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

HttpResponse Server::handle(const HttpRequest& request) {
  auto start = std::chrono::steady_clock::now();
  std::string route = route_of(request.path());
  HttpResponse response;
  if (route == kMetricsPath && request.method == "GET") {
    response.body = impl_->metrics.render();
    response.headers.set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  } else {
    Answer a;
    try {
      a = impl_->dispatch(request, route);
    } catch (const std::exception& e) {
      // Never crash on a request: whatever slipped through is a 500, and nothing was committed.
      a = error(500, "internal", std::string("internal error: ") + e.what(), "transient");
    }
    response.status = a.status;
    response.body = std::move(a.body);
    response.headers.set("Content-Type", "application/json");
    if (a.replayed) response.headers.set("Idempotent-Replayed", "true");
    if (a.deprecated) {
      response.headers.set("Deprecation", "@1767225600");  // 2026-01-01: when the v0 shape was deprecated
      response.headers.set("Sunset", impl_->options.sunset);
    }
    if (a.retry_after_s) response.headers.set("Retry-After", std::to_string(*a.retry_after_s));
    if (route == kMutationsPath || (route == kBatchPath && a.status != 200)) impl_->count_outcome(route, a);
  }
  if (route == kSyncPath) impl_->metrics.observe_sync(telemetry_of(request), response.status == 200);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  impl_->metrics.observe_request(route, response.status, seconds);
  return response;
}

Result<ServerStats> Server::stats() {
  std::lock_guard<std::mutex> lock(impl_->db_mu);
  return guarded("stats", [&]() -> Result<ServerStats> {
    auto c = impl_->store->counts();
    return ServerStats{c.mutations_applied, c.idempotency_keys, c.replays,       c.changes,
                       c.tombstones,        c.last_seq,         c.compacted_seq, impl_->load_codec().current_version()};
  });
}

Result<int64_t> Server::compact(int64_t before_ms) {
  std::lock_guard<std::mutex> lock(impl_->db_mu);
  return guarded("compact", [&]() -> Result<int64_t> {
    ServerTransaction tx(*impl_->store);
    auto purge = impl_->store->purge_tombstones(before_ms);
    int64_t compacted = std::stoll(impl_->store->meta("compacted_seq").value_or("0"));
    if (purge.max_seq > compacted) impl_->store->set_meta("compacted_seq", std::to_string(purge.max_seq));
    tx.commit();
    return purge.removed;
  });
}

Status Server::rotate_cursor() {
  std::lock_guard<std::mutex> lock(impl_->db_mu);
  return guarded("rotate cursor", [&]() -> Status {
    ServerTransaction tx(*impl_->store);
    impl_->add_cursor_key(impl_->load_codec().current_version() + 1);
    tx.commit();
    return Status::ok();
  });
}

Result<int64_t> Server::sweep_idempotency_keys() {
  std::lock_guard<std::mutex> lock(impl_->db_mu);
  return guarded("sweep", [&]() -> Result<int64_t> {
    impl_->last_sweep_ms = impl_->clock.now_ms();
    return impl_->store->sweep_answers(impl_->last_sweep_ms - impl_->options.idempotency_retention_ms);
  });
}

}  // namespace offsync
