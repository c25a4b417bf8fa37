// Client: the writes (put, create, patch, remove) and several of them as one local transaction.
#include "engine/client/client_impl.h"
#include "engine/common/input_rules.h"
#include "engine/common/json_patch.h"

namespace offsync {

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

// What every write checks before taking the store lock: names, options, payload size.
Result<std::string> checked(const std::string& collection, const std::string& record_id, const WriteOptions& write,
                            const nlohmann::json& payload, size_t max_bytes, const char* what) {
  if (Status s = input_rules::check_collection(collection); !s) return s;
  if (Status s = input_rules::check_record_id(record_id); !s) return s;
  if (Status s = check_write(write); !s) return s;
  return input_rules::check_payload(payload, max_bytes, what);
}

}  // namespace

std::string Client::Impl::insert_write(const std::string& collection, const std::string& record_id, MutationOp op,
                                       const nlohmann::json& payload, const std::string& text,
                                       const WriteOptions& write) {
  Mutation m = new_mutation(collection, record_id, op, payload);
  m.attachments = write.attachments;
  m.urgent = write.urgent;
  store->insert_mutation(m, &text);
  return m.id;
}

Result<std::string> Client::Impl::put_locked(const std::string& collection, const std::string& record_id,
                                             const nlohmann::json& fields, const std::string& text,
                                             const WriteOptions& write) {
  auto& db = *store;
  std::string id;
  auto last = db.last_mutation_of(collection, record_id);
  if (coalesces(collection) && plain(write) && last && unsent(*last) && last->op != MutationOp::kDelete) {
    // An upsert replaces the record whole: the unsent upsert or patch before it is superseded.
    db.update_mutation_payload(last->id, MutationOp::kUpsert, text);
    id = last->id;
  } else {
    id = insert_write(collection, record_id, MutationOp::kUpsert, fields, text, write);
  }
  db.set_view_text(collection, record_id, text);
  return id;
}

Result<std::string> Client::Impl::patch_locked(const std::string& collection, const std::string& record_id,
                                               const nlohmann::json& merge_patch, const std::string& text,
                                               const WriteOptions& write) {
  auto& db = *store;
  auto current = db.view(collection, record_id);
  if (!current) return Status::not_found("no record " + collection + "/" + record_id + " to patch");
  nlohmann::json updated = apply_merge_patch(*current, merge_patch);
  if (updated.dump().size() > options.max_payload_bytes) {
    return Status::invalid_argument("the patched record would exceed the limit of " +
                                    std::to_string(options.max_payload_bytes) + " bytes");
  }
  std::optional<std::string> folded_into;
  auto last = db.last_mutation_of(collection, record_id);
  if (coalesces(collection) && plain(write) && last && unsent(*last)) {
    if (last->op == MutationOp::kUpsert) {
      db.update_mutation_payload(last->id, MutationOp::kUpsert, apply_merge_patch(last->payload, merge_patch).dump());
      folded_into = last->id;
    } else if (last->op == MutationOp::kPatch) {
      if (auto composed = compose_merge_patches(last->payload, merge_patch)) {
        db.update_mutation_payload(last->id, MutationOp::kPatch, composed->dump());
        folded_into = last->id;
      }
    }
  }
  std::string id;
  if (folded_into) {
    id = *folded_into;
  } else {
    id = insert_write(collection, record_id, MutationOp::kPatch, merge_patch, text, write);
  }
  db.set_view(collection, record_id, updated);
  return id;
}

Result<std::string> Client::Impl::remove_locked(const std::string& collection, const std::string& record_id) {
  auto& db = *store;
  if (!db.view(collection, record_id)) {
    return Status::not_found("no record " + collection + "/" + record_id + " to remove");
  }
  bool server_may_know = false;
  if (auto base = db.base(collection, record_id); base && !base->deleted) server_may_know = true;
  for (const Mutation& m : db.mutations_of(collection, record_id)) {
    if (coalesces(collection) && unsent(m)) {
      // The delete supersedes every unsent write of the record.
      db.delete_mutation(m.id);
      if (m.op == MutationOp::kDelete) db.delete_tombstone(m.id);
    } else {
      server_may_know = true;  // sent (or kept): the server may hold its effect
    }
  }
  db.set_view(collection, record_id, std::nullopt);
  if (!server_may_know) return std::string();  // a create never sent, now cancelled: nothing to send
  Mutation m = new_mutation(collection, record_id, MutationOp::kDelete, nullptr);
  db.insert_mutation(m);
  db.insert_tombstone(Tombstone{collection, record_id, m.created_at_ms, m.id});
  return m.id;
}

Result<std::string> Client::put(const std::string& collection, const std::string& record_id,
                                const nlohmann::json& fields, const WriteOptions& write) {
  auto text = checked(collection, record_id, write, fields, impl_->options.max_payload_bytes, "payload");
  if (!text) return text.status();
  auto written = impl_->write("put", [&] { return impl_->put_locked(collection, record_id, fields, *text, write); });
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
  auto text = checked(collection, record_id, write, merge_patch, impl_->options.max_payload_bytes, "patch");
  if (!text) return text.status();
  auto written =
      impl_->write("patch", [&] { return impl_->patch_locked(collection, record_id, merge_patch, *text, write); });
  if (written) impl_->notify_write();
  return written;
}

Result<std::string> Client::remove(const std::string& collection, const std::string& record_id) {
  if (Status s = input_rules::check_collection(collection); !s) return s;
  if (Status s = input_rules::check_record_id(record_id); !s) return s;
  auto written = impl_->write("remove", [&] { return impl_->remove_locked(collection, record_id); });
  if (written) impl_->notify_write();
  return written;
}

// ---- Transactions ----

Result<std::string> Client::Transaction::put(const std::string& collection, const std::string& record_id,
                                             const nlohmann::json& fields, const WriteOptions& write) {
  auto text = checked(collection, record_id, write, fields, impl_->options.max_payload_bytes, "payload");
  if (!text) return text.status();
  return impl_->put_locked(collection, record_id, fields, *text, write);
}

Result<Client::Created> Client::Transaction::create(const std::string& collection, const nlohmann::json& fields,
                                                    const WriteOptions& write) {
  std::string record_id = impl_->next_id();
  auto mutation_id = put(collection, record_id, fields, write);
  if (!mutation_id) return mutation_id.status();
  return Created{record_id, *mutation_id};
}

Result<std::string> Client::Transaction::patch(const std::string& collection, const std::string& record_id,
                                               const nlohmann::json& merge_patch, const WriteOptions& write) {
  auto text = checked(collection, record_id, write, merge_patch, impl_->options.max_payload_bytes, "patch");
  if (!text) return text.status();
  return impl_->patch_locked(collection, record_id, merge_patch, *text, write);
}

Result<std::string> Client::Transaction::remove(const std::string& collection, const std::string& record_id) {
  if (Status s = input_rules::check_collection(collection); !s) return s;
  if (Status s = input_rules::check_record_id(record_id); !s) return s;
  return impl_->remove_locked(collection, record_id);
}

Result<Record> Client::Transaction::get(const std::string& collection, const std::string& record_id) {
  auto fields = impl_->store->view(collection, record_id);
  if (!fields) return Status::not_found("no record " + collection + "/" + record_id);
  return Record{collection, record_id, std::move(*fields)};
}

Status Client::transaction(const std::function<Status(Transaction&)>& body) {
  Status done = impl_->write("transaction", [&]() -> Status {
    Transaction tx(impl_.get());
    return body(tx);
  });
  if (done) impl_->notify_write();
  return done;
}

}  // namespace offsync
