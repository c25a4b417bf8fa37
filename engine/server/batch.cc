// POST /v1/mutations:batch: each item answered exactly as the single endpoint would answer it, all
// in one transaction, or item by item with savepoints after a store fault.
#include "engine/server/mutation_request.h"
#include "engine/server/server_impl.h"
#include "offsync/ulid.h"

namespace offsync {

using nlohmann::json;
using storage::ServerTransaction;

Answer Server::Impl::batch(const HttpRequest& r, const std::string& principal) {
  // Read with json_text (faster than nlohmann's parser, and bounded), each item then made the
  // same tree nlohmann would make.
  json_text::Document document(r.body);
  if (!document.valid()) return unreadable(document.problem());
  const std::string sender = sender_of(r);
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
  // The items' keys, claimed across processes with the transaction (ServerTransaction); those
  // another process is running answer 409.
  std::vector<std::string> keys;
  for (const auto& item : items) {
    if (auto key = item_key(item)) keys.push_back(std::move(*key));
  }
  std::set<std::string> held;
  auto claimed_transaction = [&] {
    auto tx = std::make_unique<ServerTransaction>(*store, principal, keys);
    held.clear();
    for (size_t i : tx->held_elsewhere()) held.insert(keys.at(i));
    return tx;
  };
  std::vector<std::unique_ptr<KeyClaim>> claims;
  std::vector<Answer> answers(items.size());
  std::lock_guard<std::mutex> lock(db_mu);
  Answer failed = guarded_answer([&] {
    maybe_sweep();
    // The whole batch in one transaction, first without a savepoint per item: their journals
    // cost more than the items. A store fault rolls it all back, and the batch is applied again
    // with a savepoint per item, so that the fault undoes that item only (answered 503).
    try {
      auto tx = claimed_transaction();
      for (size_t i = 0; i < items.size(); ++i) {
        answers[i] = batch_item(principal, sender, std::move(items[i]), held, claims, Atomicity::kWholeBatch);
      }
      tx->commit();
      return Answer{};
    } catch (const std::exception& e) {
      if (!storage::is_store_failure(e)) throw;
      // Applied again below, item by item; the keys claimed stay claimed by this batch.
    }
    items = read_items(SIZE_MAX);
    auto tx = claimed_transaction();
    for (size_t i = 0; i < items.size(); ++i) {
      answers[i] = batch_item(principal, sender, std::move(items[i]), held, claims, Atomicity::kEachItem);
    }
    tx->commit();
    return Answer{};
  });
  if (failed.status >= 500) return failed;
  changed(principal);  // devices waiting on the partition look again (an empty look costs a query)
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

// One batch item, answered as the single endpoint would. kEachItem makes it atomic on its own (a
// savepoint); with kWholeBatch a store fault escapes and the caller undoes the whole batch.
std::optional<std::string> Server::Impl::item_key(const json& item) {
  if (!item.is_object()) return std::nullopt;
  auto key_it = item.find("idempotency_key");
  if (key_it == item.end() || !key_it->is_string()) return std::nullopt;
  auto ulid = Ulid::parse(key_it->get<std::string>());
  if (!ulid) return std::nullopt;
  return ulid->to_string();  // the canonical text is the key
}

Answer Server::Impl::batch_item(const std::string& principal, const std::string& sender, json item,
                                const std::set<std::string>& held_elsewhere,
                                std::vector<std::unique_ptr<KeyClaim>>& claims, Atomicity atomicity) {
  if (!item.is_object()) return error(400, "invalid_request", "a batch item must be a JSON object");
  auto key_it = item.find("idempotency_key");
  if (key_it == item.end() || !key_it->is_string() || key_it->get<std::string>().empty()) {
    return error(400, "idempotency_key_missing", "every batch item needs an \"idempotency_key\"");
  }
  auto canonical = item_key(item);
  if (!canonical) return error(400, "invalid_idempotency_key", "idempotency_key must be a ULID");
  std::string key = std::move(*canonical);
  item.erase(key_it);
  if (held_elsewhere.count(key) != 0) return in_progress();
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
  if (atomicity == Atomicity::kWholeBatch) return process(principal, key, std::move(item), "", json_text::Problem{}, sender);
  // A savepoint makes the item atomic on its own: a store fault undoes this item only, which
  // then answers 503 (not stored), and the batch goes on.
  store->savepoint();
  try {
    Answer a = process(principal, key, std::move(item), "", json_text::Problem{}, sender);
    store->release_savepoint();
    return a;
  } catch (const std::exception& e) {
    if (!storage::is_store_failure(e)) throw;
    store->rollback_to_savepoint();
    return unavailable(std::string("the store failed: ") + e.what());
  }
}

}  // namespace offsync
