// libFuzzer target: ULID parsing. Whatever parses prints back as the upper-case canonical text of
// the input, and parses again to the same value.
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "offsync/ulid.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto parsed = offsync::Ulid::parse(text);
  if (!parsed) {
    if (parsed.status().message().empty()) std::abort();
    return 0;
  }
  std::string canonical = parsed->to_string();
  if (canonical.size() != offsync::Ulid::kTextLength) std::abort();
  auto again = offsync::Ulid::parse(canonical);
  if (!again || *again != *parsed) std::abort();
  return 0;
}
