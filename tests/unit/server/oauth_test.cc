// Offline OAuth for native apps: the code flow with PKCE S256, refresh rotation, bearer tokens, and
// every refusal RFC 6749, 7636 and 8252 ask for.
#include <doctest/doctest.h>

#include "engine/common/crypto.h"
#include "server_support.h"
#include "support.h"

using nlohmann::json;
using namespace offsync;
using namespace offsync::test;

namespace {

constexpr const char* kRedirect = "org.example.math:/oauth/callback";
const std::string kVerifier = "dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXk-and-some-more";

std::string challenge_of(const std::string& verifier) { return base64url_encode(sha256(verifier)); }

struct Provider {
  ScratchDir dir;
  ManualClock clock{1'800'000'000'000};
  std::unique_ptr<Server> server;

  Provider() {
    ServerOptions o{.db_path = dir.file("s.db"), .clock = &clock};
    o.require_auth = true;
    server = open_server(std::move(o));
    REQUIRE(server->register_oauth_client({"org.example.math", {kRedirect}}).is_ok());
  }

  // The code from an approved sign-in of `user`.
  std::string code_for(const std::string& user, const std::string& verifier = kVerifier) {
    auto redirect = server->approve_authorization(
        {"org.example.math", kRedirect, challenge_of(verifier), user, "xyz", "unix:/run/user/1000/lms.sock"});
    REQUIRE_MESSAGE(redirect.is_ok(), redirect.status().to_string());
    HttpRequest r{.method = "GET", .target = "/cb?" + redirect->substr(redirect->find('?') + 1)};
    CHECK(r.query("state") == "xyz");
    CHECK(r.query("ipc-service") == "unix:/run/user/1000/lms.sock");
    return *r.query("code");
  }

  HttpResponse token(const std::string& form) {
    HttpRequest r{.method = "POST", .target = "/oauth/token", .body = form};
    r.headers.set("Content-Type", "application/x-www-form-urlencoded");
    return server->handle(r);
  }

  HttpResponse redeem(const std::string& code, const std::string& verifier = kVerifier,
                      const std::string& redirect = kRedirect) {
    return token("grant_type=authorization_code&client_id=org.example.math&code=" + percent_encode(code) +
                 "&redirect_uri=" + percent_encode(redirect) + "&code_verifier=" + percent_encode(verifier));
  }

  HttpResponse refresh(const std::string& refresh_token) {
    return token("grant_type=refresh_token&client_id=org.example.math&refresh_token=" + percent_encode(refresh_token));
  }

  HttpResponse with_token(HttpRequest r, const std::string& access) {
    r.headers.set("Authorization", "Bearer " + access);
    return server->handle(r);
  }
};

std::string oauth_error(const HttpResponse& r) { return body_of(r).value("error", ""); }

json note(const std::string& record, const json& fields) {
  return {{"collection", "notes"}, {"record", record}, {"op", "upsert"}, {"fields", fields}};
}

}  // namespace

TEST_CASE("the code flow with PKCE gives tokens that act for the user who approved, and only for that user") {
  Provider p;
  HttpRequest authorize{.method = "GET",
                        .target = "/oauth/authorize?response_type=code&client_id=org.example.math&redirect_uri=" +
                                  percent_encode(kRedirect) + "&code_challenge=" + challenge_of(kVerifier) +
                                  "&code_challenge_method=S256&state=xyz"};
  auto shown = p.server->handle(authorize);
  CHECK(shown.status == 200);
  CHECK(body_of(shown)["client_id"] == "org.example.math");

  auto issued = p.redeem(p.code_for("alice"));
  REQUIRE(issued.status == 200);
  json tokens = body_of(issued);
  CHECK(tokens["token_type"] == "Bearer");
  CHECK(tokens["expires_in"] == 3600);
  CHECK(issued.headers.get("Cache-Control") == "no-store");
  std::string alice = tokens["access_token"];

  CHECK(p.server->handle(post_mutation(note("a1", {{"by", "nobody"}}), new_key())).status == 401);
  CHECK(p.with_token(post_mutation(note("a1", {{"by", "alice"}}), new_key()), alice).status == 200);
  CHECK(p.server->handle(HttpRequest{.method = "GET", .target = "/metrics"}).status == 401);
  CHECK(p.with_token(HttpRequest{.method = "GET", .target = "/metrics"}, alice).status == 200);
  CHECK(p.server->handle(HttpRequest{.method = "GET", .target = "/v1/health"}).status == 200);

  std::string bob = body_of(p.redeem(p.code_for("bob")))["access_token"];
  json bobs_view = body_of(p.with_token(get_sync(), bob));
  CHECK(bobs_view["changes"].empty());  // alice's record is not bob's to see
  json alices_view = body_of(p.with_token(get_sync(), alice));
  CHECK(alices_view["changes"].size() == 1);

  p.clock.advance(3601 * 1000);  // the access token expired
  CHECK(p.with_token(get_sync(), alice).status == 401);
}

TEST_CASE("refresh tokens rotate, and one used twice revokes its whole family") {
  Provider p;
  json first = body_of(p.redeem(p.code_for("alice")));
  auto rotated = p.refresh(first["refresh_token"]);
  REQUIRE(rotated.status == 200);
  json second = body_of(rotated);
  CHECK(second["refresh_token"] != first["refresh_token"]);
  CHECK(p.with_token(get_sync(), second["access_token"]).status == 200);
  // The first refresh token again: a copy is in someone else's hands.
  auto replayed = p.refresh(first["refresh_token"]);
  CHECK(replayed.status == 400);
  CHECK(oauth_error(replayed) == "invalid_grant");
  CHECK(p.with_token(get_sync(), second["access_token"]).status == 401);
  CHECK(p.refresh(second["refresh_token"]).status == 400);
}

TEST_CASE("codes are refused for a wrong verifier, a second use, expiry and a mismatched redirect") {
  Provider p;
  std::string code = p.code_for("alice");
  CHECK(oauth_error(p.redeem(code, kVerifier + "x")) == "invalid_grant");
  CHECK(oauth_error(p.redeem(code, kVerifier, "org.example.math:/other")) == "invalid_grant");
  auto good = p.redeem(code);
  REQUIRE(good.status == 200);
  auto again = p.redeem(code);
  CHECK(again.status == 400);
  CHECK(oauth_error(again) == "invalid_grant");
  // The second use revoked what the first issued (RFC 6749 §4.1.2).
  CHECK(p.with_token(get_sync(), body_of(good)["access_token"]).status == 401);

  std::string late = p.code_for("alice");
  p.clock.advance(61 * 1000);
  CHECK(oauth_error(p.redeem(late)) == "invalid_grant");

  auto unknown_client = p.token("grant_type=authorization_code&client_id=evil&code=x&redirect_uri=x&code_verifier=x");
  CHECK(unknown_client.status == 401);
  CHECK(oauth_error(unknown_client) == "invalid_client");
  CHECK(oauth_error(p.token("grant_type=password&client_id=org.example.math")) == "unsupported_grant_type");
  HttpRequest json_body{.method = "POST", .target = "/oauth/token", .body = "{}"};
  json_body.headers.set("Content-Type", "application/json");
  CHECK(oauth_error(p.server->handle(json_body)) == "invalid_request");
}

TEST_CASE("authorize refuses plain PKCE by redirect, and never redirects to an unregistered URI") {
  Provider p;
  auto ask = [&](const std::string& query) {
    return p.server->handle(HttpRequest{.method = "GET", .target = "/oauth/authorize?" + query});
  };
  std::string base = "response_type=code&client_id=org.example.math&redirect_uri=" + percent_encode(kRedirect) + "&state=s1";
  auto plain = ask(base + "&code_challenge=" + challenge_of(kVerifier) + "&code_challenge_method=plain");
  CHECK(plain.status == 302);
  std::string location = plain.headers.get("Location").value_or("");
  CHECK(location.rfind(std::string(kRedirect) + "?error=invalid_request", 0) == 0);
  CHECK(location.find("state=s1") != std::string::npos);

  auto elsewhere = ask("response_type=code&client_id=org.example.math&redirect_uri=https%3A%2F%2Fevil.example%2F"
                       "&code_challenge_method=S256&code_challenge=" + challenge_of(kVerifier));
  CHECK(elsewhere.status == 400);
  CHECK_FALSE(elsewhere.headers.get("Location"));
  CHECK(ask("response_type=code&client_id=nobody&redirect_uri=x").status == 400);

  CHECK_FALSE(p.server->approve_authorization({"org.example.math", "https://evil.example/", challenge_of(kVerifier), "alice", "", ""}).is_ok());
  CHECK_FALSE(p.server->approve_authorization({"org.example.math", kRedirect, "short", "alice", "", ""}).is_ok());
  CHECK_FALSE(p.server->approve_authorization({"org.example.math", kRedirect, challenge_of(kVerifier), "", "", ""}).is_ok());
}
