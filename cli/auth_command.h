// `offsync auth approve|register-client`: the authorization app's side of offline OAuth.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace offsync::cli {

// Adds the subcommand; the returned function runs it when it was parsed (-1 otherwise).
std::function<int()> add_auth_command(CLI::App& app);

}  // namespace offsync::cli
