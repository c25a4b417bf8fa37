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
      impl->store->raise_id_high_water(*newest);  // also repairs a mark the file held damaged
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
  Status indexed = impl->locked("build the declared indexes", [&]() -> Status {
    if (!impl->options.indexes) {
      impl->indexes = impl->store->declared_indexes();
      return Status::ok();
    }
    impl->indexes = *impl->options.indexes;
    return impl->store->apply_indexes(impl->indexes);
  });
  if (!indexed) return indexed;
  impl->token = impl->options.sync.token;
  impl->load_stored_token();
  if (impl->options.sync.transport && impl->options.sync.background) impl->start_worker();
  if (impl->options.sync.transport && !impl->options.sync.background && impl->options.sync.on_server_changes) {
    impl->start_watch();
  }
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

const std::string& Client::client_id() const { return impl_->client_id; }

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
  // Later unsent edits of the record now start from the server's version (rebase.cc).
  if (pending && !base.hlc.empty()) rebase_later_edits_locked(m.collection, m.record_id, answered.hlc, base);
  return view_changed || (!base.deleted && base.attachments != shown_attachments);
}

Status Client::reject(const std::string& mutation_id, const std::string& message, const std::string& error_code,
                      int http_status) {
  return impl_->write("reject", [&]() -> Status {
    auto m = impl_->store->mutation(mutation_id);
    if (!m) return Status::not_found("no mutation " + mutation_id + " in the outbox");
    impl_->reject_locked(*m, message, error_code, http_status);
    return Status::ok();
  });
}

void Client::Impl::reject_locked(const Mutation& m, const std::string& message, const std::string& error_code,
                                 int http_status) {
  store->update_mutation_state(m.id, MutationState::kRejected, m.attempts, m.next_attempt_at_ms, message);
  if (!error_code.empty() || http_status != 0) store->set_rejection(m.id, error_code, http_status);
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
