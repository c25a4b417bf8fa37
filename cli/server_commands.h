// `offsync serve` and `offsync admin ...`: the server half from the command line.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace offsync::cli {

// Each adds its subcommand to app; after app.parse(), the returned function runs it if it was
// chosen (returning its exit code) or returns -1.
std::function<int()> add_serve_command(CLI::App& app);
std::function<int()> add_admin_command(CLI::App& app);

}  // namespace offsync::cli
