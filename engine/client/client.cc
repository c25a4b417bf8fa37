#include "offsync/client.h"

#include <map>
#include <mutex>

#include "engine/client/input_rules.h"
#include "engine/client/view.h"
#include "engine/common/json_patch.h"
#include "offsync/ulid.h"
#include "storage/client_store.h"

namespace offsync {

using storage::guarded;
using storage::WriteTransaction;

std::string_view mutation_op_name(MutationOp op) {
  switch (op) {
    case MutationOp::kUpsert: return "upsert";
    case MutationOp::kPatch: return "patch";
    case MutationOp::kDelete: return "delete";
    case MutationOp::kRequest: return "request";
  }
  return "unknown";
}

std::string_view mutation_state_name(MutationState s) {
  switch (s) {
    case MutationState::kPending: return "pending";
    case MutationState::kInFlight: return "in_flight";
    case MutationState::kRejected: return "rejected";
    case MutationState::kConflict: return "conflict";
  }
  return "unknown";
}

namespace {

// Never sent: the only mutations coalescing may rewrite or drop.
bool unsent(const Mutation& m) { return m.attempts == 0 && m.state == MutationState::kPending; }

}  // namespace

struct Client::Impl {
  Impl(ClientOptions o, std::unique_ptr<storage::ClientStore> s)
      : options(std::move(o)),
        clock(options.clock ? *options.clock : system_clock()),
        random(options.random ? *options.random : system_random()),
        ulids(clock, random),
        store(std::move(s)) {}

  ClientOptions options;
  const Clock& clock;
  RandomSource& random;
  UlidGenerator ulids;
  std::string client_id;

  std::mutex mu;  // serialises every use of the store
  std::unique_ptr<storage::ClientStore> store;  // GUARDED_BY(mu)

  // Held while outcomes are handed to handlers, never together with `mu` while a handler runs,
  // so that a handler may call back into the Client.
  std::mutex delivery_mu;
  std::map<std::pair<std::string, std::string>, RestHandler> handlers;  // GUARDED_BY(delivery_mu)

  bool coalesces(const std::string& collection) const {
    return options.coalesce && !options.no_coalesce.contains(collection);
  }

  std::string next_id() {
    auto id = ulids.generate();
    if (!id) throw std::runtime_error(id.status().to_string());
    return id->to_string();
  }

  Mutation new_mutation(const std::string& collection, const std::string& record_id, MutationOp op,
                        nlohmann::json payload) {
    Mutation m;
    m.id = next_id();
    m.collection = collection;
    m.record_id = record_id;
    m.op = op;
    m.payload = std::move(payload);
    if (op != MutationOp::kRequest) {
      if (auto base = store->base(collection, record_id)) m.base_hlc = base->hlc;
    }
    m.created_at_ms = clock.now_ms();
    return m;
  }

  void recompute_view(const std::string& collection, const std::string& record_id) {
    std::optional<nlohmann::json> base_fields;
    if (auto base = store->base(collection, record_id); base && !base->deleted) base_fields = base->fields;
    store->set_view(collection, record_id, compute_view(std::move(base_fields), store->mutations_of(collection, record_id)));
  }

  // Hands every stored outcome of (module, action) to its handler, if it has one.
  Status deliver(const std::string& module, const std::string& action) {
    std::lock_guard<std::mutex> delivering(delivery_mu);
    auto it = handlers.find({module, action});
    if (it == handlers.end()) return Status::ok();
    auto outcomes = locked("read request outcomes", [&]() -> Result<std::vector<RestOutcome>> {
      return store->outcomes_for(module, action);
    });
    if (!outcomes) return outcomes.status();
    for (const RestOutcome& outcome : *outcomes) {
      try {
        it->second(outcome);
      } catch (const std::exception& e) {
        return Status::internal("the handler of " + module + "/" + action + " threw: " + e.what() +
                                "; the outcome stays stored");
      }
      Status forgotten = locked("forget a delivered outcome", [&]() -> Status {
        store->delete_outcome(outcome.mutation_id);
        return Status::ok();
      });
      if (!forgotten) return forgotten;
    }
    return Status::ok();
  }

  // Runs fn under the store lock with SQLite and JSON errors turned into a Status.
  template <typename Fn>
  auto locked(std::string_view what, Fn&& fn) -> decltype(fn()) {
    std::lock_guard<std::mutex> lock(mu);
    return guarded(what, std::forward<Fn>(fn));
  }

  // Runs fn in one write transaction under the store lock.
  template <typename Fn>
  auto write(std::string_view what, Fn&& fn) -> decltype(fn()) {
    return locked(what, [&]() -> decltype(fn()) {
      WriteTransaction tx(store->db());
      auto result = fn();
      if (result) tx.commit();
      return result;
    });
  }
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::open(ClientOptions options) {
  storage::DatabaseOptions db_options{options.path, options.durability, options.busy_timeout_ms,
                                      options.max_page_count};
  auto store = storage::ClientStore::open(db_options);
  if (!store) return store.status();
  auto impl = std::make_unique<Impl>(std::move(options), std::move(*store));
  Status ready = impl->write("open client store", [&]() -> Status {
    impl->store->requeue_in_flight();
    auto id = impl->store->meta("client_id");
    if (!id) {
      id = impl->next_id();
      impl->store->set_meta("client_id", *id);
    }
    impl->client_id = *id;
    return Status::ok();
  });
  if (!ready) return ready;
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

const std::string& Client::client_id() const { return impl_->client_id; }

Result<std::string> Client::put(const std::string& collection, const std::string& record_id,
                                const nlohmann::json& fields) {
  if (Status s = client_rules::check_collection(collection); !s) return s;
  if (Status s = client_rules::check_record_id(record_id); !s) return s;
  auto text = client_rules::check_payload(fields, impl_->options.max_payload_bytes, "payload");
  if (!text) return text.status();
  return impl_->write("put", [&]() -> Result<std::string> {
    auto& store = *impl_->store;
    std::string id;
    auto last = store.last_mutation_of(collection, record_id);
    if (impl_->coalesces(collection) && last && unsent(*last) && last->op != MutationOp::kDelete) {
      // An upsert replaces the record whole: the unsent upsert or patch before it is superseded.
      store.update_mutation_payload(last->id, MutationOp::kUpsert, *text);
      id = last->id;
    } else {
      Mutation m = impl_->new_mutation(collection, record_id, MutationOp::kUpsert, fields);
      store.insert_mutation(m, &*text);
      id = m.id;
    }
    store.set_view_text(collection, record_id, *text);
    return id;
  });
}

Result<Client::Created> Client::create(const std::string& collection, const nlohmann::json& fields) {
  auto record_id = guarded("create", [&]() -> Result<std::string> { return impl_->next_id(); });
  if (!record_id) return record_id.status();
  auto mutation_id = put(collection, *record_id, fields);
  if (!mutation_id) return mutation_id.status();
  return Created{*record_id, *mutation_id};
}

Result<std::string> Client::patch(const std::string& collection, const std::string& record_id,
                                  const nlohmann::json& merge_patch) {
  if (Status s = client_rules::check_collection(collection); !s) return s;
  if (Status s = client_rules::check_record_id(record_id); !s) return s;
  auto text = client_rules::check_payload(merge_patch, impl_->options.max_payload_bytes, "patch");
  if (!text) return text.status();
  return impl_->write("patch", [&]() -> Result<std::string> {
    auto& store = *impl_->store;
    auto current = store.view(collection, record_id);
    if (!current) return Status::not_found("no record " + collection + "/" + record_id + " to patch");
    nlohmann::json updated = apply_merge_patch(*current, merge_patch);
    if (updated.dump().size() > impl_->options.max_payload_bytes) {
      return Status::invalid_argument("the patched record would exceed the limit of " +
                                      std::to_string(impl_->options.max_payload_bytes) + " bytes");
    }
    std::optional<std::string> folded_into;
    auto last = store.last_mutation_of(collection, record_id);
    if (impl_->coalesces(collection) && last && unsent(*last)) {
      if (last->op == MutationOp::kUpsert) {
        store.update_mutation_payload(last->id, MutationOp::kUpsert, apply_merge_patch(last->payload, merge_patch).dump());
        folded_into = last->id;
      } else if (last->op == MutationOp::kPatch) {
        if (auto composed = compose_merge_patches(last->payload, merge_patch)) {
          store.update_mutation_payload(last->id, MutationOp::kPatch, composed->dump());
          folded_into = last->id;
        }
      }
    }
    std::string id;
    if (folded_into) {
      id = *folded_into;
    } else {
      Mutation m = impl_->new_mutation(collection, record_id, MutationOp::kPatch, merge_patch);
      store.insert_mutation(m, &*text);
      id = m.id;
    }
    store.set_view(collection, record_id, updated);
    return id;
  });
}

Result<std::string> Client::remove(const std::string& collection, const std::string& record_id) {
  if (Status s = client_rules::check_collection(collection); !s) return s;
  if (Status s = client_rules::check_record_id(record_id); !s) return s;
  return impl_->write("remove", [&]() -> Result<std::string> {
    auto& store = *impl_->store;
    if (!store.view(collection, record_id)) {
      return Status::not_found("no record " + collection + "/" + record_id + " to remove");
    }
    bool server_may_know = false;
    if (auto base = store.base(collection, record_id); base && !base->deleted) server_may_know = true;
    for (const Mutation& m : store.mutations_of(collection, record_id)) {
      if (impl_->coalesces(collection) && unsent(m)) {
        // The delete supersedes every unsent write of the record.
        store.delete_mutation(m.id);
        if (m.op == MutationOp::kDelete) store.delete_tombstone(m.id);
      } else {
        server_may_know = true;  // sent (or kept): the server may hold its effect
      }
    }
    store.set_view(collection, record_id, std::nullopt);
    if (!server_may_know) return std::string();  // a create never sent, now cancelled: nothing to send
    Mutation m = impl_->new_mutation(collection, record_id, MutationOp::kDelete, nullptr);
    store.insert_mutation(m);
    store.insert_tombstone(Tombstone{collection, record_id, m.created_at_ms, m.id});
    return m.id;
  });
}

Result<Record> Client::get(const std::string& collection, const std::string& record_id) {
  if (Status s = client_rules::check_collection(collection); !s) return s;
  if (Status s = client_rules::check_record_id(record_id); !s) return s;
  return impl_->locked("get", [&]() -> Result<Record> {
    auto fields = impl_->store->view(collection, record_id);
    if (!fields) return Status::not_found("no record " + collection + "/" + record_id);
    return Record{collection, record_id, std::move(*fields)};
  });
}

Result<std::vector<Record>> Client::list(const std::string& collection) {
  if (Status s = client_rules::check_collection(collection); !s) return s;
  return impl_->locked("list", [&]() -> Result<std::vector<Record>> { return impl_->store->list_view(collection); });
}

Result<std::vector<Mutation>> Client::outbox() {
  return impl_->locked("outbox", [&]() -> Result<std::vector<Mutation>> { return impl_->store->all_mutations(); });
}

Result<Mutation> Client::mutation(const std::string& mutation_id) {
  return impl_->locked("mutation", [&]() -> Result<Mutation> {
    auto m = impl_->store->mutation(mutation_id);
    if (!m) return Status::not_found("no mutation " + mutation_id + " in the outbox");
    return std::move(*m);
  });
}

Result<OutboxSummary> Client::summary() {
  return impl_->locked("summary", [&]() -> Result<OutboxSummary> { return impl_->store->summary(); });
}

Result<std::vector<Tombstone>> Client::tombstones() {
  return impl_->locked("tombstones", [&]() -> Result<std::vector<Tombstone>> { return impl_->store->tombstones(); });
}

Status Client::discard(const std::string& mutation_id) {
  return impl_->write("discard", [&]() -> Status {
    auto& store = *impl_->store;
    auto m = store.mutation(mutation_id);
    if (!m) return Status::not_found("no mutation " + mutation_id + " in the outbox");
    if (m->state == MutationState::kInFlight) {
      return Status::conflict("mutation " + mutation_id + " is being sent; discard it once its answer is in");
    }
    store.delete_mutation(m->id);
    if (m->op == MutationOp::kDelete) store.delete_tombstone(m->id);
    if (m->op != MutationOp::kRequest) impl_->recompute_view(m->collection, m->record_id);
    return Status::ok();
  });
}

Result<std::string> Client::enqueue_request(const RestRequest& request) {
  if (Status s = client_rules::check_request(request, impl_->options.max_payload_bytes); !s) return s;
  nlohmann::json headers = nlohmann::json::array();
  for (const auto& [name, value] : request.headers) headers.push_back({name, value});
  nlohmann::json payload = {{"method", request.method}, {"url", request.url}, {"headers", headers},
                            {"body", request.body}};
  return impl_->write("enqueue request", [&]() -> Result<std::string> {
    Mutation m = impl_->new_mutation("", request.ordering_key, MutationOp::kRequest, payload);
    if (m.record_id.empty()) m.record_id = m.id;  // independent: its own ordering key
    m.module = request.module;
    m.action = request.action;
    impl_->store->insert_mutation(m);
    return m.id;
  });
}

Status Client::register_handler(const std::string& module, const std::string& action, RestHandler handler) {
  if (!handler) return Status::invalid_argument("handler for " + module + "/" + action + " is empty");
  {
    std::lock_guard<std::mutex> delivering(impl_->delivery_mu);
    impl_->handlers[{module, action}] = std::move(handler);
  }
  return impl_->deliver(module, action);
}

Status Client::begin_send(const std::string& mutation_id) {
  return impl_->write("begin send", [&]() -> Status {
    auto m = impl_->store->mutation(mutation_id);
    if (!m) return Status::not_found("no mutation " + mutation_id + " in the outbox");
    if (m->state == MutationState::kRejected || m->state == MutationState::kConflict) {
      return Status::conflict("mutation " + mutation_id + " is " + std::string(mutation_state_name(m->state)));
    }
    impl_->store->update_mutation_state(m->id, MutationState::kInFlight, m->attempts + 1, m->next_attempt_at_ms, m->last_error);
    return Status::ok();
  });
}

Status Client::acknowledge(const std::string& mutation_id, const nlohmann::json& server_record) {
  return impl_->write("acknowledge", [&]() -> Status {
    auto& store = *impl_->store;
    auto m = store.mutation(mutation_id);
    if (!m) return Status::not_found("no mutation " + mutation_id + " in the outbox");
    if (m->op == MutationOp::kRequest) {
      return Status::invalid_argument("mutation " + mutation_id + " is a REST request: use complete_request");
    }
    storage::BaseRecord base;
    bool is_delete = m->op == MutationOp::kDelete;
    if (server_record.is_object()) {
      const auto hlc = server_record.find("hlc");
      const auto fields = server_record.find("fields");
      const auto op = server_record.find("op");
      if (hlc == server_record.end() || !hlc->is_string()) {
        return Status::invalid_argument("server record has no string \"hlc\"");
      }
      is_delete = is_delete || (op != server_record.end() && *op == "delete");
      if (!is_delete && (fields == server_record.end() || !fields->is_object())) {
        return Status::invalid_argument("server record has no object \"fields\"");
      }
      base.hlc = hlc->get<std::string>();
      base.fields = is_delete ? nlohmann::json::object() : *fields;
      base.field_hlc = server_record.value("field_hlc", nlohmann::json::object());
    } else if (is_delete && server_record.is_null()) {
      base.fields = nlohmann::json::object();  // the server had no such record: nothing to remember but the delete
      base.field_hlc = nlohmann::json::object();
    } else {
      return Status::invalid_argument("server record is not a JSON object");
    }
    base.deleted = is_delete;
    store.put_base(m->collection, m->record_id, base);
    store.delete_mutation(m->id);
    if (m->op == MutationOp::kDelete) store.delete_tombstone(m->id);
    if (!base.hlc.empty()) store.rebase_unsent(m->collection, m->record_id, base.hlc);
    impl_->recompute_view(m->collection, m->record_id);
    return Status::ok();
  });
}

Status Client::reject(const std::string& mutation_id, const std::string& message) {
  return impl_->write("reject", [&]() -> Status {
    auto m = impl_->store->mutation(mutation_id);
    if (!m) return Status::not_found("no mutation " + mutation_id + " in the outbox");
    impl_->store->update_mutation_state(m->id, MutationState::kRejected, m->attempts, m->next_attempt_at_ms, message);
    if (m->op != MutationOp::kRequest) impl_->recompute_view(m->collection, m->record_id);
    return Status::ok();
  });
}

Status Client::retry_later(const std::string& mutation_id, int64_t next_attempt_at_ms, const std::string& error) {
  return impl_->write("retry later", [&]() -> Status {
    auto m = impl_->store->mutation(mutation_id);
    if (!m) return Status::not_found("no mutation " + mutation_id + " in the outbox");
    impl_->store->update_mutation_state(m->id, MutationState::kPending, m->attempts, next_attempt_at_ms, error);
    return Status::ok();
  });
}

Status Client::complete_request(const std::string& mutation_id, const RestOutcome& outcome) {
  std::string module, action;
  Status recorded = impl_->write("complete request", [&]() -> Status {
    auto m = impl_->store->mutation(mutation_id);
    if (!m) return Status::not_found("no mutation " + mutation_id + " in the outbox");
    if (m->op != MutationOp::kRequest) {
      return Status::invalid_argument("mutation " + mutation_id + " is not a REST request: use acknowledge");
    }
    RestOutcome stored = outcome;
    stored.mutation_id = m->id;
    stored.module = module = m->module;
    stored.action = action = m->action;
    stored.request = m->payload;
    impl_->store->insert_outcome(stored, impl_->clock.now_ms());
    impl_->store->delete_mutation(m->id);
    return Status::ok();
  });
  if (!recorded) return recorded;
  return impl_->deliver(module, action);
}

}  // namespace offsync
