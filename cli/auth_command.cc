#include "cli/auth_command.h"

#include <iostream>

#include "cli/output.h"
#include "cli/store_options.h"
#include "offsync/server.h"

namespace offsync::cli {

std::function<int()> add_auth_command(CLI::App& app) {
  struct AuthArgs {
    StoreArgs store;
    AuthorizationApproval approval;
    std::vector<std::string> redirect_uris;
    std::string principal;
    Credentials upstream;
    bool json = false;
  };
  auto a = std::make_shared<AuthArgs>();
  CLI::App* auth = app.add_subcommand("auth", "Offline OAuth (RFC 8252, PKCE S256): register clients, approve sign-ins");
  auth->require_subcommand(1);
  add_store_options(auth, a->store, "The server's SQLite store", false);
  auth->add_flag("--json", a->json, "Machine-readable output");
  CLI::App* approve = auth->add_subcommand("approve", "What a consent button calls: prints the redirect URI with the code");
  approve->add_option("--client-id", a->approval.client_id, "The registered client")->required();
  approve->add_option("--redirect-uri", a->approval.redirect_uri, "One of the client's registered redirect URIs")->required();
  approve->add_option("--code-challenge", a->approval.code_challenge, "BASE64URL(SHA-256(code_verifier))")->required();
  approve->add_option("--user", a->approval.user, "Who signs in: the principal the tokens act for")->required();
  approve->add_option("--state", a->approval.state, "Echoed in the redirect");
  approve->add_option("--ipc-service", a->approval.ipc_service, "Where the provider answers (unix:/path or a name)");
  CLI::App* reg = auth->add_subcommand("register-client", "Allow a client id and its redirect URIs");
  reg->add_option("--client-id", a->approval.client_id, "The client's id")->required();
  reg->add_option("--redirect-uri", a->redirect_uris, "A redirect URI it may use (repeat for several)")->required();
  CLI::App* upstream = auth->add_subcommand(
      "upstream", "A relay's upstream identity for one local user: the tokens its own sign-in to upstream gave");
  upstream->add_option("--user", a->principal, "The local user (principal); omitted: a relay without auth");
  upstream->add_option("--upstream-user", a->upstream.user, "Who the tokens act for upstream")->required();
  upstream->add_option("--access-token", a->upstream.access_token, "Upstream bearer token")->required();
  upstream->add_option("--refresh-token", a->upstream.refresh_token, "Redeemed upstream after a 401");
  for (CLI::App* sub : {approve, reg, upstream}) {
    sub->fallthrough();
    sub->add_flag("--json", a->json, "Machine-readable output");  // listed in each one's --help too
  }
  return [=]() -> int {
    if (!auth->parsed()) return -1;
    auto server = Server::open(a->store.server_options());
    if (!server) return fail(server.status());
    if (upstream->parsed()) {
      Status s = (*server)->set_upstream_credentials(a->principal, a->upstream);
      if (!s) return fail(s);
      if (a->json) {
        std::cout << nlohmann::json{{"user", a->principal}, {"upstream_user", a->upstream.user}}.dump() << "\n";
      } else {
        std::cout << "upstream identity of " << (a->principal.empty() ? "the shared partition" : a->principal)
                  << ": " << a->upstream.user << "\n";
      }
      return 0;
    }
    if (reg->parsed()) {
      Status s = (*server)->register_oauth_client({a->approval.client_id, a->redirect_uris});
      if (!s) return fail(s);
      if (a->json) {
        std::cout << nlohmann::json{{"client_id", a->approval.client_id}, {"redirect_uris", a->redirect_uris}}.dump()
                  << "\n";
      } else {
        std::cout << "registered " << a->approval.client_id << "\n";
      }
      return 0;
    }
    auto redirect = (*server)->approve_authorization(a->approval);
    if (!redirect) return fail(redirect.status());
    if (a->json) {
      std::cout << nlohmann::json{{"redirect_uri", *redirect}}.dump() << "\n";
    } else {
      std::cout << *redirect << "\n";
    }
    return 0;
  };
}

}  // namespace offsync::cli
