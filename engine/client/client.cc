#include "offsync/client.h"

#include <map>
#include <mutex>

#include "engine/client/client_impl.h"
#include "engine/common/input_rules.h"
#include "engine/client/server_record.h"
#include "engine/client/view.h"
#include "engine/common/json_patch.h"
#include "offsync/ulid.h"
#include "storage/client_store.h"

namespace offsync {

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

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() {
  impl_->live.reset();  // watched queries stop first: their runs use the Client
  impl_->stop_worker();
}

Result<std::unique_ptr<Client>> Client::open(ClientOptions options) {
  storage::DatabaseOptions db_options{options.path, options.durability, options.busy_timeout_ms,
                                      options.max_page_count};
  db_options.vfs = options.vfs;
  auto store = storage::ClientStore::open(db_options);
  if (!store) return store.status();
  auto impl = std::make_unique<Impl>(std::move(options), std::move(*store));
  Status ready = impl->write("open client store", [&]() -> Status {
    impl->store->requeue_in_flight();
    // New mutation ids sort after every one already here, whatever the clock did since.
    if (auto newest = impl->store->newest_mutation_id()) {
      if (auto parsed = Ulid::parse(*newest)) impl->ulids.observe(*parsed);
    }
    auto id = impl->store->meta("client_id");
    if (!id) {
      id = impl->next_id();
      impl->store->set_meta("client_id", *id);
    }
    impl->client_id = *id;
    return Status::ok();
  });
  if (!ready) return ready;
  Status indexed = impl->locked("build the declared indexes", [&] { return impl->store->apply_indexes(impl->options.indexes); });
  if (!indexed) return indexed;
  impl->token = impl->options.sync.token;
  impl->load_stored_token();
  if (impl->options.sync.transport && impl->options.sync.background) impl->start_worker();
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

const std::string& Client::client_id() const { return impl_->client_id; }

namespace {

// A write that lists attachments or is urgent is its own mutation: folding would merge lists.
bool plain(const WriteOptions& write) { return write.attachments.empty() && !write.urgent; }

Status check_write(const WriteOptions& write) {
  if (write.attachments.size() > 256) return Status::invalid_argument("a write lists at most 256 attachments");
  for (const auto& id : write.attachments) {
    if (Status s = input_rules::check_record_id(id); !s) return Status::invalid_argument("attachment id: " + s.message());
  }
  return Status::ok();
}

}  // namespace

Result<std::string> Client::put(const std::string& collection, const std::string& record_id,
                                const nlohmann::json& fields, const WriteOptions& write) {
  if (Status s = input_rules::check_collection(collection); !s) return s;
  if (Status s = input_rules::check_record_id(record_id); !s) return s;
  if (Status s = check_write(write); !s) return s;
  auto text = input_rules::check_payload(fields, impl_->options.max_payload_bytes, "payload");
  if (!text) return text.status();
  auto written = impl_->write("put", [&]() -> Result<std::string> {
    auto& store = *impl_->store;
    std::string id;
    auto last = store.last_mutation_of(collection, record_id);
    if (impl_->coalesces(collection) && plain(write) && last && unsent(*last) && last->op != MutationOp::kDelete) {
      // An upsert replaces the record whole: the unsent upsert or patch before it is superseded.
      store.update_mutation_payload(last->id, MutationOp::kUpsert, *text);
      id = last->id;
    } else {
      Mutation m = impl_->new_mutation(collection, record_id, MutationOp::kUpsert, fields);
      m.attachments = write.attachments;
      m.urgent = write.urgent;
      store.insert_mutation(m, &*text);
      id = m.id;
    }
    store.set_view_text(collection, record_id, *text);
    return id;
  });
  if (written) impl_->notify_write();
  return written;
}

Result<Client::Created> Client::create(const std::string& collection, const nlohmann::json& fields,
                                       const WriteOptions& write) {
  auto record_id = guarded("create", [&]() -> Result<std::string> { return impl_->next_id(); });
  if (!record_id) return record_id.status();
  auto mutation_id = put(collection, *record_id, fields, write);
  if (!mutation_id) return mutation_id.status();
  return Created{*record_id, *mutation_id};
}

Result<std::string> Client::patch(const std::string& collection, const std::string& record_id,
                                  const nlohmann::json& merge_patch, const WriteOptions& write) {
  if (Status s = input_rules::check_collection(collection); !s) return s;
  if (Status s = input_rules::check_record_id(record_id); !s) return s;
  if (Status s = check_write(write); !s) return s;
  auto text = input_rules::check_payload(merge_patch, impl_->options.max_payload_bytes, "patch");
  if (!text) return text.status();
  auto written = impl_->write("patch", [&]() -> Result<std::string> {
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
    if (impl_->coalesces(collection) && plain(write) && last && unsent(*last)) {
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
      m.attachments = write.attachments;
      m.urgent = write.urgent;
      store.insert_mutation(m, &*text);
      id = m.id;
    }
    store.set_view(collection, record_id, updated);
    return id;
  });
  if (written) impl_->notify_write();
  return written;
}

Result<std::string> Client::remove(const std::string& collection, const std::string& record_id) {
  if (Status s = input_rules::check_collection(collection); !s) return s;
  if (Status s = input_rules::check_record_id(record_id); !s) return s;
  auto written = impl_->write("remove", [&]() -> Result<std::string> {
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
  if (written) impl_->notify_write();
  return written;
}

Result<Record> Client::get(const std::string& collection, const std::string& record_id) {
  if (Status s = input_rules::check_collection(collection); !s) return s;
  if (Status s = input_rules::check_record_id(record_id); !s) return s;
  return impl_->locked("get", [&]() -> Result<Record> {
    auto fields = impl_->store->view(collection, record_id);
    if (!fields) return Status::not_found("no record " + collection + "/" + record_id);
    return Record{collection, record_id, std::move(*fields)};
  });
}

Result<std::vector<Record>> Client::list(const std::string& collection) {
  if (Status s = input_rules::check_collection(collection); !s) return s;
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
  if (Status s = input_rules::check_request(request, impl_->options.max_payload_bytes); !s) return s;
  nlohmann::json headers = nlohmann::json::array();
  for (const auto& [name, value] : request.headers) headers.push_back({name, value});
  nlohmann::json payload = {{"method", request.method}, {"url", request.url}, {"headers", headers},
                            {"body", request.body}};
  auto written = impl_->write("enqueue request", [&]() -> Result<std::string> {
    Mutation m = impl_->new_mutation("", request.ordering_key, MutationOp::kRequest, payload);
    if (m.record_id.empty()) m.record_id = m.id;  // independent: its own ordering key
    m.module = request.module;
    m.action = request.action;
    impl_->store->insert_mutation(m);
    return m.id;
  });
  if (written) impl_->notify_write();
  return written;
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
    impl_->store->mark_sending(m->id);
    return Status::ok();
  });
}

Status Client::acknowledge(const std::string& mutation_id, const nlohmann::json& server_record) {
  std::string text = server_record.dump();
  auto record = json_text::parse(text);
  if (!record) return Status::internal("a JSON value did not read back from its own dump");
  return impl_->write("acknowledge", [&]() -> Status {
    auto m = impl_->store->mutation(mutation_id);
    if (!m) return Status::not_found("no mutation " + mutation_id + " in the outbox");
    if (m->op == MutationOp::kRequest) {
      return Status::invalid_argument("mutation " + m->id + " is a REST request: use complete_request");
    }
    auto base = acknowledged_base(m->op, *record);
    if (!base) return base.status();
    impl_->store->raise_id_high_water(std::max(m->id, m->idempotency_key));
    impl_->acknowledge_locked(*m, *base ? &**base : nullptr);
    return Status::ok();
  });
}

bool Client::Impl::put_server_record_locked(const std::string& collection, const std::string& record_id,
                                            const storage::BaseText& base) {
  if (!base.hlc.empty() && store->base_hlc(collection, record_id) == base.hlc) return false;
  std::string attachments_before = store->base_attachments(collection, record_id);
  bool view_changed = false;
  store_base_and_view_locked(collection, record_id, base, &view_changed);
  return view_changed || (base.deleted ? attachments_before != "[]" : base.attachments != attachments_before);
}

bool Client::Impl::store_base_and_view_locked(const std::string& collection, const std::string& record_id,
                                              const storage::BaseText& base, bool* view_changed) {
  store->put_base_text(collection, record_id, base);
  auto pending = store->mutations_of(collection, record_id);
  bool changed;
  if (pending.empty()) {
    // The common case: the view is the base, as the server wrote it.
    changed = base.deleted ? store->set_view(collection, record_id, std::nullopt)
                           : store->set_view_text(collection, record_id, base.fields);
  } else {
    std::optional<nlohmann::json> fields;
    if (!base.deleted) fields = nlohmann::json::parse(base.fields);
    changed = store->set_view(collection, record_id, compute_view(std::move(fields), pending));
  }
  if (view_changed) *view_changed = changed;
  return !pending.empty();
}

bool Client::Impl::acknowledge_locked(const Mutation& m, const storage::BaseText* server_base, bool replayed) {
  storage::BaseText none;
  none.deleted = true;  // the server had no such record: nothing to remember but the delete
  const storage::BaseText& answered = server_base ? *server_base : none;
  // An answer carries the record as the server had it when it applied the mutation. A pull since
  // may have brought a later version (the answer was lost, the record changed, the retry got the
  // stored answer): that base stays, or the record would go back in time and, the cursor being
  // past its change, stay there.
  // A fresh answer is the newest state (the server's HLC only grows, across restarts too): only a
  // replayed one is compared.
  std::optional<storage::BaseText> newer =
      replayed ? newer_base_than(m.collection, m.record_id, answered.hlc) : std::nullopt;
  const storage::BaseText& base = newer ? *newer : answered;
  // The list the app saw: the mutation's own when it set one, else the base's.
  std::string shown_attachments =
      !m.attachments.empty() ? nlohmann::json(m.attachments).dump() : store->base_attachments(m.collection, m.record_id);
  store->delete_mutation(m.id, false);  // the caller keeps the high-water mark (raise_id_high_water)
  if (m.op == MutationOp::kDelete) store->delete_tombstone(m.id);
  // Not put_server_record_locked: even when a pull already brought this HLC, the mutation just
  // left the outbox and the view must be recomputed without it.
  bool view_changed = false;
  bool pending = store_base_and_view_locked(m.collection, m.record_id, base, &view_changed);
  // Later unsent edits of the record now start from the server's version.
  if (pending && !base.hlc.empty()) store->rebase_unsent(m.collection, m.record_id, base.hlc);
  return view_changed || (!base.deleted && base.attachments != shown_attachments);
}

Status Client::reject(const std::string& mutation_id, const std::string& message) {
  return impl_->write("reject", [&]() -> Status {
    auto m = impl_->store->mutation(mutation_id);
    if (!m) return Status::not_found("no mutation " + mutation_id + " in the outbox");
    impl_->reject_locked(*m, message);
    return Status::ok();
  });
}

void Client::Impl::reject_locked(const Mutation& m, const std::string& message) {
  store->update_mutation_state(m.id, MutationState::kRejected, m.attempts, m.next_attempt_at_ms, message);
  if (m.op != MutationOp::kRequest) recompute_view(m.collection, m.record_id);
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
  return impl_->complete(mutation_id, outcome);
}

Status Client::Impl::complete(const std::string& mutation_id, const RestOutcome& outcome) {
  std::string module, action;
  Status recorded = write("complete request", [&]() -> Status {
    auto m = store->mutation(mutation_id);
    if (!m) return Status::not_found("no mutation " + mutation_id + " in the outbox");
    if (m->op != MutationOp::kRequest) {
      return Status::invalid_argument("mutation " + mutation_id + " is not a REST request: use acknowledge");
    }
    RestOutcome stored = outcome;
    stored.mutation_id = m->id;
    stored.module = module = m->module;
    stored.action = action = m->action;
    stored.request = m->payload;
    store->insert_outcome(stored, clock.now_ms());
    store->delete_mutation(m->id);
    return Status::ok();
  });
  if (!recorded) return recorded;
  return deliver(module, action);
}

void Client::Impl::notify_write() {
  if (!options.sync.transport) return;
  {
    std::lock_guard<std::mutex> lock(state_mu);
    wake = true;
  }
  wake_cv.notify_all();
}

Status Client::resolve(const std::string& mutation_id, Resolution resolution, const nlohmann::json& edited) {
  std::optional<std::string> edited_text;
  if (resolution == Resolution::kEdited) {
    auto text = input_rules::check_payload(edited, impl_->options.max_payload_bytes, "edited record");
    if (!text) return text.status();
  }
  Status s = impl_->write("resolve", [&]() -> Status {
    auto m = impl_->store->mutation(mutation_id);
    if (!m) return Status::not_found("no mutation " + mutation_id + " in the outbox");
    if (m->state != MutationState::kConflict) {
      return Status::conflict("mutation " + mutation_id + " is " + std::string(mutation_state_name(m->state)) +
                              ", not in conflict");
    }
    std::optional<std::string> server_hlc;
    const nlohmann::json& server = m->server_record;
    if (server.is_object() && server.contains("hlc") && server["hlc"].is_string()) {
      server_hlc = server["hlc"].get<std::string>();
    }
    switch (resolution) {
      case Resolution::kTakeServer:
        impl_->store->delete_mutation(m->id);
        if (m->op == MutationOp::kDelete) impl_->store->delete_tombstone(m->id);
        break;
      case Resolution::kKeepMine:
        impl_->store->renew(m->id, impl_->next_id(), server_hlc, m->op, m->payload);
        break;
      case Resolution::kEdited:
        impl_->store->renew(m->id, impl_->next_id(), server_hlc, MutationOp::kUpsert, edited);
        break;
    }
    impl_->recompute_view(m->collection, m->record_id);
    return Status::ok();
  });
  if (s) sync_now();
  return s;
}

}  // namespace offsync
