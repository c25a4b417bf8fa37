// The `offsync` command: docs/protocol.md's fixed core, extended.
#include <utility>  // before any Boost header (docs/architecture.md, "Known pitfalls")

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>

#include "cli/client_command.h"
#include "cli/auth_command.h"
#include "cli/demo.h"
#include "cli/proxy_command.h"
#include "cli/server_commands.h"

int main(int argc, char** argv) {
  CLI::App app("offsync: an offline-first sync engine", "offsync");
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Every subcommand's help");
  app.set_version_flag("--version", std::string("offsync ") + OFFSYNC_VERSION);
  // One line naming what was wrong, as docs/protocol.md asks of every subcommand.
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return std::string("offsync: ") + e.what() + " (see --help)\n";
  });

  auto run_client = offsync::cli::add_client_command(app);
  auto run_serve = offsync::cli::add_serve_command(app);
  auto run_admin = offsync::cli::add_admin_command(app);
  auto run_proxy = offsync::cli::add_proxy_command(app);
  auto run_auth = offsync::cli::add_auth_command(app);

  std::string demo_dir = (std::filesystem::temp_directory_path() / "offsync-demo").string();
  CLI::App* demo = app.add_subcommand("demo", "The whole story on the embedded defaults: IPC provider on demand, offline writes, a cut upload, a conflict, evidence");
  demo->add_option("--dir", demo_dir, "Where the demo's stores live (made anew)");
  bool demo_json = false;
  demo->add_flag("--json", demo_json, "The story on stderr, the evidence as one JSON object on stdout");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (demo->parsed()) return offsync::cli::run_demo(demo_dir, demo_json);
  for (const auto& run : {run_serve, run_admin, run_proxy, run_auth}) {
    if (int rc = run(); rc >= 0) return rc;
  }
  return run_client();
}
