// Several writes as one local transaction, waiting for the server, and what a rejection keeps.
#include <doctest/doctest.h>

#include <thread>

#include "offsync/client.h"
#include "offsync/server.h"
#include "server_support.h"
#include "support.h"
#include "sync_support.h"

using namespace offsync;
using namespace offsync::test;
using nlohmann::json;

TEST_CASE("a transaction's writes land together, or none of them does") {
  ScratchDir dir;
  auto client = open_client({.path = dir.file("c.db")});
  REQUIRE(client->put("accounts", "a", {{"balance", 10}}).is_ok());
  REQUIRE(client->put("accounts", "b", {{"balance", 0}}).is_ok());
  size_t outbox_before = client->outbox()->size();

  // A transfer that fails half-way leaves nothing behind: not the first write, not its mutation.
  Status failed = client->transaction([](Client::Transaction& tx) -> Status {
    auto a = tx.get("accounts", "a");
    if (!a) return a.status();
    int balance = a->fields["balance"];
    if (auto w = tx.patch("accounts", "a", {{"balance", balance - 15}}); !w) return w.status();
    if (balance < 15) return Status::conflict("insufficient funds");
    return Status::ok();
  });
  CHECK(failed.code() == StatusCode::kConflict);
  CHECK(client->get("accounts", "a")->fields["balance"] == 10);
  CHECK(client->outbox()->size() == outbox_before);

  // A write the transaction refuses (bad input) undoes the others too.
  Status bad = client->transaction([](Client::Transaction& tx) -> Status {
    if (auto w = tx.put("accounts", "c", {{"balance", 1}}); !w) return w.status();
    return tx.put("accounts", "", {{"balance", 1}}).status();
  });
  CHECK(bad.code() == StatusCode::kInvalidArgument);
  CHECK(client->get("accounts", "c").status().code() == StatusCode::kNotFound);

  // An exception thrown by the body: the same.
  Status thrown = client->transaction([](Client::Transaction& tx) -> Status {
    (void)tx.remove("accounts", "b");
    throw std::runtime_error("the app's own bug");
  });
  CHECK_FALSE(thrown.is_ok());
  CHECK(client->get("accounts", "b").is_ok());

  // And one that succeeds: both writes, a created record, their mutations, seen by get() inside.
  std::string created;
  Status ok = client->transaction([&](Client::Transaction& tx) -> Status {
    if (auto w = tx.patch("accounts", "a", {{"balance", 4}}); !w) return w.status();
    if (auto w = tx.patch("accounts", "b", {{"balance", 6}}); !w) return w.status();
    auto c = tx.create("transfers", {{"from", "a"}, {"to", "b"}, {"amount", 6}});
    if (!c) return c.status();
    created = c->record_id;
    CHECK(tx.get("accounts", "b")->fields["balance"] == 6);
    return Status::ok();
  });
  REQUIRE(ok.is_ok());
  CHECK(client->get("accounts", "a")->fields["balance"] == 4);
  CHECK(client->get("accounts", "b")->fields["balance"] == 6);
  CHECK(client->get("transfers", created).is_ok());
}

TEST_CASE("wait_until_synced returns once the writes reached the server, and says why not when they cannot") {
  ScratchDir dir;
  ServerOptions server_options{.db_path = dir.file("s.db")};
  server_options.validators["notes"] = refusing_forbidden_titles();
  auto server = open_server(std::move(server_options));
  auto transport = std::make_shared<ScriptedTransport>(server.get());
  ClientOptions options{.path = dir.file("c.db")};
  options.sync.transport = transport;
  options.sync.backoff_base_ms = 10;
  options.sync.backoff_cap_ms = 50;
  auto client = open_client(options);

  CHECK(client->wait_until_synced(1000).is_ok());  // nothing to wait for
  REQUIRE(client->put("notes", "a", {{"title", "algebra"}}).is_ok());
  REQUIRE(client->put("notes", "b", {{"title", "biology"}}).is_ok());
  REQUIRE(client->wait_until_synced(10'000).is_ok());
  CHECK(client->outbox()->empty());
  CHECK(server->stats()->mutations_applied == 2);

  // The network is down: the wait ends at its deadline, the write stays queued.
  transport->set_down(true);
  REQUIRE(client->put("notes", "c", {{"title", "chemistry"}}).is_ok());
  Status late = client->wait_until_synced(200);
  CHECK(late.code() == StatusCode::kDeadlineExceeded);
  CHECK(client->outbox()->size() == 1);
  // Back up while someone waits: the wait ends when the write is acknowledged.
  std::thread back([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    transport->set_down(false);
    client->sync_now();
  });
  CHECK(client->wait_until_synced(10'000).is_ok());
  back.join();

  // A rejected write: the wait says which, and the mutation keeps the server's code and status.
  REQUIRE(client->put("notes", "d", {{"title", "forbidden"}}).is_ok());
  Status refused = client->wait_until_synced(10'000);
  CHECK(refused.code() == StatusCode::kValidation);
  CHECK(refused.message().find("notes/d") != std::string::npos);
  auto outbox = client->outbox();
  REQUIRE(outbox->size() == 1);
  const Mutation& m = outbox->front();
  CHECK(m.state == MutationState::kRejected);
  CHECK(m.error_code == "bad_title");
  CHECK(m.http_status == 422);
  CHECK(m.last_error.find("not allowed") != std::string::npos);
  // Discarded, nothing is left to wait for.
  REQUIRE(client->discard(m.id).is_ok());
  CHECK(client->wait_until_synced(1000).is_ok());

  // Without a worker the wait cannot succeed: it says so at once.
  ClientOptions manual{.path = dir.file("m.db")};
  manual.sync.transport = transport;
  manual.sync.background = false;
  auto other = open_client(manual);
  REQUIRE(other->put("notes", "e", {{"title", "earth"}}).is_ok());
  CHECK(other->wait_until_synced(10'000).code() == StatusCode::kInvalidArgument);
}
