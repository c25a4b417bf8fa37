// offsync/ipc.h — reaching a provider app over local IPC (docs/protocol.md, "IPC"; docs/recipe-ipc.md).
//
// An `ipc-service` address is `unix:/absolute/path.sock`, or a service name resolved through the
// activation registry: a directory ($OFFSYNC_SERVICES_DIR, else $XDG_RUNTIME_DIR/offsync/services,
// else /run/user/<uid>/offsync/services) of `<name>.service` files, like D-Bus activation files:
//
//   [Service]
//   Name=org.example.lms
//   Socket=/run/user/1000/org.example.lms.sock
//   Exec=/usr/bin/offsync serve --unix /run/user/1000/org.example.lms.sock --db /var/lib/lms/api.db --idle-exit 30
//
// When nothing listens on a registered service's socket, the IPC transport starts its Exec (split
// like a shell word list, never run through a shell), waits for the socket, and goes on.
//
// Thread safety: the functions are safe from any thread. A transport from make_ipc_transport is
// used by one thread at a time, like every Transport.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "offsync/status.h"
#include "offsync/transport.h"

namespace offsync {

// A registered provider.
struct IpcService {
  std::string name;
  std::string socket;              // absolute path of its Unix socket
  std::vector<std::string> exec;   // the command that starts it; empty: it cannot be started
};

// What an ipc-service value designates: a socket path, and the service when it was a name.
struct IpcAddress {
  std::string socket;
  std::optional<IpcService> service;
};

// The registry directory in use ($OFFSYNC_SERVICES_DIR, $XDG_RUNTIME_DIR/offsync/services, or
// /run/user/<uid>/offsync/services).
std::string default_services_dir();

// Reads `<dir>/<name>.service`. Errors name the file and what is wrong in it.
Result<IpcService> find_ipc_service(const std::string& name, const std::string& services_dir = "");

// Parses an ipc-service value: `unix:/absolute/path` or a service name (letters, digits, '.', '-',
// '_', starting with a letter), the latter resolved through the registry.
Result<IpcAddress> resolve_ipc_service(std::string_view value, const std::string& services_dir = "");

// The ipc-service parameter of a launch URI (`lms://lesson/3?ipc-service=unix%3A%2Frun%2Fx.sock`),
// percent-decoded; an error when it is missing, repeated or badly encoded.
Result<std::string> ipc_service_from_uri(std::string_view uri);

// Splits an Exec line like a shell word list: whitespace separates, '…' and "…" quote, '\' escapes;
// no expansion of any kind. An error for an unterminated quote.
Result<std::vector<std::string>> split_exec(std::string_view line);

struct IpcTransportOptions {
  std::string service;                // the ipc-service value
  std::string services_dir;           // empty: default_services_dir()
  int64_t activation_timeout_ms = 10'000;  // how long a started provider may take to listen
  long total_timeout_ms = 60'000;     // one exchange; past it, the outcome is unknown
};

// HTTP/1.1 over the service's Unix socket (libcurl), starting the provider from the registry when
// nothing listens. Fails at once when the address is malformed or the service is not registered.
Result<std::unique_ptr<Transport>> make_ipc_transport(const IpcTransportOptions& options);

}  // namespace offsync
