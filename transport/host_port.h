// "HOST:PORT" as the command line (`serve --listen`, `proxy --listen`) and the C ABI
// (`offsync_server_listen("tcp:HOST:PORT")`) take it: the host may be an IPv6 address in brackets,
// the port a number from 0 (any free one) to 65535.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "offsync/status.h"

namespace offsync {

// kInvalidArgument naming `what` (the option or argument it came from) and what is wrong.
Result<std::pair<std::string, uint16_t>> split_host_port(std::string_view text, std::string_view what);

}  // namespace offsync
