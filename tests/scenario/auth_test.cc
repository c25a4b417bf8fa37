// The client's side of offline OAuth: tokens kept in the store, refreshed by the worker after a 401,
// and a store bound to one user (two users on one device).
#include <doctest/doctest.h>

#include <fstream>
#include <iterator>

#include "engine/common/crypto.h"
#include "offsync/client.h"
#include "server_support.h"
#include "support.h"
#include "sync_support.h"

using nlohmann::json;
using namespace offsync;
using namespace offsync::test;

namespace {

constexpr const char* kRedirect = "org.example.math:/cb";
const std::string kVerifier(64, 'v');

struct Device {
  ScratchDir dir;
  ManualClock clock{1'800'000'000'000};
  std::unique_ptr<Server> server;
  std::shared_ptr<ScriptedTransport> transport;
  std::unique_ptr<Client> client;

  Device() {
    ServerOptions o{.db_path = dir.file("provider.db"), .clock = &clock};
    o.require_auth = true;
    server = open_server(std::move(o));
    REQUIRE(server->register_oauth_client({"org.example.math", {kRedirect}}).is_ok());
    transport = std::make_shared<ScriptedTransport>(server.get());
    ClientOptions c{.path = dir.file("math.db"), .clock = &clock};
    c.sync.transport = transport;
    c.sync.background = false;
    c.sync.oauth_client_id = "org.example.math";
    client = open_client(std::move(c));
  }

  // A full sign-in of `user` at the provider, as the consent screen and the token endpoint give it.
  Credentials sign_in_at_provider(const std::string& user) {
    auto redirect = server->approve_authorization(
        {"org.example.math", kRedirect, base64url_encode(sha256(kVerifier)), user, "", ""});
    REQUIRE(redirect.is_ok());
    HttpRequest cb{.method = "GET", .target = "/cb?" + redirect->substr(redirect->find('?') + 1)};
    HttpRequest r{.method = "POST", .target = "/oauth/token"};
    r.headers.set("Content-Type", "application/x-www-form-urlencoded");
    r.body = "grant_type=authorization_code&client_id=org.example.math&code=" + percent_encode(*cb.query("code")) +
             "&redirect_uri=" + percent_encode(kRedirect) + "&code_verifier=" + kVerifier;
    json tokens = body_of(server->handle(r));
    return {user, tokens["access_token"], tokens["refresh_token"]};
  }

  std::string files() {
    std::string all;
    for (const char* suffix : {"", "-wal"}) {
      std::ifstream in(dir.file("math.db") + suffix, std::ios::binary);
      all.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    return all;
  }
};

}  // namespace

TEST_CASE("the worker refreshes an expired access token after a 401 without the app's help") {
  Device d;
  REQUIRE(d.client->sign_in(d.sign_in_at_provider("alice")).is_ok());
  REQUIRE(d.client->put("notes", "n1", {{"v", 1}}).is_ok());
  REQUIRE(d.client->sync_once()->applied == 1);
  d.clock.advance(3601 * 1000);  // the access token expired
  REQUIRE(d.client->put("notes", "n2", {{"v", 2}}).is_ok());
  auto report = d.client->sync_once();
  REQUIRE(report.is_ok());
  CHECK_FALSE(report->paused);
  CHECK(report->applied == 1);
  CHECK(d.client->outbox()->empty());
  CHECK(d.server->stats()->mutations_applied == 2);
  // The refreshed tokens were kept: a new process of the app goes on with them.
  d.client.reset();
  ClientOptions c{.path = d.dir.file("math.db"), .clock = &d.clock};
  c.sync.transport = d.transport;
  c.sync.background = false;
  d.client = open_client(std::move(c));
  REQUIRE(d.client->put("notes", "n3", {{"v", 3}}).is_ok());
  CHECK(d.client->sync_once()->applied == 1);
}

TEST_CASE("a refused refresh pauses the queue, rejects nothing and says to sign in again") {
  Device d;
  REQUIRE(d.client->sign_in(d.sign_in_at_provider("alice")).is_ok());
  d.clock.advance(31LL * 24 * 3600 * 1000);  // past the refresh token too
  REQUIRE(d.client->put("notes", "n1", {{"v", 1}}).is_ok());
  auto report = d.client->sync_once();
  REQUIRE(report.is_ok());
  CHECK(report->paused);
  CHECK(report->pause_reason.find("sign in again") != std::string::npos);
  CHECK(d.client->sync_status().state == SyncState::kPaused);
  REQUIRE(d.client->outbox()->size() == 1);
  CHECK(d.client->outbox()->front().state == MutationState::kPending);
}

TEST_CASE("signing in as another user never sends the first one's pending work, and sign-out leaves no trace") {
  Device d;
  REQUIRE(d.client->sign_in(d.sign_in_at_provider("alice")).is_ok());
  REQUIRE(d.client->put("notes", "synced", {{"text", "alice-synced-marker"}}).is_ok());
  REQUIRE(d.client->sync_once()->applied == 1);
  REQUIRE(d.client->put("notes", "diary", {{"text", "alice-private-marker"}}).is_ok());  // not sent yet

  Status as_bob = d.client->sign_in(d.sign_in_at_provider("bob"));
  CHECK(as_bob.code() == StatusCode::kConflict);
  CHECK(as_bob.message().find("1 unsent mutation(s) of alice") != std::string::npos);
  CHECK(d.client->signed_in_user()->value_or("") == "alice");
  CHECK(d.server->stats()->mutations_applied == 1);

  auto discarded = d.client->sign_out();
  REQUIRE(discarded.is_ok());
  CHECK(*discarded == 1);
  CHECK(d.client->outbox()->empty());
  CHECK(d.client->list("notes")->empty());
  CHECK_FALSE(*d.client->signed_in_user());
  std::string files = d.files();
  CHECK(files.find("alice-private-marker") == std::string::npos);
  CHECK(files.find("alice-synced-marker") == std::string::npos);
  CHECK(files.find("alice") == std::string::npos);

  REQUIRE(d.client->sign_in(d.sign_in_at_provider("bob")).is_ok());
  REQUIRE(d.client->put("notes", "bobs", {{"text", "bob"}}).is_ok());
  auto report = d.client->sync_once();
  REQUIRE(report.is_ok());
  CHECK(report->applied == 1);
  // Bob's pull brings bob's partition only.
  CHECK(d.client->list("notes")->size() == 1);
  CHECK(d.server->stats()->mutations_applied == 2);
}

TEST_CASE("another user's synced data is wiped when they sign in on a store with nothing unsent") {
  Device d;
  REQUIRE(d.client->sign_in(d.sign_in_at_provider("alice")).is_ok());
  REQUIRE(d.client->put("notes", "a1", {{"text", "alice-only"}}).is_ok());
  REQUIRE(d.client->sync_once()->applied == 1);
  REQUIRE(d.client->sign_in(d.sign_in_at_provider("bob")).is_ok());
  CHECK(d.client->get("notes", "a1").status().code() == StatusCode::kNotFound);
  CHECK(d.files().find("alice-only") == std::string::npos);
}

TEST_CASE("a token endpoint answering garbage to the refresh is no token: the queue pauses, nothing is lost") {
  Device d;
  Credentials alice = d.sign_in_at_provider("alice");
  REQUIRE(d.client->sign_in(alice).is_ok());
  d.clock.advance(3601 * 1000);  // the access token expired
  d.transport->set_script([](const HttpRequest& r) -> std::optional<Result<HttpResponse>> {
    if (r.path() != "/oauth/token") return std::nullopt;
    HttpResponse portal;
    portal.headers.set("Content-Type", "text/html");
    portal.body = "<html>sign in to the Wi-Fi</html>";
    return portal;
  });
  REQUIRE(d.client->put("notes", "n1", {{"v", 1}}).is_ok());
  auto report = d.client->sync_once();
  REQUIRE(report.is_ok());
  CHECK(report->paused);
  CHECK(report->pause_reason.find("refresh was refused") != std::string::npos);
  REQUIRE(d.client->outbox()->size() == 1);
  CHECK(d.client->outbox()->front().state == MutationState::kPending);
  // The real endpoint again: the stored refresh token was not replaced by anything from the portal.
  d.transport->set_script(nullptr);
  auto healed = d.client->sync_once();
  REQUIRE(healed.is_ok());
  CHECK(healed->applied == 1);
  CHECK(d.client->outbox()->empty());
}
