// `offsync client attach | attachment | download`: attachments from the command line.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "offsync/client.h"

namespace offsync::cli {

struct AttachmentArgs {
  std::vector<std::string> ids;  // put/patch --attachment
  bool urgent = false;           // put/patch --urgent
  std::string file, content_type = "application/octet-stream", out, id;
};

// Adds the attachment commands with `add` (which makes a client subcommand), and --attachment
// and --urgent to the write commands.
void add_attachment_commands(const std::function<CLI::App*(const char*, const char*)>& add,
                             const std::vector<CLI::App*>& writes, AttachmentArgs& a);
// Runs the command if `name` is one of the attachment commands.
std::optional<int> run_attachment_command(const std::string& name, Client& client, const AttachmentArgs& a, bool json);
// The write options of put and patch.
WriteOptions write_options(const AttachmentArgs& a);

}  // namespace offsync::cli
