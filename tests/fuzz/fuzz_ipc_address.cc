// libFuzzer target: what another app hands over when it launches this one: a launch URI's
// ipc-service, the address itself, and an Exec line from the registry. Refused with a reason or
// read, never a crash; a unix: address that resolves is always an absolute path.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "offsync/ipc.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  if (auto value = offsync::ipc_service_from_uri(text)) {
    // Names are looked up in a directory that does not exist: refused, never read elsewhere.
    auto address = offsync::resolve_ipc_service(*value, "/nonexistent/offsync-fuzz-services");
    if (address && (address->socket.empty() || address->socket[0] != '/')) std::abort();
  } else if (value.status().message().empty()) {
    std::abort();
  }
  auto direct = offsync::resolve_ipc_service(text, "/nonexistent/offsync-fuzz-services");
  if (direct && (direct->socket.empty() || direct->socket[0] != '/')) std::abort();
  if (auto words = offsync::split_exec(text)) {
    for (const auto& w : *words) {
      if (w.empty() && text.find("''") == std::string::npos && text.find("\"\"") == std::string::npos) std::abort();
    }
  }
  return 0;
}
