// `offsync proxy --ipc-service ADDR --listen HOST:PORT`: the embedded localhost proxy as a process.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace offsync::cli {

// Adds the subcommand; the returned function runs it when it was parsed (-1 otherwise).
std::function<int()> add_proxy_command(CLI::App& app);

}  // namespace offsync::cli
