// `offsync client ...`: the app's local store from the command line.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace offsync::cli {

// Adds the `client` subcommand to app. After app.parse(), the returned function runs the chosen
// client command and returns the process's exit code.
std::function<int()> add_client_command(CLI::App& app);

}  // namespace offsync::cli
