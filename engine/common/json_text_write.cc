// json_text: writing JSON strings, byte for byte as nlohmann's dump() writes them. The one place
// where the client's request bodies and the server's answers get their string quoting.
#include "engine/common/json_text.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>

namespace offsync::json_text {

void append_string(std::string& out, std::string_view s) {
  // Plain printable ASCII needs no escape and cannot be malformed UTF-8: the usual case of ids,
  // collections and HLCs. Anything else is written by nlohmann itself.
  bool plain = std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x80 && c != '"' && c != '\\';
  });
  if (!plain) {
    out += nlohmann::json(s).dump();
    return;
  }
  out += '"';
  out += s;
  out += '"';
}

std::string quoted(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  append_string(out, s);
  return out;
}

}  // namespace offsync::json_text
