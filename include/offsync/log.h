// offsync/log.h — where the library's messages go. offsync never writes to stdout or stderr by
// itself: every message goes to the LogSink the app sets (ClientOptions::log, ServerOptions::log),
// and nowhere when it sets none.
//
// Thread safety: the sink is called from the library's threads (the sync worker, a listener's
// request threads), possibly from several at once; it must be safe for that and must not block.
//
// Ownership: the options keep a copy of the sink (and what it captures) as long as the Client or
// Server lives.
#pragma once

#include <functional>
#include <string_view>

namespace offsync {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

std::string_view log_level_name(LogLevel level);

// component: "sync", "store", "server", ... ; message: one line, no trailing newline.
using LogSink = std::function<void(LogLevel level, std::string_view component, std::string_view message)>;

}  // namespace offsync
