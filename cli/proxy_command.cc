#include "cli/proxy_command.h"

#include <iostream>

#include "cli/output.h"
#include "cli/stop_signals.h"
#include "offsync/proxy.h"
#include "transport/host_port.h"

namespace offsync::cli {

std::function<int()> add_proxy_command(CLI::App& app) {
  struct ProxyArgs {
    std::string ipc_service, listen = "127.0.0.1:0", secret;
    bool json = false;
  };
  auto a = std::make_shared<ProxyArgs>();
  CLI::App* cmd = app.add_subcommand("proxy", "Forward HTTP on a loopback port to an IPC service (per-launch secret)");
  cmd->add_option("--ipc-service", a->ipc_service, "unix:/path.sock or a registered service name")->required();
  cmd->add_option("--listen", a->listen, "Loopback HOST:PORT (port 0: any free port; both printed)");
  cmd->add_option("--secret", a->secret, "The secret requests must carry (default: a random one, printed)");
  cmd->add_flag("--json", a->json, "Print the first line as JSON: {\"url\", \"ipc_service\", \"secret\"}");
  return [cmd, a]() -> int {
    if (!cmd->parsed()) return -1;
    auto where = split_host_port(a->listen, "--listen");
    if (!where) return fail(where.status());
    ProxyOptions options{.ipc_service = a->ipc_service, .host = where->first, .port = where->second, .secret = a->secret};
    block_stop_signals();  // before the proxy starts its threads
    auto proxy = LocalProxy::start(std::move(options));
    if (!proxy) return fail(proxy.status());
    // One line a launcher reads: where, and the secret to send as Authorization: Bearer.
    if (a->json) {
      std::cout << nlohmann::json{{"url", (*proxy)->url()}, {"ipc_service", a->ipc_service}, {"secret", (*proxy)->secret()}}
                       .dump()
                << std::endl;
    } else {
      std::cout << "offsync: proxying " << (*proxy)->url() << " to " << a->ipc_service << " with secret "
                << (*proxy)->secret() << std::endl;
    }
    return run_until_stopped([&] { (*proxy)->run(); }, [&] { (*proxy)->stop(); });
  };
}

}  // namespace offsync::cli
