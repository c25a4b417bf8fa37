// The simulation's invariants (world.h): as it goes (no merge of an escalate field in conflict),
// healing, and after it (exactly once, nothing acknowledged lost, convergence).
#include <optional>

#include "sim/crash_vfs.h"
#include "sim/world.h"

namespace offsync::sim {

void World::check_conflicts(SimClient& c) {
  auto outbox = c.client->outbox();
  if (!outbox) return;
  std::optional<std::map<std::string, json>> server;
  for (const Mutation& m : *outbox) {
    if (m.state != MutationState::kConflict || m.collection != "tasks") continue;
    int of_record = 0;
    for (const Mutation& other : *outbox) of_record += other.record_id == m.record_id && other.collection == m.collection;
    if (of_record > 1) continue;
    if (!server) server = server_state(c.target == "relay" ? *relay_ : *server_);
    auto it = server->find(m.collection + "/" + m.record_id);
    auto seen = c.client->get(m.collection, m.record_id);
    json shown = seen ? seen->fields.value("status", json()) : json("(absent)");
    json held = it != server->end() ? it->second.value("status", json()) : json("(absent)");
    if (shown != held) {
      return fail("c" + std::to_string(c.index) + " merged an escalate field in conflict (" + m.id + "): shows " +
                  shown.dump() + ", the server has " + held.dump());
    }
  }
}

void World::heal() {
  note("HEALING: faults off, partitions healed, delayed requests delivered");
  network_.faults = false;
  network_.partitioned.clear();
  network_.flush_delayed(network_.delayed());
  for (auto& c : clients_) {
    CrashVfs::reset(c->dir);
  }
  // Rounds until one leaves nothing to do: every client pushes and pulls, the relay forwards
  // and pulls, the clients pull again (upstream's outcomes, the others' changes) and settle.
  bool quiet = false;
  for (int round = 0; round < 60 && outcome_.ok; ++round) {
    auto everyone = [&] {
      bool empty = true;
      for (auto& c : clients_) {
        now_ += 1000;
        c->clock.set(now_ + c->offset);
        sync(*c);
        settle(*c, true);
        auto outbox = c->client->outbox();
        if (!outbox) {
          fail("c" + std::to_string(c->index) + "'s outbox cannot be read: " + outbox.status().to_string());
          return false;
        }
        empty = empty && outbox->empty();
      }
      return empty;
    };
    everyone();
    run_relay();
    bool empty = everyone();
    // Done after a round that started with nothing pending anywhere: its pulls saw everything.
    if (empty && !relay_->has_upstream_work() && outcome_.ok) {
      if (quiet) return;
      quiet = true;
    } else {
      quiet = false;
    }
  }
  if (outcome_.ok) {
    fail(std::string("the outboxes did not drain to zero after healing") +
         (relay_->has_upstream_work() ? " (the relay still has mutations to forward)" : ""));
  }
}

std::map<std::string, json> World::server_state(Server& from) {
  std::map<std::string, json> live;
  std::string cursor;
  for (int page = 0; page < 1000; ++page) {
    HttpRequest r{.method = "GET", .target = "/v1/sync?limit=100" + (cursor.empty() ? "" : "&cursor=" + cursor)};
    HttpResponse answer = from.handle(r);
    json body = json::parse(answer.body, nullptr, false);
    if (answer.status != 200 || !body.is_object()) {
      fail("the server's change log cannot be read: " + answer.body);
      return live;
    }
    for (const auto& change : body["changes"]) {
      std::string key = change["collection"].get<std::string>() + "/" + change["record"].get<std::string>();
      if (change["op"] == "delete") {
        live.erase(key);
      } else {
        live[key] = change["fields"];
      }
    }
    cursor = body.value("cursor", "");
    if (!body.value("has_more", false)) break;
  }
  return live;
}

void World::check_final() {
  // Exactly one effect per mutation: no retry, duplicate or late delivery applied one twice.
  int64_t total = 0;
  for (const auto& [target, counts] : network_.applied) {
    for (const auto& [id, times] : counts) {
      if (target == "cloud") total += times;
      if (times > 1) return fail("mutation " + id + " was applied " + std::to_string(times) + " times by the " + target);
    }
  }
  auto& on_cloud = network_.applied["cloud"];
  auto stats = server_->stats();
  if (!stats) return fail("server stats: " + stats.status().to_string());
  // No write the API acknowledged is lost: each client's last write of each record was applied
  // (unless the user discarded it or took the server's side).
  for (auto& c : clients_) {
    for (const auto& [record, last] : c->last) {
      if (last.id.empty() || last.dropped) continue;
      if (on_cloud.count(last.key) == 0) {
        return fail("an acknowledged write was lost: " + last.what + " (mutation " + last.id + ", key " + last.key +
                    ") never reached the cloud" + (c->target == "relay" ? " through the relay" : ""));
      }
    }
  }
  // Every client's view is the server's state.
  std::map<std::string, json> server = server_state(*server_);
  if (!outcome_.ok) return;
  for (auto& c : clients_) {
    std::map<std::string, json> seen;
    for (const char* collection : {"notes", "tasks"}) {
      auto listed = c->client->list(collection);
      if (!listed) return fail("c" + std::to_string(c->index) + " list: " + listed.status().to_string());
      for (const Record& r : *listed) seen[std::string(collection) + "/" + r.id] = r.fields;
    }
    if (seen != server) {
      std::string diff;
      for (const auto& [k, v] : server) {
        auto it = seen.find(k);
        if (it == seen.end()) diff += " missing " + k + ";";
        else if (it->second != v) diff += " " + k + " shows " + it->second.dump() + " not " + v.dump() + ";";
      }
      for (const auto& [k, v] : seen) {
        if (!server.count(k)) diff += " " + k + " resurrected (the server has it deleted or never had it);";
      }
      return fail("c" + std::to_string(c->index) + (c->target == "relay" ? " (through the relay)" : "") +
                  " does not converge with the cloud:" + diff);
    }
  }
  check_requests();
  if (!outcome_.ok) return;
  check_attachments();
  if (!outcome_.ok) return;
  note("all invariants hold: " + std::to_string(total) + " mutations applied, " + std::to_string(server.size()) +
       " live records, " + std::to_string(stats->replays) + " replays");
}

void World::check_attachments() {
  // What the cloud lists for each live record (its change log, read to the end).
  std::map<std::string, json> listed;
  std::string cursor;
  for (int page = 0; page < 1000; ++page) {
    HttpRequest r{.method = "GET", .target = "/v1/sync?limit=100" + (cursor.empty() ? "" : "&cursor=" + cursor)};
    json body = json::parse(server_->handle(r).body, nullptr, false);
    if (!body.is_object()) return fail("the cloud's change log cannot be read");
    for (const auto& change : body["changes"]) {
      std::string key = change["collection"].get<std::string>() + "/" + change["record"].get<std::string>();
      if (change["op"] == "delete") {
        listed.erase(key);
      } else {
        listed[key] = change.value("attachments", json::array());
      }
    }
    cursor = body.value("cursor", "");
    if (!body.value("has_more", false)) break;
  }
  for (auto& c : clients_) {
    std::string who = "c" + std::to_string(c->index);
    for (const auto& [key, ids] : listed) {
      std::string collection = key.substr(0, key.find('/')), record = key.substr(key.find('/') + 1);
      auto seen = c->client->attachments_of(collection, record);
      if (!seen) return fail(who + " cannot list the attachments of " + key + ": " + seen.status().to_string());
      if (json(*seen) != ids) {
        return fail(who + " lists " + json(*seen).dump() + " as the attachments of " + key + ", the cloud " + ids.dump());
      }
      for (const std::string& id : *seen) {
        auto known = attachments_.find(id);
        if (known == attachments_.end()) return fail(key + " lists attachment " + id + ", which no app added");
        auto info = c->client->attachment(id);
        if (!info || info->state == AttachmentState::kRemote) {
          Status got = c->client->download_attachment(id);
          if (!got) return fail(who + " cannot download " + id + " of " + key + ": " + got.to_string());
        }
        auto bytes = c->client->read_attachment(id, 0, static_cast<int64_t>(known->second.size()));
        if (!bytes || *bytes != known->second) {
          return fail(who + " reads attachment " + id + " of " + key + " " +
                      (bytes ? "as other bytes (" + std::to_string(bytes->size()) + " of them)" : bytes.status().to_string()));
        }
      }
    }
  }
}

}  // namespace offsync::sim
