// Progress of long work on a terminal: a sync's push and pull (a long drain, a full refresh) and
// attachment transfers, drawn on one line of stderr, only when stderr is a terminal.
#pragma once

#include <memory>
#include <mutex>
#include <ostream>

#include "offsync/client.h"

namespace offsync::cli {

class TerminalProgress final : public SyncObserver {
 public:
  explicit TerminalProgress(std::ostream& out) : out_(out) {}
  void on_progress(const SyncProgress& p) override;
  void on_attachment_progress(const AttachmentProgress& p) override;
  // Ends the line being drawn, if any (before the command prints its result).
  void finish();

 private:
  void draw(const std::string& line, bool complete);
  std::ostream& out_;
  std::mutex mu_;
  bool drawing_ = false;  // GUARDED_BY(mu_): a line is on the terminal without its newline
};

// An observer drawing on stderr when it is a terminal; null otherwise (pipes and files get no
// progress, only the result).
std::shared_ptr<TerminalProgress> terminal_progress();

}  // namespace offsync::cli
