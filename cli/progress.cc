#include "cli/progress.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>

namespace offsync::cli {
namespace {

std::string mib(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", static_cast<double>(bytes) / (1 << 20));
  return text;
}

}  // namespace

void TerminalProgress::on_progress(const SyncProgress& p) {
  switch (p.step) {
    case SyncProgress::Step::kPush:
      draw("sending: " + std::to_string(p.done) + (p.total >= 0 ? " of " + std::to_string(p.total) : "") +
               " mutations",
           false);
      break;
    case SyncProgress::Step::kPull:
      draw("pulling: " + std::to_string(p.done) + " changes", false);
      break;
    case SyncProgress::Step::kRefresh:
      draw("full refresh (the cursor expired): " + std::to_string(p.done) + " records read", false);
      break;
  }
}

void TerminalProgress::on_attachment_progress(const AttachmentProgress& p) {
  draw(std::string(p.upload ? "uploading " : "downloading ") + p.id + ": " + mib(p.done) + " of " + mib(p.total) +
           " MiB",
       p.complete);
}

void TerminalProgress::draw(const std::string& line, bool complete) {
  std::lock_guard<std::mutex> lock(mu_);
  out_ << "\r" << line << "\033[K" << (complete ? "\n" : "") << std::flush;
  drawing_ = !complete;
}

void TerminalProgress::finish() {
  std::lock_guard<std::mutex> lock(mu_);
  if (drawing_) out_ << "\n" << std::flush;
  drawing_ = false;
}

std::shared_ptr<TerminalProgress> terminal_progress() {
  if (!::isatty(STDERR_FILENO)) return nullptr;
  return std::make_shared<TerminalProgress>(std::cerr);
}

}  // namespace offsync::cli
