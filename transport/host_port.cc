#include "transport/host_port.h"

#include <charconv>

namespace offsync {

Result<std::pair<std::string, uint16_t>> split_host_port(std::string_view text, std::string_view what) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return Status::invalid_argument(std::string(what) + " wants HOST:PORT, got '" + std::string(text) + "'");
  }
  std::string_view host = text.substr(0, colon), port = text.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned number = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || number > 65535) {
    return Status::invalid_argument(std::string(what) + ": '" + std::string(port) +
                                    "' is not a port number from 0 to 65535");
  }
  return std::make_pair(std::string(host), static_cast<uint16_t>(number));
}

}  // namespace offsync
