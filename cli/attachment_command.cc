#include "cli/attachment_command.h"

#include <cstdio>
#include <iostream>

#include "cli/output.h"
#include "cli/progress.h"

namespace offsync::cli {
namespace {

nlohmann::json to_json(const AttachmentInfo& i) {
  return {{"id", i.id},
          {"size", i.size},
          {"sha256", i.sha256},
          {"content_type", i.content_type},
          {"state", attachment_state_name(i.state)},
          {"local_bytes", i.local_bytes},
          {"sent_bytes", i.sent_bytes},
          {"last_error", i.last_error}};
}

}  // namespace

void add_attachment_commands(const std::function<CLI::App*(const char*, const char*)>& add,
                             const std::vector<CLI::App*>& writes, AttachmentArgs& a) {
  for (CLI::App* write : writes) {
    write->add_option("--attachment", a.ids, "An attachment id (from `attach`) the record refers to; repeatable");
    write->add_flag("--urgent", a.urgent, "Upload this write's attachments even on a metered network");
  }
  CLI::App* attach = add("attach", "Copy a file into the store as an attachment; prints its id");
  attach->add_option("file", a.file, "The file")->required();
  attach->add_option("--content-type", a.content_type, "Its media type")->capture_default_str();
  add("attachment", "Show an attachment: size, SHA-256, state, bytes here and on the server")
      ->add_option("id", a.id)
      ->required();
  CLI::App* download = add("download", "Fetch an attachment a record lists (resumable), verify it, optionally save it");
  download->add_option("id", a.id)->required();
  download->add_option("--out", a.out, "Write the verified bytes to this file");
}

WriteOptions write_options(const AttachmentArgs& a) { return WriteOptions{a.ids, a.urgent}; }

std::optional<int> run_attachment_command(const std::string& name, Client& client, const AttachmentArgs& a, bool json) {
  if (name == "attach") {
    auto id = client.add_attachment_file(a.file, a.content_type);
    if (!id) return fail(id.status());
    if (json) {
      std::cout << to_json(*client.attachment(*id)).dump() << "\n";
    } else {
      std::cout << *id << "\n";
    }
    return 0;
  }
  if (name == "attachment") {
    auto info = client.attachment(a.id);
    if (!info) return fail(info.status());
    if (json) {
      std::cout << to_json(*info).dump() << "\n";
    } else {
      std::cout << info->id << "\t" << attachment_state_name(info->state) << "\t" << info->size << " bytes\t"
                << info->content_type << "\tsha256 " << info->sha256 << "\n";
      if (!info->last_error.empty()) std::cout << "last error: " << info->last_error << "\n";
    }
    return 0;
  }
  if (name == "download") {
    auto progress = terminal_progress();
    if (progress) client.add_observer(progress);
    Status s = client.download_attachment(a.id);
    if (progress) progress->finish();
    if (!s) {
      (void)fail(s);
      return s.code() == StatusCode::kTransient ? 3 : 1;
    }
    if (!a.out.empty()) {
      if (Status saved = client.export_attachment(a.id, a.out); !saved) return fail(saved);
    }
    if (json) {
      std::cout << to_json(*client.attachment(a.id)).dump() << "\n";
    } else {
      std::cout << "downloaded " << a.id << (a.out.empty() ? "" : " to " + a.out) << "\n";
    }
    return 0;
  }
  return std::nullopt;
}

}  // namespace offsync::cli
