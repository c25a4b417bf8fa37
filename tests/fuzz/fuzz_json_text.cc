// libFuzzer target: json_text, differential against nlohmann. Both accept or both refuse (json_text
// also refuses nesting past its limit, and a NUL byte nlohmann takes for the end of its input), and what both accept reads as the same tree.
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "engine/common/json_text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  offsync::json_text::Document document(text);
  // nlohmann takes a NUL byte for the end of its input ("1\0garbage" is accepted); JSON has no NUL
  // outside strings and none unescaped inside them, so json_text refuses any text holding one.
  if (text.find('\0') != std::string_view::npos) {
    if (document.valid()) std::abort();
    return 0;
  }
  bool nlohmann_accepts = nlohmann::json::accept(text);
  if (document.valid()) {
    if (!nlohmann_accepts) std::abort();
    nlohmann::json theirs = nlohmann::json::parse(text);
    nlohmann::json ours = offsync::json_text::to_json(document.root());
    if (ours != theirs) std::abort();
    // Strings written back are written as nlohmann writes them.
    if (theirs.is_string() && offsync::json_text::quoted(theirs.get<std::string>()) != theirs.dump()) std::abort();
  } else if (document.problem().code != offsync::json_text::Problem::Code::kTooDeep && nlohmann_accepts) {
    std::abort();
  }
  return 0;
}
